"""The Mask R-CNN Lightning module and its end-of-epoch COCO evaluation.

Training sums torchvision's five losses (RPN objectness and box, RoI class, box and mask).
Validation runs the network as inference does and keeps COCO results per image; at the end of
the epochs the evaluation is due in, :class:`CocoInstanceEvaluation` scores every validation
image once (bbox and segm AP through :mod:`graft.metrics.coco`) and logs ``val/segm_AP``, the
monitor that picks the best model, with ``val/bbox_AP`` and the AP50/AP75 numbers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from graft.engine.evaluation import EpochEvaluation, Monitor
from graft.engine.module import GraftModule
from graft.tasks.mask_rcnn.results import coco_ap, coco_results, summary_metrics

MONITOR = Monitor("val/segm_AP", "max")


class MaskRCNNModule(GraftModule):
    """Lightning module over torchvision's MaskRCNN (``net``)."""

    def __init__(self, net: nn.Module, spec: Any, category_ids: list[int]) -> None:
        super().__init__(net, spec.optimizer, spec.lr_schedule, spec.regularizer)
        self.category_ids = list(category_ids)

    def forward(self, images: list[torch.Tensor]) -> Any:
        return self.net(images)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, targets = batch
        losses = self.net(images, targets)
        total = sum(losses.values())
        size = len(images)
        self.log("train/loss", total, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=size, sync_dist=True)
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=size,
                     sync_dist=True)
        return total

    def validation_step(self, batch: Any, batch_idx: int) -> list[dict[str, Any]]:
        images, targets = batch
        outputs = self.net(images)
        return [{"image_id": int(t["image_id"]), "results": coco_results(o, int(t["image_id"]),
                                                                          self.category_ids)}
                for o, t in zip(outputs, targets, strict=True)]


class CocoInstanceEvaluation(EpochEvaluation):
    """COCO bbox and segm AP over the validation set (every image once, DDP repeats dropped)."""

    monitor = MONITOR

    def __init__(self, ground_truth: dict[str, Any], every_n_epochs: int = 1) -> None:
        self.ground_truth = ground_truth
        self.every_n_epochs = every_n_epochs
        self.per_image: dict[int, list[dict[str, Any]]] = {}

    def reset(self) -> None:
        self.per_image = {}

    def update(self, outputs: list[dict[str, Any]], batch: Any) -> None:
        for item in outputs:
            self.per_image[item["image_id"]] = item["results"]

    def local_state(self, module: Any, rank: int, world_size: int) -> dict[int, list]:
        return dict(self.per_image)

    def reduce(self, states: list[dict[int, list]]) -> dict[str, float]:
        merged: dict[int, list] = {}
        for state in states:
            merged.update(state)
        results = [r for rs in merged.values() for r in rs]
        return summary_metrics(coco_ap(self.ground_truth, results, sorted(merged)), "val/")
