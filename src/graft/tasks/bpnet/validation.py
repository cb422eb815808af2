"""Keypoint AP at the end of training epochs: what picks the best bpnet model.

Exactly ``graft bpnet evaluate``'s number on the validation split (the dataset spec's test
data): every image of its annotation file through :class:`PoseEstimator` at the training input
size and the COCO keypoint AP of the people found. Each DDP rank decodes its share of the
images (every ``world_size``-th); the predictions are gathered and every rank scores them all.
Decoding takes a while on a CPU, so it runs every ``trainer.evaluation_interval`` epochs
(default 5) and after the last one; the validation loss is still logged every epoch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L

from graft.engine.evaluation import EpochEvaluation, Monitor
from graft.manifest import Manifest
from graft.tasks.bpnet.pose_config import PoseConfig
from graft.tasks.bpnet.spec import InferenceSpec

DEFAULT_INTERVAL = 5
PREFIX = "val/"


@dataclass
class _Network:
    """The training network as :class:`PoseEstimator` takes a model: module and manifest."""

    module: Any
    manifest: Manifest


@dataclass
class KeypointEvaluation(EpochEvaluation):
    """``val/AP`` (and the other nine COCO keypoint numbers) of the network being trained."""

    annotation_file: Path
    image_dir: Path
    pose: PoseConfig  # the validation data's (its source_joints say what is scored)
    manifest: Manifest  # what model.graft will say: pose config, stride, normalization
    inference: InferenceSpec
    every_n_epochs: int = DEFAULT_INTERVAL
    monitor: Monitor = field(default=Monitor(PREFIX + "AP", "max"))

    def __post_init__(self) -> None:
        self._gt: dict[str, Any] | None = None

    @property
    def ground_truth(self) -> dict[str, Any]:
        if self._gt is None:
            self._gt = json.loads(self.annotation_file.read_text(encoding="utf-8"))
        return self._gt

    def local_state(self, module: L.LightningModule, rank: int, world_size: int
                    ) -> list[dict[str, Any]]:
        from graft.tasks.bpnet.evaluate import predict_people
        from graft.tasks.bpnet.inference import PoseEstimator

        net = module.net
        param = next(net.parameters())
        stage = getattr(net, "output_stage", None)
        try:  # on the device the network trains on: nothing moves
            estimator = PoseEstimator(_Network(net, self.manifest), self.inference, param.device)
            images = list(self.ground_truth.get("images", []))[rank::world_size]
            return predict_people(estimator, self.image_dir, images)
        finally:
            if hasattr(net, "output_stage"):
                net.output_stage = stage  # the estimator sets the inference spec's stage

    def reduce(self, states: list[list[dict[str, Any]]]) -> dict[str, float]:
        from graft.tasks.bpnet.metrics import coco_keypoint_ap

        predictions = [p for part in states for p in part]
        ids = [int(i["id"]) for i in self.ground_truth.get("images", [])]
        metrics = coco_keypoint_ap(self.ground_truth, predictions, self.pose, image_ids=ids)
        return {PREFIX + name: float(value) for name, value in metrics.items()}
