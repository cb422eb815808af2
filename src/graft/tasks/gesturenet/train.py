"""``graft gesturenet train``: classification's engine, network, module and top-k evaluation
on hand crops, with class-weighted cross-entropy; the model file records the crop rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from graft.engine.driver import Launch, TrainOptions, TrainSummary, run_training
from graft.manifest import Manifest, Normalization
from graft.spec import load_spec
from graft.tasks.classification.module import ClassificationModule
from graft.tasks.classification.train import ClassificationTraining
from graft.tasks.gesturenet.spec import GestureSpec

TASK_NAME = "gesturenet"


class GestureModule(ClassificationModule):
    """Classification's module with per-class loss weights (the 'random' class is large)."""

    def __init__(self, net: nn.Module, spec: GestureSpec, normalization: Normalization,
                 weights: torch.Tensor) -> None:
        super().__init__(net, spec, normalization)  # type: ignore[arg-type]  # same sections
        self.register_buffer("class_weights", weights.float(), persistent=False)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
                      ) -> torch.Tensor:
        images, target = batch
        logits = self(images)
        loss = F.cross_entropy(logits, target, weight=self.class_weights,
                               label_smoothing=self.label_smoothing)
        acc = (logits.argmax(1) == target).float().mean()
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        self.log("train/acc", acc, prog_bar=True, on_step=False, on_epoch=True, sync_dist=True)
        return loss


def gesture_manifest(spec: GestureSpec, arch: dict[str, Any], classes: list[str],
                     normalization: Normalization, metrics: dict[str, Any]) -> Manifest:
    """Classification's manifest, as this task, with ``input.crop`` (the rule the app uses)."""
    from graft.tasks.classification.train import manifest_for

    base = manifest_for(spec, arch, classes, normalization, metrics)  # type: ignore[arg-type]
    crop = {"ratio": spec.data.crop.ratio, "square": spec.data.crop.square, "border": "zeros"}
    assert base.input is not None
    return base.updated(task=TASK_NAME, input={**base.input.to_dict(), "crop": crop})


@dataclass
class GestureTraining(ClassificationTraining):
    """Classification's training side with hand crops, class weights and the crop rule."""

    spec: GestureSpec  # type: ignore[assignment]  # classification's sections, plus the crop
    task: str = TASK_NAME

    def load_data(self) -> Any:
        from graft.tasks.gesturenet.data import GestureData

        return GestureData(self.spec.data, self.spec.model.input_size)

    def module(self, net: Any, data: Any, normalization: Normalization) -> Any:
        from graft.tasks.gesturenet.data import class_weights

        weights = class_weights(data.train_labels, self.spec.data.class_weights)
        return GestureModule(net, self.spec, normalization, weights)

    def manifest(self, arch: dict[str, Any], classes: list[str], normalization: Normalization,
                 metrics: dict[str, Any]) -> Manifest:
        return gesture_manifest(self.spec, arch, classes, normalization, metrics)


def train(spec_file: str | Path | None, results_dir: str | Path, *, key: str | None = None,
          gpus: int = 1, num_nodes: int = 1, overrides: list[str] | None = None,
          accelerator: str = "auto", force: bool = False, progress: bool = True,
          spec: GestureSpec | None = None) -> TrainSummary:
    """Train (or resume) and write ``RESULTS_DIR/model.graft``."""
    spec = spec or load_spec(spec_file, GestureSpec, overrides)
    launch = Launch(accelerator=accelerator, gpus=gpus, num_nodes=num_nodes, progress=progress)
    return run_training(GestureTraining(spec), results_dir,
                        TrainOptions(key=key, force=force, launch=launch))
