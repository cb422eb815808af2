"""DetectNet_v2's cost (TLT's, term for term) and the per-epoch objective autoweighting.

API::

    cost = DetectNetCost.from_config(spec.cost_function_config, spec.cost_classes())
    out = cost(cov_pred, bbox_pred, targets)   # cov_pred (B, C, h, w) sigmoid outputs,
                                               # bbox_pred (B, 4C, h, w) or (B, C, 4, h, w)
    out.total.backward()
    cost.record(out.components)                # each training step (autoweighting's sums)
    cost.update_weights()                      # at each training epoch's end

Per class c (targets from :mod:`graft.tasks.detectnet_v2.encoder`, M the loss mask; a data
source's ``source_weight`` is applied by multiplying its images' mask before the call):

- coverage: mean over (B, h, w) of M * w_fg(t) * BCE(t, p) with
  BCE = -(t log(p + 1e-5) + (1 - t) log(1 - p + 1e-5)) and w_fg = coverage_foreground_weight
  where t > 0.5, else 1 - coverage_foreground_weight;
- boxes: mean over (B, 4, h, w) of M * cov_norm * |pred - target|.

total = sum over classes c and objectives o of cost[c, o] * class_weight[c] * weight[c, o],
with class weights normalized to sum 1 over the classes and each class's objective weights
normalized to sum 1 (initially from ``initial_weight``: cov 1, bbox 10 -> 1/11, 10/11).

Autoweighting (``enable_autoweighting``), TLT's rule: over an epoch the unweighted costs are
summed per class and objective (S[c, o]); at the epoch's end each class's weights become
weight_target[c, o] / S[c, o] (0 where S is 0), normalized to sum 1 over the objectives and
clamped to [min_objective_weight, max_objective_weight]; a class whose weights would all be 0
keeps its old ones; the sums restart. Under DDP pass ``all_reduce`` (a sum over ranks) to
:meth:`DetectNetCost.update_weights` so every rank computes the same weights.

The weights and sums are buffers, so they travel with the module's device and with a
Lightning checkpoint (a resumed run continues with the weights it had).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from graft.tasks.detectnet_v2.sections import OBJECTIVES

if TYPE_CHECKING:
    from graft.tasks.detectnet_v2.encoder import Targets
    from graft.tasks.detectnet_v2.sections import CostFunctionConfig, CostTargetClass

EPSILON = 1e-5  # TLT's BCE epsilon
COV, BBOX = OBJECTIVES.index("cov"), OBJECTIVES.index("bbox")


@dataclass
class CostOutput:
    """``total`` (scalar, differentiable) and the unweighted ``components`` (C, 2) [cov, bbox],
    detached, for logging and autoweighting."""

    total: torch.Tensor
    components: torch.Tensor


def coverage_cost(target: torch.Tensor, pred: torch.Tensor, foreground_weight: torch.Tensor,
                  mask: torch.Tensor) -> torch.Tensor:
    """Elementwise weighted BCE (B, C, h, w); ``foreground_weight`` (C,)."""
    bce = -(target * torch.log(pred + EPSILON) + (1.0 - target) * torch.log(1.0 - pred + EPSILON))
    fg = foreground_weight[:, None, None]
    return mask * torch.where(target > 0.5, fg, 1.0 - fg) * bce


def bbox_cost(target: torch.Tensor, pred: torch.Tensor, cov_norm: torch.Tensor,
              mask: torch.Tensor) -> torch.Tensor:
    """Elementwise weighted L1 (B, C, 4, h, w)."""
    return (mask * cov_norm)[:, :, None] * torch.abs(pred - target)


class DetectNetCost(nn.Module):
    """The weighted sum of per-class coverage and box costs, with autoweighting state."""

    def __init__(self, class_weights: Sequence[float], foreground_weights: Sequence[float],
                 initial_weights: Sequence[Sequence[float]],
                 weight_targets: Sequence[Sequence[float]] | None = None, *,
                 autoweighting: bool = True, min_weight: float = 1e-4,
                 max_weight: float = 0.9999) -> None:
        """Per class: ``class_weights`` (C,), ``foreground_weights`` (C,), ``initial_weights``
        and ``weight_targets`` (C, 2) for [cov, bbox]."""
        super().__init__()
        cw = torch.as_tensor(class_weights, dtype=torch.float32).reshape(-1)
        init = torch.as_tensor(initial_weights, dtype=torch.float32).reshape(len(cw), 2)
        targets = init if weight_targets is None else torch.as_tensor(
            weight_targets, dtype=torch.float32).reshape(len(cw), 2)
        if (cw <= 0).any() or (init < 0).any() or (targets < 0).any():
            raise ValueError("class weights must be positive and objective weights >= 0")
        sums = init.sum(1, keepdim=True)
        self.register_buffer("class_weights", cw / cw.sum())
        self.register_buffer("foreground_weights",
                             torch.as_tensor(foreground_weights, dtype=torch.float32).reshape(-1))
        self.register_buffer("objective_weights",
                             torch.where(sums > 0, init / sums.clamp(min=1e-12), 0.0))
        self.register_buffer("weight_targets", targets)
        self.register_buffer("cost_sums", torch.zeros(len(cw), 2))
        self.autoweighting = autoweighting
        self.min_weight, self.max_weight = float(min_weight), float(max_weight)

    @classmethod
    def from_config(cls, config: CostFunctionConfig,
                    classes: Sequence[CostTargetClass] | None = None) -> DetectNetCost:
        """From ``cost_function_config``; ``classes`` in network order (default: its list)."""
        classes = list(classes if classes is not None else config.target_classes)
        return cls([c.class_weight for c in classes],
                   [c.coverage_foreground_weight for c in classes],
                   [[c.objective(o).initial_weight for o in OBJECTIVES] for c in classes],
                   [[c.objective(o).weight_target for o in OBJECTIVES] for c in classes],
                   autoweighting=config.enable_autoweighting,
                   min_weight=config.min_objective_weight, max_weight=config.max_objective_weight)

    @property
    def num_classes(self) -> int:
        return len(self.class_weights)

    def forward(self, cov_pred: torch.Tensor, bbox_pred: torch.Tensor,
                targets: Targets) -> CostOutput:
        b, c, h, w = cov_pred.shape
        if c != self.num_classes:
            raise ValueError(f"{c} coverage channels for {self.num_classes} classes")
        bbox_pred = bbox_pred.reshape(b, c, 4, h, w).float()
        cov = coverage_cost(targets.cov, cov_pred.float(), self.foreground_weights,
                            targets.mask).mean(dim=(0, 2, 3))
        box = bbox_cost(targets.bbox, bbox_pred, targets.cov_norm,
                        targets.mask).mean(dim=(0, 2, 3, 4))
        components = torch.stack([cov, box], dim=1)  # (C, 2) in OBJECTIVES order
        weights = self.class_weights[:, None] * self.objective_weights
        return CostOutput((components * weights).sum(), components.detach())

    @torch.no_grad()
    def record(self, components: torch.Tensor) -> None:
        """Add one step's unweighted (C, 2) costs to this epoch's sums."""
        self.cost_sums += components.to(self.cost_sums)

    @torch.no_grad()
    def update_weights(self, all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None
                       ) -> torch.Tensor:
        """End of an epoch: TLT's autoweighting update (if enabled); restarts the sums.

        Returns the objective weights (C, 2) in force for the next epoch.
        """
        sums = all_reduce(self.cost_sums.clone()) if all_reduce is not None else self.cost_sums
        if self.autoweighting:
            raw = torch.where(sums == 0, torch.zeros_like(sums),
                              self.weight_targets / torch.where(sums == 0, 1.0, sums))
            total = raw.sum(1, keepdim=True)
            new = (raw / torch.where(total == 0, 1.0, total)).clamp(self.min_weight,
                                                                    self.max_weight)
            self.objective_weights.copy_(torch.where(total == 0, self.objective_weights, new))
        self.cost_sums.zero_()
        return self.objective_weights.clone()
