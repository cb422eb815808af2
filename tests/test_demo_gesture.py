"""``graft demo --workflows gesture`` at toy size: every stage runs and writes its files, and
the summary rows hold the stages' real numbers."""

from __future__ import annotations

import json

import pytest

from graft.cli import main
from graft.demo import DEFAULT_WORKFLOWS, parse_workflows

pytestmark = pytest.mark.slow


def test_gesture_is_a_workflow_outside_the_default_set():
    assert parse_workflows("gesture") == ["gesture"]
    assert "gesture" not in DEFAULT_WORKFLOWS


def test_gesture_demo_at_toy_size(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative -o, as `make demo` passes (paths resolved once)
    out = tmp_path / "runs"
    assert main(["demo", "-o", "runs", "--workflows", "gesture", "--gesture-frames", "16",
                 "--gesture-det-epochs", "1", "--gesture-epochs", "1",
                 "--gesture-clip-frames", "6", "--gesture-input", "32"]) == 0
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [(r["step"], r["metric"]) for r in rows] == [
        ("hand detector (val users)", "mAP50"), ("GestureNet (unseen user07)", "top-1"),
        ("app on the clip (end to end)", "FPS"),
        ("app per-frame gestures (hands found)", "accuracy")]
    assert all(0 <= r["value"] <= 1 for r in rows if r["metric"] != "FPS")
    work = out / "gesture"
    app = json.loads((work / "app" / "summary.json").read_text())
    assert app["processed"] == 6 and rows[2]["value"] == pytest.approx(app["fps"])
    assert len((work / "app" / "frames.jsonl").read_text().splitlines()) == 6
    assert (work / "app" / "annotated.mp4").stat().st_size > 0
    assert (work / "app" / "stages.csv").read_text().startswith("stage,")
    evaluation = json.loads((work / "app_eval" / "metrics.json").read_text())
    assert evaluation["metrics"]["frames"] == 6
    assert rows[3]["value"] == evaluation["metrics"]["gesture_accuracy"]
    truth_hands = sum(len(json.loads(line)["hands"]) for line in
                      (out / "data/hands/clips/clip_000.jsonl").read_text().splitlines())
    assert evaluation["metrics"]["true_hands"] == truth_hands
    gn = json.loads((work / "gesturenet_eval" / "evaluation.json").read_text())
    assert gn["users"] == ["user07"] and rows[1]["value"] == gn["top1_accuracy"]
    assert (work / "app_eval" / "confusion_matrix.png").is_file()
