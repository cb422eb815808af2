"""Keypoint AP at the end of training epochs: the ranks' shares reduce to the AP of all the
images, and a training run picks, records and reports the same AP ``graft bpnet evaluate``
gives its model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from graft.api import load
from graft.cli import main
from graft.engine.evaluation import Monitor
from graft.manifest import Manifest
from graft.tasks.bpnet.evaluate import evaluate
from graft.tasks.bpnet.metrics import coco_keypoint_ap
from graft.tasks.bpnet.module import train
from graft.tasks.bpnet.pose_config import PoseConfig
from graft.tasks.bpnet.spec import InferenceSpec
from graft.tasks.bpnet.validation import KeypointEvaluation

from .test_metrics import COCO_FILE, perfect_predictions


def test_the_ranks_shares_reduce_to_the_ap_of_every_image() -> None:
    pose = PoseConfig()
    gt = json.loads(COCO_FILE.read_text())
    predictions = perfect_predictions(gt, pose, shift=3.0)
    evaluation = KeypointEvaluation(COCO_FILE, COCO_FILE.parent, pose, Manifest(),
                                    InferenceSpec())
    ids = [int(i["id"]) for i in gt["images"]]
    shares = [[p for p in predictions if ids.index(p["image_id"]) % 2 == rank]
              for rank in (0, 1)]  # what local_state gives ranks 0 and 1: every 2nd image
    assert all(shares)
    whole = coco_keypoint_ap(gt, predictions, pose, image_ids=ids)
    assert 0.0 < whole["AP"] < 1.0
    assert evaluation.reduce(shares) == {f"val/{k}": pytest.approx(v) for k, v in whole.items()}
    assert evaluation.monitor == Monitor("val/AP", "max")


@pytest.mark.slow
def test_training_picks_and_records_the_ap_evaluate_reports(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert main(["synth", "pose", "-o", str(data), "--images", "8", "--size", "64x64",
                 "--max_persons", "1", "--seed", "2"]) == 0
    spec = {
        "trainer": {"epochs": 2, "precision": "32", "channels_last": False, "seed": 4,
                    "evaluation_interval": 1},
        "dataloader": {"batch_size": 4, "workers": 0,
                       "image_config": {"image_dims": {"height": 64, "width": 64}},
                       "dataset_config": {"dataset_spec": str(data / "dataset_spec.json")}},
        "model": {"backbone": "mobilenet_v2", "stages": 2},
        "optimizer": {"name": "adam"},
        "lr_schedule": {"name": "constant", "learning_rate": 1e-3},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(spec))
    summary = train(tmp_path / "train.yaml", tmp_path / "r", accelerator="cpu", progress=False)
    assert summary.monitor == "val/AP"
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text()
            .splitlines()]
    scores = [r["val/AP"] for r in rows if r["phase"] == "val"]
    assert len(scores) == 2 and all("val/loss" in r for r in rows if r["phase"] == "val")
    assert summary.best_score == pytest.approx(max(scores))
    model = load(tmp_path / "r" / "model.graft")
    m = model.manifest
    assert m.metrics["val/AP"] == pytest.approx(summary.best_score)
    assert "val/AP50" in m.metrics and "val/loss" in m.metrics
    assert (m.provenance.selected_by.monitor, m.provenance.selected_by.mode) == ("val/AP", "max")
    result = evaluate(InferenceSpec(input_shape=(64, 64)), model, data / "dataset_spec.json",
                      device="cpu", progress=False)
    assert result["metrics"]["AP"] == pytest.approx(summary.best_score, abs=1e-9)
