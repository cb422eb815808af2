"""Base LightningModule: optimizer, LR schedule, TLT-style L1/L2 and per-group LR multipliers.

Tasks subclass :class:`GraftModule` and write ``training_step`` / ``validation_step``; everything
driven by the shared spec sections lives here, so no task re-implements it.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from graft.engine.config import LRScheduleSpec, OptimizerSpec, RegularizerSpec
from graft.engine.schedules import lr_factor

_KERNEL_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


class GraftModule(L.LightningModule):
    """Shared optimization behaviour for every task's training module."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerSpec,
        schedule: LRScheduleSpec,
        regularizer: RegularizerSpec,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_spec = optimizer
        self.schedule_spec = schedule
        self.regularizer_spec = regularizer
        self.channels_last = False  # set by graft.engine.fit when the trainer spec asks for it

    def to_input_format(self, x: torch.Tensor) -> torch.Tensor:
        """Match the network's memory format (channels_last speeds up convs on GPUs)."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def forward(self, x: torch.Tensor) -> Any:
        return self.net(x)

    # -- hooks for tasks ------------------------------------------------------------------
    def param_groups(self) -> list[dict[str, Any]]:
        """Parameter groups with LR multipliers; override for stage-wise multipliers."""
        return [
            {
                "params": [p for p in self.net.parameters() if p.requires_grad],
                "lr_mult": 1.0,
                "name": "all",
            }
        ]

    def regularized_parameters(self) -> list[nn.Parameter]:
        """Kernels of conv and linear layers: TLT regularizes these, not biases or norms."""
        return [
            m.weight
            for m in self.net.modules()
            if isinstance(m, _KERNEL_LAYERS) and m.weight.requires_grad
        ]

    # -- Lightning ------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        spec, base = self.optimizer_spec, self.schedule_spec.learning_rate
        groups = [
            {
                "params": g["params"],
                "lr": base * float(g.get("lr_mult", 1.0)),
                "name": g.get("name", f"group{i}"),
            }
            for i, g in enumerate(self.param_groups())
            if g["params"]
        ]
        if spec.name == "sgd":
            opt = torch.optim.SGD(
                groups,
                lr=base,
                momentum=spec.momentum,
                nesterov=spec.nesterov,
                weight_decay=spec.weight_decay,
            )
        elif spec.name == "adam":
            opt = torch.optim.Adam(
                groups, lr=base, betas=spec.betas, eps=spec.eps, weight_decay=spec.weight_decay
            )
        else:
            opt = torch.optim.AdamW(
                groups, lr=base, betas=spec.betas, eps=spec.eps, weight_decay=spec.weight_decay
            )
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        steps_per_epoch = total / max(self.trainer.max_epochs or 1, 1)
        schedule = self.schedule_spec

        def factor(step: int) -> float:
            return lr_factor(schedule, step / total, step / steps_per_epoch)

        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Add the L1/L2 gradient on kernels (after AMP unscaling, once per optimizer step)."""
        reg = self.regularizer_spec
        if reg.type == "none" or reg.weight == 0.0:
            return
        params = [p for p in self.regularized_parameters() if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        with torch.no_grad():
            if reg.type == "l2":  # d/dw of weight * sum(w^2)
                torch._foreach_add_(grads, params, alpha=2.0 * reg.weight)
            else:  # d/dw of weight * sum(|w|)
                torch._foreach_add_(grads, torch._foreach_sign(params), alpha=reg.weight)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if batch_idx % max(self.trainer.log_every_n_steps, 1) == 0:
            self.log(
                "train/lr",
                self.trainer.optimizers[0].param_groups[0]["lr"],
                on_step=True,
                on_epoch=False,
                prog_bar=False,
                rank_zero_only=True,
            )
