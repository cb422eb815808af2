"""Lightning module for classification: cross-entropy; top-1/top-k accuracy over the whole
validation set (:class:`TopKEvaluation`, exact under DDP), which picks the best model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graft.data.preprocess import normalize
from graft.engine.evaluation import EpochEvaluation, Monitor, in_sampler_order
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

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
                        ) -> dict[str, torch.Tensor]:
        """The loss here; per-sample hits for :class:`TopKEvaluation` (top-1 and top-k)."""
        images, target = batch
        logits = self(images)
        self.log("val/loss", F.cross_entropy(logits, target), prog_bar=True, sync_dist=True)
        return {"top1": topk_correct(logits, target, 1), "topk": topk_correct(logits, target,
                                                                              self.top_k)}


class TopKEvaluation(EpochEvaluation):
    """``val/acc`` (top-1) and ``val/topK`` over every validation image exactly once: each rank
    keeps its per-image hits, which are put back in dataset order and the sampler's repeats
    dropped before averaging (a mean of per-rank means counts the repeats)."""

    monitor = Monitor("val/acc", "max")

    def __init__(self, samples: int, top_k: int, every_n_epochs: int = 1) -> None:
        self.samples, self.top_k, self.every_n_epochs = samples, top_k, every_n_epochs
        self.hits: list[torch.Tensor] = []

    def reset(self) -> None:
        self.hits = []

    def update(self, outputs: dict[str, torch.Tensor], batch: object) -> None:
        self.hits.append(torch.stack([outputs["top1"], outputs["topk"]], 1).detach().cpu())

    def local_state(self, module: object, rank: int, world_size: int) -> list[list[float]]:
        return torch.cat(self.hits).tolist() if self.hits else []

    def reduce(self, states: list[list[list[float]]]) -> dict[str, float]:
        hits = torch.tensor(in_sampler_order(states, self.samples)).reshape(-1, 2)
        top1, topk = hits.mean(0).tolist()
        return {"val/acc": top1, f"val/top{self.top_k}": topk}
