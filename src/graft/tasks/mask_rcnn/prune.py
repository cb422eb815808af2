"""Pruning Mask R-CNN with graft's TLT pruner (:mod:`graft.optimize.prune`).

Torch-Pruning traces a network by autograd from one forward pass, and a detection forward is
no dense graph: proposals and detections vary per image (zero included), RoIAlign picks levels
per box, and the heads run on sampled regions. So the pruner traces :class:`TraceView`, the
same modules under the same names wired densely: every FPN level pooled to 14x14 and summed
(the RPN head and RoIAlign read all levels, so their channels must be one set), the RPN head
and the box head on that sum at 7x7 (RoIAlign's box output size), the mask head on it at
14x14. The channel coupling is the detector's: FPN outputs shared by all levels and the heads,
the box head's first linear layer taking 7x7 per channel through its flatten, residual adds in
the trunk. Pruning the view prunes the detector, whose modules it holds.

The predictors keep their outputs (class scores and box deltas of the RPN and the box head,
mask logits): their channels are the classes and anchors. torchvision's ResNet trunk uses
FrozenBatchNorm2d, whose statistics are buffers that Torch-Pruning neither sees nor prunes;
pruning swaps each for an equivalent eval-mode BatchNorm2d and back afterwards (same tensor
names and values), and :mod:`graft.nn.surgery` rebuilds frozen norms of pruned sizes on load.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from graft.optimize.prune import PruneOptions, PruneResult, prune_module

POOL = 14  # the mask head's RoIAlign output side; the box head's is half of it (7)


class TraceView(nn.Module):
    """The detector's backbone, RPN and RoI heads as one dense, traceable network.

    Holds the modules under the detector's names (``backbone``, ``rpn``, ``roi_heads``), so
    layer names in the pruning table and in ``-el`` are the detector's own."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.backbone = net.backbone
        self.rpn = net.rpn
        self.roi_heads = net.roi_heads

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        levels = list(self.backbone(x).values())
        fine = sum(F.adaptive_avg_pool2d(f, POOL) for f in levels)
        coarse = F.adaptive_avg_pool2d(fine, POOL // 2)
        objectness, deltas = self.rpn.head([coarse])
        heads = self.roi_heads
        scores, boxes = heads.box_predictor(heads.box_head(coarse))
        masks = heads.mask_predictor(heads.mask_head(fine))
        return objectness[0], deltas[0], scores, boxes, masks


def predictor_layers(net: nn.Module) -> list[nn.Module]:
    """Layers whose outputs are the classes, anchors and masks: never pruned."""
    rpn, box = net.rpn.head, net.roi_heads.box_predictor
    return [rpn.cls_logits, rpn.bbox_pred, box.cls_score, box.bbox_pred,
            net.roi_heads.mask_predictor.mask_fcn_logits]


def _swap_children(root: nn.Module, kind: type[nn.Module], make: Any) -> list[str]:
    swapped = []
    for parent_name, parent in list(root.named_modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, kind):
                setattr(parent, name, make(child))
                swapped.append(f"{parent_name}.{name}" if parent_name else name)
    return swapped


def thaw_frozen_bn(net: nn.Module) -> list[str]:
    """Replace every FrozenBatchNorm2d by an eval-mode BatchNorm2d computing the same (in
    place); returns their names for :func:`refreeze_bn`."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    def thawed(frozen: nn.Module) -> nn.Module:
        bn = nn.BatchNorm2d(frozen.weight.numel(), eps=frozen.eps).eval()
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn, name).copy_(getattr(frozen, name))
        return bn

    return _swap_children(net, FrozenBatchNorm2d, thawed)


def refreeze_bn(net: nn.Module, names: Iterable[str]) -> None:
    """Turn the BatchNorm2d layers :func:`thaw_frozen_bn` made back into FrozenBatchNorm2d
    of their (possibly pruned) size."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    modules = dict(net.named_modules())
    for full in names:
        bn = modules[full]
        frozen = FrozenBatchNorm2d(bn.num_features, eps=bn.eps)
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(frozen, name).copy_(getattr(bn, name).detach())
        parent, _, child = full.rpartition(".")
        setattr(modules[parent] if parent else net, child, frozen)


def example_image(height: int, width: int) -> torch.Tensor:
    """The (1, 3, H, W) batch the view is traced with (its values do not matter)."""
    return torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))


def prune_detector(net: nn.Module, options: PruneOptions, height: int, width: int,
                   check_rebuild: bool = True) -> PruneResult:
    """Prune a MaskRCNN in place with TLT's rules; the result's ``module`` is ``net``."""
    was_training = net.training
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    params_before = sum(p.numel() for p in net.parameters())
    names = thaw_frozen_bn(net)
    for p in net.parameters():  # frozen blocks too: tracing follows autograd
        p.requires_grad_(True)
    try:
        result = prune_module(TraceView(net), example_image(height, width), options,
                              output_layers=predictor_layers(net), check_rebuild=check_rebuild)
    finally:
        refreeze_bn(net, names)
        for n, p in net.named_parameters():
            p.requires_grad_(n in trainable)
        net.train(was_training)
    result.module = net
    # the table counts parameters: frozen norms hold buffers only (thawed, they had two)
    frozen = set(names)
    result.layers = [dataclasses.replace(r, type="FrozenBatchNorm2d", params_before=0,
                                         params_after=0, ratio=1.0) if r.name in frozen else r
                     for r in result.layers]
    result.params_before = params_before
    result.params_after = sum(p.numel() for p in net.parameters())
    return result


def threshold_for(net: nn.Module, options: PruneOptions, target: float, height: int,
                  width: int) -> Any:
    """The smallest ``-pth`` removing at least ``target`` of the parameters
    (:func:`graft.optimize.prune_search.threshold_for_fraction` on the view); ``net`` is left
    as it is."""
    from graft.optimize.prune_search import threshold_for_fraction

    work = copy.deepcopy(net).eval()
    thaw_frozen_bn(work)
    for p in work.parameters():
        p.requires_grad_(True)
    return threshold_for_fraction(TraceView(work), example_image(height, width), options,
                                  target, output_layers=predictor_layers)
