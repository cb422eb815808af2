"""TLT's cost on tensors worked out by hand, and the autoweighting update rule."""

from __future__ import annotations

import math

import pytest
import torch

from graft.tasks.detectnet_v2.encoder import Targets
from graft.tasks.detectnet_v2.loss import DetectNetCost
from graft.tasks.detectnet_v2.sections import CostFunctionConfig, CostTargetClass, Objective


def _one_class_case(mask=(1.0, 1.0)):
    """1 image, 1 class, a 1 x 2 grid: an object on cell 0, background on cell 1."""
    bbox = torch.zeros(1, 1, 4, 1, 2)
    bbox[0, 0, :, 0, 0] = torch.tensor([0.1, 0.2, 0.3, 0.4])
    targets = Targets(cov=torch.tensor([[[[1.0, 0.0]]]]), bbox=bbox,
                      cov_norm=torch.tensor([[[[0.25, 0.0]]]]),
                      mask=torch.tensor(mask).reshape(1, 1, 1, 2))
    cov_pred = torch.tensor([[[[0.8, 0.2]]]])
    bbox_pred = torch.ones(1, 4, 1, 2)  # (B, 4C, h, w) as the network gives it
    bbox_pred[0, :, 0, 0] = torch.tensor([0.2, 0.2, 0.3, 0.0])
    return cov_pred, bbox_pred, targets


def test_the_cost_of_known_tensors() -> None:
    cost = DetectNetCost([1.0], [0.05], [[1.0, 10.0]])
    out = cost(*_one_class_case())
    # cov: (0.05 * -log(0.8 + 1e-5) + 0.95 * -log(1 - 0.2 + 1e-5)) / 2 cells
    cov = -(0.05 * math.log(0.8 + 1e-5) + 0.95 * math.log(0.8 + 1e-5)) / 2
    # bbox: cov_norm 0.25 * (|0.2 - 0.1| + 0 + 0 + |0.0 - 0.4|) / (4 channels x 2 cells); the
    # background cell's wild prediction has weight 0
    box = 0.25 * 0.5 / 8
    torch.testing.assert_close(out.components, torch.tensor([[cov, box]]))
    assert float(out.total) == pytest.approx(cov / 11 + box * 10 / 11)


def test_the_loss_mask_removes_a_cell_from_both_costs() -> None:
    cost = DetectNetCost([1.0], [0.05], [[1.0, 10.0]])
    out = cost(*_one_class_case(mask=(1.0, 0.0)))
    cov = -0.05 * math.log(0.8 + 1e-5) / 2  # the background cell no longer counts
    torch.testing.assert_close(out.components, torch.tensor([[cov, 0.25 * 0.5 / 8]]))
    out = cost(*_one_class_case(mask=(0.0, 1.0)))
    assert float(out.components[0, 1]) == 0.0  # the object's box cost is masked away


def test_class_weights_are_normalized() -> None:
    cov, bbox, t = _one_class_case()
    two = Targets(*(torch.cat([x, x], dim=1) for x in (t.cov, t.bbox, t.cov_norm, t.mask)))
    cost = DetectNetCost([1.0, 3.0], [0.05, 0.05], [[1.0, 1.0], [1.0, 1.0]])
    out = cost(torch.cat([cov, cov], 1), torch.cat([bbox, bbox], 1), two)
    single = DetectNetCost([1.0], [0.05], [[1.0, 1.0]])(cov, bbox, t)
    assert float(out.total) == pytest.approx(float(single.total))  # 0.25 x + 0.75 x
    torch.testing.assert_close(cost.class_weights, torch.tensor([0.25, 0.75]))


def test_the_cost_has_gradients_and_rejects_a_wrong_class_count() -> None:
    cov, bbox, t = _one_class_case()
    cov.requires_grad_(True)
    bbox.requires_grad_(True)
    DetectNetCost([1.0], [0.05], [[1.0, 10.0]])(cov, bbox, t).total.backward()
    assert cov.grad.abs().sum() > 0 and bbox.grad[..., 0, 0].abs().sum() > 0
    assert bbox.grad[..., 0, 1].abs().sum() == 0  # background cell: no box gradient
    with pytest.raises(ValueError, match="1 coverage channels for 2 classes"):
        DetectNetCost([1.0, 1.0], [0.05] * 2, [[1, 1]] * 2)(cov, bbox, t)


def test_autoweighting_follows_tlts_rule() -> None:
    cost = DetectNetCost([1.0, 1.0], [0.05, 0.05], [[1.0, 10.0]] * 2, [[1.0, 10.0]] * 2)
    torch.testing.assert_close(cost.objective_weights, torch.tensor([[1 / 11, 10 / 11]] * 2))
    cost.record(torch.tensor([[0.2, 0.01], [0.1, 0.05]]))
    cost.record(torch.tensor([[0.2, 0.03], [0.3, 0.05]]))
    # sums [[0.4, 0.04], [0.4, 0.1]] -> targets / sums [[2.5, 250], [2.5, 100]], normalized
    new = cost.update_weights()
    expected = torch.tensor([[2.5 / 252.5, 250 / 252.5], [2.5 / 102.5, 100 / 102.5]])
    torch.testing.assert_close(new, expected)
    torch.testing.assert_close(cost.objective_weights, expected)
    assert cost.cost_sums.abs().sum() == 0  # the next epoch sums afresh


def test_autoweighting_clamps_and_keeps_weights_without_costs() -> None:
    cost = DetectNetCost([1.0] * 3, [0.05] * 3, [[1.0, 10.0]] * 3)
    cost.record(torch.tensor([[1.0, 1e-6], [0.0, 0.0], [0.5, 0.0]]))
    new = cost.update_weights()
    assert new[0].tolist() == pytest.approx([1e-4, 0.9999])  # [~1e-7, ~1] clamped
    assert new[1].tolist() == pytest.approx([1 / 11, 10 / 11])  # nothing summed: kept
    assert new[2].tolist() == pytest.approx([0.9999, 1e-4])  # a zero cost gets weight 0


def test_autoweighting_off_keeps_the_initial_weights_and_can_all_reduce() -> None:
    cost = DetectNetCost([1.0], [0.05], [[1.0, 10.0]], autoweighting=False)
    cost.record(torch.tensor([[0.3, 0.1]]))
    torch.testing.assert_close(cost.update_weights(), torch.tensor([[1 / 11, 10 / 11]]))
    reduced = DetectNetCost([1.0], [0.05], [[1.0, 1.0]], [[1.0, 1.0]])
    reduced.record(torch.tensor([[0.1, 0.3]]))
    seen = []
    weights = reduced.update_weights(all_reduce=lambda t: seen.append(t) or t * 2)
    assert len(seen) == 1 and weights.tolist()[0] == pytest.approx([0.75, 0.25])


def test_built_from_the_spec_section() -> None:
    config = CostFunctionConfig(min_objective_weight=0.01, enable_autoweighting=False)
    car = CostTargetClass(name="car", class_weight=2.0)
    person = CostTargetClass(name="person", coverage_foreground_weight=0.1, objectives=[
        Objective(name="bbox", initial_weight=3.0, weight_target=1.0),
        Objective(name="cov", initial_weight=1.0, weight_target=1.0)])
    cost = DetectNetCost.from_config(config, [car, person])
    torch.testing.assert_close(cost.class_weights, torch.tensor([2 / 3, 1 / 3]))
    torch.testing.assert_close(cost.foreground_weights, torch.tensor([0.05, 0.1]))
    torch.testing.assert_close(cost.objective_weights, torch.tensor([[1 / 11, 10 / 11],
                                                                     [0.25, 0.75]]))
    assert cost.min_weight == 0.01 and not cost.autoweighting
    state = cost.state_dict()  # a checkpoint carries the weights and sums
    assert set(state) >= {"objective_weights", "cost_sums"}
