"""``graft gesturenet train``: classification's engine, network, module and top-k evaluation
on hand crops, with class-weighted cross-entropy; the model file records the crop rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from graft.engine.driver import Launch, TrainOptions, TrainParts, TrainSummary, run_training
from graft.manifest import Manifest, Normalization
from graft.spec import load_spec
from graft.tasks.classification.module import ClassificationModule
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
class GestureTraining:
    spec: GestureSpec
    task: str = TASK_NAME

    def build(self, key: str | None) -> TrainParts:
        from graft.data.preprocess import normalization_for
        from graft.tasks.classification.model import build_network
        from graft.tasks.classification.module import TopKEvaluation
        from graft.tasks.gesturenet.data import GestureData, class_weights

        spec = self.spec
        data = GestureData(spec.data, spec.model.input_size)
        net, arch = build_network(spec.model, data.classes, key)
        if spec.model.enable_qat:
            from graft.optimize.quantize import prepare_qat

            net = prepare_qat(net)
            arch["qat"] = True
        normalization = normalization_for(spec.data.preprocess_mode)
        weights = class_weights(data.train_labels, spec.data.class_weights)
        validates = data.val_set is not None
        evaluation = (TopKEvaluation(len(data.val_set), spec.eval.top_k,
                                     spec.trainer.evaluation_interval or 1)
                      if data.val_set is not None else None)
        return TrainParts(
            module=GestureModule(net, spec, normalization, weights), data=data,
            validates=validates, monitor=TopKEvaluation.monitor, evaluation=evaluation,
            manifest=lambda metrics: gesture_manifest(spec, arch, data.classes, normalization,
                                                      metrics))


def train(spec_file: str | Path | None, results_dir: str | Path, *, key: str | None = None,
          gpus: int = 1, num_nodes: int = 1, overrides: list[str] | None = None,
          accelerator: str = "auto", force: bool = False, progress: bool = True,
          spec: GestureSpec | None = None) -> TrainSummary:
    """Train (or resume) and write ``RESULTS_DIR/model.graft``."""
    spec = spec or load_spec(spec_file, GestureSpec, overrides)
    launch = Launch(accelerator=accelerator, gpus=gpus, num_nodes=num_nodes, progress=progress)
    return run_training(GestureTraining(spec), results_dir,
                        TrainOptions(key=key, force=force, launch=launch))
