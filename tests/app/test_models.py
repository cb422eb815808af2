"""The pipeline over real graft model files: a tiny DetectNet_v2 (.graft) as the hand detector
and a tiny classification model (.graft and its ONNX export) as the gesture classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graft.app.margin import CropRule
from graft.app.models import ModelClassifier, ModelDetector
from graft.app.pipeline import GesturePipeline
from graft.errors import UserError
from tests.app.conftest import GESTURES, write_video


def test_pipeline_over_model_files(models, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "clip.mp4", 6, height=64, width=80)
    p = GesturePipeline.from_files(models["detector"], models["graft"], hand_classes=["car"],
                                   threshold=0.1, detector_device="cpu",
                                   classifier_device="cpu", detect_batch=4)
    assert p.crop == CropRule("ratio", 1.3, square=False)  # the rule the model file records
    summary = p.run(clip, tmp_path / "out")
    recs = [json.loads(x) for x in (tmp_path / "out" / "frames.jsonl").read_text().splitlines()]
    assert len(recs) == 6 and summary["backends"] == {"detector": "pytorch",
                                                      "classifier": "pytorch"}
    for rec in recs:
        (hand,) = rec["hands"]
        assert hand["box"][0] <= 1 and hand["box"][2] >= 79  # the whole 80x64 frame
        assert hand["crop"] == [0, 0, 80, 64]
        assert hand["gesture"] == "ok" and set(hand["probs"]) == set(GESTURES)
        assert sum(hand["probs"].values()) == pytest.approx(1, abs=1e-3)


def test_onnx_classifier_matches_the_graft_one(models) -> None:
    crops = [np.random.default_rng(i).integers(0, 255, (40 + 9 * i, 50, 3), dtype=np.uint8)
             for i in range(3)]
    a = ModelClassifier.load(models["graft"], device="cpu")
    b = ModelClassifier.load(models["onnx"], device="cpu", batch_size=2)
    assert b.backend == "onnx" and b.classes == GESTURES
    pa, pb = a.probs(crops), b.probs(crops)
    assert pa.shape == (3, 3) and np.allclose(pa, pb, atol=1e-4)
    assert not np.allclose(pa[0], pa[1])  # the crops' content matters
    assert b.model_input["crop"] == {"ratio": 1.3, "square": False}


def test_detector_class_filter(models) -> None:
    with pytest.raises(UserError, match="no class 'hand'"):
        ModelDetector.load(models["detector"], classes=["hand"], device="cpu")
    det = ModelDetector.load(models["detector"], classes=["person"], device="cpu")
    ((boxes, scores),) = det.detect([np.zeros((64, 80, 3), np.uint8)])
    assert len(boxes) == len(scores) == 0  # only "car" fires
