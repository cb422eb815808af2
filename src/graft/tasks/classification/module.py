"""Lightning module for classification: cross-entropy, top-1/top-k accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graft.data.preprocess import normalize
from graft.engine.module import GraftModule
from graft.manifest import Normalization
from graft.tasks.classification.spec import ClassificationSpec


def topk_correct(logits: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    k = min(k, logits.shape[1])
    return (logits.topk(k, dim=1).indices == target[:, None]).any(dim=1).float()


class ClassificationModule(GraftModule):
    def __init__(
        self, net: nn.Module, spec: ClassificationSpec, normalization: Normalization
    ) -> None:
        super().__init__(net, spec.optimizer, spec.lr_schedule, spec.regularizer)
        self.normalization = normalization
        self.label_smoothing = spec.data.label_smoothing
        self.top_k = spec.eval.top_k
        self.freeze_bn = spec.model.freeze_bn

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.to_input_format(normalize(images, self.normalization)))

    def on_train_epoch_start(self) -> None:
        if self.freeze_bn:
            for m in self.net.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        images, target = batch
        logits = self(images)
        loss = F.cross_entropy(logits, target, label_smoothing=self.label_smoothing)
        acc = (logits.argmax(1) == target).float().mean()
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        self.log("train/acc", acc, prog_bar=True, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, target = batch
        logits = self(images)
        self.log("val/loss", F.cross_entropy(logits, target), prog_bar=True, sync_dist=True)
        self.log("val/acc", topk_correct(logits, target, 1).mean(), prog_bar=True, sync_dist=True)
        self.log(
            f"val/top{self.top_k}", topk_correct(logits, target, self.top_k).mean(), sync_dist=True
        )
