"""``graft demo`` end to end at toy sizes: every workflow runs and reports real numbers."""

import json

import pytest

from graft.cli import main
from graft.demo import parse_workflows
from graft.errors import UserError

pytestmark = pytest.mark.slow


def test_workflow_selection():
    assert parse_workflows("pose") == ["pose"]
    assert parse_workflows("optimize") == ["classification", "optimize"]
    assert parse_workflows("pose, classification") == ["classification", "pose"]
    assert parse_workflows("pose_optimize") == ["pose", "pose_optimize"]
    with pytest.raises(UserError, match="detect"):
        parse_workflows("detect")


def test_demo_runs_every_workflow_and_writes_the_summary(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "-o", str(out), "--epochs", "1", "--per-class", "8", "--size", "32",
            "--retrain-epochs", "1", "--pose-images", "10", "--pose-epochs", "1",
            "--pose-retrain-epochs", "1", "--workflows",
            "classification,optimize,pose,pose_optimize"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    steps = [(r["workflow"], r["step"]) for r in summary["rows"]]
    assert steps == [("classification", "train (PyTorch)"),
                     ("optimize", "prune + retrain (PyTorch)"),
                     ("optimize", "ONNX FP32 (onnxruntime)"),
                     ("optimize", "ONNX INT8 (onnxruntime)"),
                     ("pose", "train (PyTorch)"),
                     ("pose_optimize", "prune + retrain (PyTorch)"),
                     ("pose_optimize", "ONNX FP32 (onnxruntime)"),
                     ("pose_optimize", "ONNX INT8 (onnxruntime)")]
    for row in summary["rows"]:
        assert 0.0 <= row["value"] <= 1.0 and row["params"] > 0
    assert (out / "classification" / "eval" / "evaluation.json").is_file()
    assert (out / "optimize" / "model.int8.onnx").is_file()
    assert (out / "pose" / "eval" / "results.json").is_file()
    assert list((out / "pose" / "infer" / "images").glob("*.png"))
    params = {(r["workflow"], r["step"]): r["params"] for r in summary["rows"]}
    for base, optimized in (("classification", "optimize"), ("pose", "pose_optimize")):
        # the demo raises its prune threshold until at least half of the parameters go
        assert params[optimized, "prune + retrain (PyTorch)"] <= 0.5 * params[base,
                                                                              "train (PyTorch)"]
    assert json.loads((out / "pose_optimize" / "eval_int8" / "results.json").read_text())
    assert "graft demo summary" in capsys.readouterr().out

    # the same command again reuses the finished runs instead of training again
    assert main(args) == 0
    again = json.loads((out / "summary.json").read_text())
    assert [r["value"] for r in again["rows"]] == [r["value"] for r in summary["rows"]]
