"""The DetectNet_v2 Lightning module: TLT's cost with autoweighting, and validation by mAP.

Training: targets are rasterized on the accelerator for each batch
(:class:`~graft.tasks.detectnet_v2.encoder.TargetEncoder`), each image's loss mask is scaled by
its source's ``source_weight``, and :class:`~graft.tasks.detectnet_v2.loss.DetectNetCost` gives
the loss; its per-epoch autoweighting runs at each training epoch's end (summed over DDP ranks).

Validation: the production decoder and evaluator, as ``graft detectnet_v2 evaluate`` runs them:
detections are scaled back to the original image pixels and scored against the original
labels with ``evaluation_config``'s per-class IoU, size filters and AP mode. The module logs
``val/mAP`` (the monitored metric that picks ``best.ckpt``), ``val/AP/<class>`` and
``val/loss``. Validation runs in the epochs of ``evaluation_config``
(``first_validation_epoch``, then every ``validation_period_during_training``, and the last
epoch): :class:`ValidationSchedule` tells Lightning so at each epoch's start.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from graft.data.preprocess import normalize
from graft.engine.module import GraftModule
from graft.manifest import Normalization
from graft.tasks.detectnet_v2.decoder import DetectionDecoder
from graft.tasks.detectnet_v2.encoder import TargetEncoder
from graft.tasks.detectnet_v2.loss import DetectNetCost
from graft.tasks.detectnet_v2.records import ground_truth
from graft.tasks.detectnet_v2.spec import DetectNetSpec

NEVER = 1 << 30  # a check_val_every_n_epoch no epoch number reaches


class ValidationSchedule(L.Callback):
    """Validate exactly in ``epochs`` (1-based), whatever period Lightning was given."""

    def __init__(self, epochs: set[int]) -> None:
        self.epochs = set(epochs)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.check_val_every_n_epoch = 1 if trainer.current_epoch + 1 in self.epochs \
            else NEVER


def _gather(items: list[Any]) -> list[Any]:
    """Every rank's list, concatenated in rank order (the list itself without DDP)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return items
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, items)
    return [x for part in parts for x in part]


class DetectNetModule(GraftModule):
    """Lightning module over :class:`~graft.tasks.detectnet_v2.model.DetectNetV2`."""

    def __init__(self, net: nn.Module, spec: DetectNetSpec, normalization: Normalization
                 ) -> None:
        tc = spec.training_config
        super().__init__(net, tc.optimizer, tc.learning_rate, tc.regularizer)
        self.normalization = normalization
        self.class_names = list(spec.class_names)
        self.encoder = TargetEncoder.from_spec(spec)
        self.decoder = DetectionDecoder.from_spec(spec)
        self.cost = DetectNetCost.from_config(spec.cost_function_config, spec.cost_classes())
        self.rules = spec.class_rules()
        self.ap_mode = spec.evaluation_config.average_precision_mode
        self.validation_epochs = set(spec.evaluation_config.validation_epochs(tc.num_epochs))
        self.freeze_bn = spec.model.freeze_bn
        self._truths: list[Any] = []
        self._detections: list[Any] = []

    def configure_callbacks(self) -> list[L.Callback]:
        return [ValidationSchedule(self.validation_epochs)]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(self.to_input_format(normalize(images, self.normalization)))

    def on_train_epoch_start(self) -> None:
        if self.freeze_bn:
            for m in self.net.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()

    def _cost(self, batch: dict[str, Any], cov: torch.Tensor, bbox: torch.Tensor):
        targets = self.encoder(batch["boxes"], batch["labels"], batch["ignore"],
                               batch["ignore_labels"])
        targets.mask.mul_(batch["weight"].to(targets.mask).view(-1, 1, 1, 1))
        return self.cost(cov, bbox, targets)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        cov, bbox = self(batch["image"])
        out = self._cost(batch, cov, bbox)
        self.cost.record(out.components)
        size = len(batch["image"])
        self.log("train/loss", out.total, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=size, sync_dist=True)
        cov_cost, bbox_cost = out.components.sum(0)
        self.log("train/cov_cost", cov_cost, on_step=False, on_epoch=True, batch_size=size,
                 sync_dist=True)
        self.log("train/bbox_cost", bbox_cost, on_step=False, on_epoch=True, batch_size=size,
                 sync_dist=True)
        self.log("train/bbox_weight", self.cost.objective_weights[:, 1].mean(), on_step=False,
                 on_epoch=True, batch_size=size, sync_dist=True)
        return out.total

    def on_train_epoch_end(self) -> None:
        import torch.distributed as dist

        def all_reduce(t: torch.Tensor) -> torch.Tensor:
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(t)
            return t

        self.cost.update_weights(all_reduce)

    # -- validation ------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._truths, self._detections = [], []

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        cov, bbox = self(batch["image"])
        out = self._cost(batch, cov, bbox)
        self.log("val/loss", out.total, batch_size=len(batch["image"]), sync_dist=True)
        for dets, truth, (sx, sy) in zip(self.decoder(cov, bbox), batch["truth"],
                                         batch["scale"], strict=True):
            self._detections.append(dets.scaled(sx, sy))
            self._truths.append(ground_truth(truth))

    def on_validation_epoch_end(self) -> None:
        from graft.metrics.detection import evaluate_detections

        truths, detections = _gather(self._truths), _gather(self._detections)
        self._truths, self._detections = [], []
        if not truths:
            return
        result = evaluate_detections(truths, detections, self.class_names, rules=self.rules,
                                     mode=self.ap_mode)
        self.log("val/mAP", max(result.mean_ap, 0.0), prog_bar=True)
        for c in result.classes:
            if c.ap > -1:
                self.log(f"val/AP/{c.name}", c.ap)
