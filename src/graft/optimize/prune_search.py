"""The smallest ``-pth`` that prunes at least a target fraction of the parameters.

TLT users pick ``-pth`` by hand, prune, look at the ratio and try again. A network trained
briefly from scratch keeps filter norms close to their initialization, whose spread within a
layer is a few percent, so with the ``max`` normalizer nearly every filter scores between 0.9
and 1: raising ``-pth`` in steps of 0.02 goes from "almost nothing pruned" to "every layer at
``-nf``" in one step (the detection demo went from < 50 % to 90 % removed between 0.94 and
0.96). The removed fraction never falls as ``-pth`` rises (each layer keeps the filters above
it), so a bisection on a grid of ``resolution`` finds the first threshold that reaches the
target, and the result stays TLT's rule at one ``-pth``, reproducible with ``graft ... prune``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from graft.optimize.prune import PruneOptions, prune_module

__all__ = ["ThresholdSearch", "threshold_for_fraction"]


@dataclass(frozen=True)
class ThresholdSearch:
    """What :func:`threshold_for_fraction` found: the options and the fraction they remove."""

    options: PruneOptions
    removed: float  # fraction of the parameters pruning with ``options`` removes
    trials: int  # pruning passes it took


def threshold_for_fraction(
    model: nn.Module,
    example_input: torch.Tensor | Sequence[torch.Tensor],
    options: PruneOptions,
    target: float,
    output_layers: Callable[[nn.Module], Iterable[nn.Module]] = lambda m: (),
    resolution: float = 1e-3,
) -> ThresholdSearch:
    """``options`` with the smallest ``-pth`` >= ``options.threshold`` (on a grid of
    ``resolution``) whose pruning removes at least ``target`` of the parameters.

    ``model`` is not changed (each trial prunes a copy); ``output_layers`` maps a copy to its
    heads (the task's ``output_layers``). Where no threshold reaches ``target`` (every layer
    already at ``-nf`` or protected), the threshold that removes the most is returned and
    ``removed`` says how much that is.
    """
    if not 0 < target < 1 or resolution <= 0:
        raise ValueError(f"target {target} must be in (0, 1), resolution {resolution} > 0")
    trials = 0
    cache: dict[int, float] = {}

    def at(step: int) -> PruneOptions:
        return dataclasses.replace(options, threshold=round(step * resolution, 10))

    def removed(step: int) -> float:
        nonlocal trials
        if step not in cache:
            trial = copy.deepcopy(model)
            result = prune_module(trial, example_input, at(step), check_rebuild=False,
                                  output_layers=output_layers(trial))
            cache[step] = 1 - result.params_after / max(result.params_before, 1)
            trials += 1
        return cache[step]

    lo = int(round(options.threshold / resolution))
    if removed(lo) >= target:  # the given -pth already prunes enough: keep it
        return ThresholdSearch(at(lo), removed(lo), trials)
    hi = max(2 * lo, int(round(1 / resolution)))  # the ``max`` normalizer's scores are <= 1
    while removed(hi) < target:  # other normalizers can score above 1
        if removed(hi) <= removed(lo):  # saturated: nothing more to prune
            return ThresholdSearch(at(hi), removed(hi), trials)
        lo, hi = hi, 2 * hi
    while hi - lo > 1:  # removed(lo) < target <= removed(hi)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if removed(mid) >= target else (mid, hi)
    return ThresholdSearch(at(hi), removed(hi), trials)
