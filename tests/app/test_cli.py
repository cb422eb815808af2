"""``graft app gesture -e APP.yaml``: a run from a spec with relative paths, overrides, and
one-line errors for bad specs."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from graft.cli import main
from tests.app.conftest import write_video


def write_app(root: Path, models: dict[str, Path], **extra) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_video(root / "clip.mp4", 5, height=64, width=80)
    spec = {"source": "clip.mp4",
            "detector": {"model": str(models["detector"]), "classes": ["car"],
                         "threshold": 0.1, "device": "cpu"},
            "classifier": {"model": str(models["onnx"]), "device": "cpu"},
            "output": {"dir": "out"}, "crop": {"min_size": 4}, **extra}
    path = root / "app.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_gesture_app_runs_from_a_spec(models, tmp_path: Path, monkeypatch, capsys) -> None:
    spec = write_app(tmp_path / "cfg", models, smoothing={"classify_every": 2})
    monkeypatch.chdir(tmp_path)  # paths in the spec are relative to its folder, not here
    assert main(["app", "gesture", "-e", str(spec)]) == 0
    out = tmp_path / "cfg" / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processed"] == 5 and summary["stopped"] == "end of source"
    assert summary["crop"] == {"mode": "ratio", "value": 1.3, "square": False,
                               "border": "zeros", "min_size": 4}
    assert summary["backends"]["classifier"] == "onnx"
    assert len((out / "frames.jsonl").read_text().splitlines()) == 5
    assert (out / "annotated.mp4").stat().st_size > 0
    assert "5 frames (end of source)" in capsys.readouterr().out


def test_overrides_and_stride(models, tmp_path: Path) -> None:
    spec = write_app(tmp_path, models)
    assert main(["app", "gesture", "-e", str(spec), "--set", "crop.mode=pixels",
                 "--set", "crop.value=10", "--set", "source_options.stride=2",
                 "--set", "output.video=false"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["crop"]["mode"] == "pixels" and summary["crop"]["value"] == 10
    assert summary["processed"] == 3 and summary["skipped"] == 2
    assert not (tmp_path / "out" / "annotated.mp4").exists()


def test_bad_specs_fail_in_one_line(models, tmp_path: Path, capsys) -> None:
    spec = write_app(tmp_path, models, tracker={"kind": "klt"})
    assert main(["app", "gesture", "-e", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "tracker" in err and "Traceback" not in err
    spec = write_app(tmp_path, models)
    assert main(["app", "gesture", "-e", str(spec), "--set", "source=nothing.mp4"]) == 2
    assert "not a camera index" in capsys.readouterr().err
    assert main(["app", "gesture", "-e", str(spec), "--set",
                 "classifier.model=missing.onnx"]) == 2
    assert not (tmp_path / "out").exists()


def test_a_truth_file_scores_the_run(models, tmp_path: Path, capsys) -> None:
    """The detector sees one hand filling each 80x64 frame: a truth of that hand as "ok" in
    frames 0-2 and "fist" in 3-4 scores the app's gestures frame by frame."""
    truth = tmp_path / "truth.jsonl"
    truth.write_text("".join(json.dumps({"frame": i, "hands": [
        {"hand_id": 0, "gesture": "ok" if i < 3 else "fist", "box": [0, 0, 80, 64]}]}) + "\n"
        for i in range(5)))
    spec = write_app(tmp_path, models, truth="truth.jsonl")
    assert main(["app", "gesture", "-e", str(spec)]) == 0
    said = [r["hands"][0]["gesture"] if r["hands"] else None for r in
            map(json.loads, (tmp_path / "out" / "frames.jsonl").read_text().splitlines())]
    expected = sum(g == t for g, t in zip(said, ["ok"] * 3 + ["fist"] * 2, strict=True))
    m = json.loads((tmp_path / "out" / "evaluation" / "metrics.json").read_text())["metrics"]
    assert m["frames"] == 5 and m["true_hands"] == 5
    assert m["correct"] == expected and m["matched"] == sum(g is not None for g in said)
    assert "gesture accuracy" in capsys.readouterr().out
    (tmp_path / "truth.jsonl").unlink()
    assert main(["app", "gesture", "-e", str(spec)]) == 2
