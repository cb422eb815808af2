"""The -pth search: the first threshold reaching a pruned fraction, not a coarse overshoot."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from graft.optimize.prune import PruneOptions, prune_module
from graft.optimize.prune_search import threshold_for_fraction

from .conftest import TinyResNet


def _removed(model, options: PruneOptions) -> float:
    trial = TinyResNet(width=64)
    trial.load_state_dict(model.state_dict())
    result = prune_module(trial, torch.rand(1, 3, 16, 16), options, output_layers=[trial.fc],
                          check_rebuild=False)
    return 1 - result.params_after / result.params_before


def test_search_stops_at_the_first_threshold_reaching_the_target() -> None:
    # freshly initialized: every layer's normalized filter norms sit close together (0.8-1),
    # as after a short training from scratch, so -pth steps of 0.05 jump past the target
    model = TinyResNet(width=64)
    options = PruneOptions(threshold=0.5, granularity=8, min_num_filters=8)
    found = threshold_for_fraction(model, torch.rand(1, 3, 16, 16), options, 0.5,
                                   output_layers=lambda m: [m.fc])
    assert found.removed >= 0.5
    assert found.removed == pytest.approx(_removed(model, found.options))
    # minimal on its grid: one step lower prunes less than the target
    below = dataclasses.replace(found.options, threshold=found.options.threshold - 1e-3)
    assert _removed(model, below) < 0.5
    assert found.removed < 0.65  # near the target, not every layer at -nf
    assert 0.5 < found.options.threshold < 1 and found.trials <= 12
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in TinyResNet(width=64).parameters())  # the model is untouched


def test_a_threshold_already_pruning_enough_is_kept() -> None:
    model = TinyResNet(width=64)
    options = PruneOptions(threshold=0.999, granularity=8, min_num_filters=8)
    found = threshold_for_fraction(model, torch.rand(1, 3, 16, 16), options, 0.3,
                                   output_layers=lambda m: [m.fc])
    assert found.options == options and found.trials == 1 and found.removed >= 0.3


def test_an_unreachable_target_returns_the_most_pruning_threshold() -> None:
    model = TinyResNet(width=64)
    options = PruneOptions(threshold=0.5, granularity=8, min_num_filters=32)
    found = threshold_for_fraction(model, torch.rand(1, 3, 16, 16), options, 0.95,
                                   output_layers=lambda m: [m.fc])
    assert found.removed < 0.95
    assert found.removed == pytest.approx(_removed(model, dataclasses.replace(
        options, threshold=1.0)))
