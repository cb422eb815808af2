"""The pipeline over real graft model files: a tiny DetectNet_v2 (.graft) as the hand detector
and a tiny classification model (.graft and its ONNX export) as the gesture classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from graft import archive, tasks
from graft.api import GraftModel
from graft.app.margin import CropRule
from graft.app.models import ModelClassifier, ModelDetector
from graft.app.pipeline import GesturePipeline
from graft.data.preprocess import normalization_for
from graft.errors import UserError
from graft.nn.backbones import classifier_name
from graft.optimize.export import ExportOptions, export_onnx
from graft.spec import load_spec
from graft.tasks.classification.model import build_network as build_classifier
from graft.tasks.classification.spec import ClassificationSpec
from graft.tasks.classification.train import manifest_for as classifier_manifest
from graft.tasks.detectnet_v2.spec import DetectNetSpec
from graft.tasks.detectnet_v2.train import build_network, manifest_for
from tests.app.conftest import write_video
from tests.conftest import classification_spec_dict
from tests.tasks.detectnet_v2.conftest import make_kitti, write_spec

GESTURES = ["fist", "ok", "stop"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("app_models")
    make_kitti(root, images=2)
    spec = load_spec(write_spec(root), DetectNetSpec)
    net, arch = build_network(spec)
    with torch.no_grad():  # a detector that sees one "car" (our hand) filling the frame
        net.output_cov.bias[0] = 8.0
        net.output_bbox.bias[:4] = 3.0
    GraftModel(net, manifest_for(spec, arch, {})).save(root / "hands.graft")

    cspec = ClassificationSpec.model_validate(classification_spec_dict(root))
    cnet, carch = build_classifier(cspec.model, GESTURES)
    with torch.no_grad():  # leaning to "ok", but the image still matters
        getattr(cnet, classifier_name(carch["arch"])).bias[:] = torch.tensor([0.0, 3.0, 0.0])
    manifest = classifier_manifest(cspec, carch, GESTURES, normalization_for("torch"), {})
    manifest = manifest.updated(input={**manifest.input.to_dict(),
                                       "crop": {"ratio": 1.3, "square": False}})
    archive.save(root / "gesture.graft", cnet.state_dict(), manifest)
    export_onnx(cnet.eval(), manifest, root / "gesture.onnx",
                ExportOptions(exporter="torchscript"), task=tasks.get("classification"))
    return {"detector": root / "hands.graft", "graft": root / "gesture.graft",
            "onnx": root / "gesture.onnx", "root": root}


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
