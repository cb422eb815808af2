"""``graft app evaluate``: the app's boxes paired with true hands, gesture accuracy, detection
recall/precision and the confusion matrix, on hand-made frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from graft.app.evaluate import evaluate_app, evaluate_files, pair_boxes, read_jsonl
from graft.errors import UserError

TRUTH = {0: {"hands": [{"hand_id": 0, "gesture": "fist", "box": [10, 10, 40, 50]},
                       {"hand_id": 1, "gesture": "ok", "box": [100, 20, 130, 70]}]},
         1: {"hands": [{"hand_id": 0, "gesture": "stop", "box": [12, 10, 42, 50]},
                       {"hand_id": 1, "gesture": "ok", "box": [98, 22, 128, 72]}]}}


def app_frames(gestures: dict[tuple[int, int], str | None], shift: float = 1.5) -> dict:
    """The app's records for TRUTH, boxes moved by ``shift`` px, with the given gestures."""
    out = {}
    for frame, rec in TRUTH.items():
        out[frame] = {"hands": [{"box": [v + shift for v in h["box"]], "score": 0.9,
                                 "track_id": k, "gesture": gestures[frame, k]}
                                for k, h in enumerate(rec["hands"])][::-1]}  # other order
    return out


RIGHT = {(0, 0): "fist", (0, 1): "ok", (1, 0): "stop", (1, 1): "ok"}


def _cell(result, true, predicted) -> int:
    labels = result["labels"]
    return result["confusion_matrix"][labels.index(true)][labels.index(predicted)]


def test_right_gestures_score_one():
    r = evaluate_app(app_frames(RIGHT), TRUTH)
    m = r["metrics"]
    assert m["gesture_accuracy"] == m["end_to_end_accuracy"] == 1.0
    assert m["recall"] == m["precision"] == 1.0 and m["matched"] == 4
    cm = np.array(r["confusion_matrix"])
    assert cm.sum() == 4 and np.trace(cm) == 4
    assert _cell(r, "ok", "ok") == 2 and r["labels"][-1] == "background"


def test_a_wrong_gesture_is_counted_where_it_belongs():
    wrong = {**RIGHT, (1, 0): "two"}
    r = evaluate_app(app_frames(wrong), TRUTH)
    assert r["metrics"]["gesture_accuracy"] == pytest.approx(0.75)
    assert r["metrics"]["recall"] == 1.0  # found, named wrong
    assert _cell(r, "stop", "two") == 1 and _cell(r, "stop", "stop") == 0
    report = {c["class"]: c for c in r["per_class"]}
    assert report["stop"]["recall"] == 0.0 and report["two"]["precision"] == 0.0


def test_misses_stray_boxes_and_unlabelled_hands():
    pred = app_frames({**RIGHT, (0, 1): None})
    pred[1]["hands"] = [h for h in pred[1]["hands"] if h["track_id"] == 1]  # stop hand missed
    pred[1]["hands"].append({"box": [200, 100, 230, 150], "score": 0.5, "gesture": "fist"})
    r = evaluate_app(pred, TRUTH)
    m = r["metrics"]
    assert (m["true_hands"], m["boxes"], m["matched"], m["correct"]) == (4, 4, 3, 2)
    assert m["unlabelled"] == 1 and m["gesture_accuracy"] == pytest.approx(2 / 3)
    assert m["end_to_end_accuracy"] == 0.5 and m["recall"] == m["precision"] == 0.75
    assert _cell(r, "ok", "background") == 1  # unlabelled
    assert _cell(r, "stop", "background") == 1  # missed
    assert _cell(r, "background", "fist") == 1  # stray box


def test_boxes_under_the_iou_are_misses():
    r = evaluate_app(app_frames(RIGHT, shift=9.0), TRUTH, iou=0.5)
    assert r["metrics"]["matched"] == 0 and r["metrics"]["gesture_accuracy"] == 0.0
    assert evaluate_app(app_frames(RIGHT, shift=9.0), TRUTH, iou=0.3)["metrics"][
        "matched"] == 4


def test_pairing_maximizes_total_overlap():
    """Greedy (best IoU first) would give B to P1 (0.82) and leave A without a box (0.29)."""
    truth = np.array([[0, 0, 10, 10], [4, 0, 14, 10]], float)
    pred = np.array([[3, 0, 13, 10], [6, 0, 14, 10]], float)
    assert sorted(pair_boxes(truth, pred, 0.5)) == [(0, 0), (1, 1)]


def test_frames_only_in_the_predictions_are_refused():
    pred = app_frames(RIGHT)
    pred[7] = {"hands": []}
    with pytest.raises(UserError, match="frame 7"):
        evaluate_app(pred, TRUTH)
    r = evaluate_app({0: pred[0]}, TRUTH)
    assert r["metrics"]["frames"] == 1 and r["frames_unscored"] == 1


def _jsonl(path, records):
    path.write_text("".join(json.dumps({"frame": f, **r}) + "\n" for f, r in records.items()))
    return path


def test_files_and_command(tmp_path):
    from graft.app.cli import app

    wrong = {**RIGHT, (0, 0): "thumbs_up"}
    pred = _jsonl(tmp_path / "frames.jsonl", app_frames(wrong))
    truth = _jsonl(tmp_path / "truth.jsonl", TRUTH)
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["evaluate", "--pred", str(pred), "--truth", str(truth),
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["metrics"]["gesture_accuracy"] == pytest.approx(0.75)
    rows = (out / "confusion_matrix.csv").read_text().splitlines()
    fist = rows[1 + saved["labels"].index("fist")].split(",")
    assert fist[0] == "fist" and int(fist[1 + saved["labels"].index("thumbs_up")]) == 1
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "per_class.csv").exists()
    assert evaluate_files(pred, truth, None)["metrics"] == saved["metrics"]


def test_bad_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"frame": 0, "hands": []}\nnot json\n')
    with pytest.raises(UserError, match="line 2"):
        read_jsonl(bad, "truth file")
    with pytest.raises(UserError, match="does not exist"):
        read_jsonl(tmp_path / "none.jsonl", "prediction file")
