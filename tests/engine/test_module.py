from types import SimpleNamespace

import pytest
import torch
from torch import nn

from graft.engine.config import LRScheduleSpec, OptimizerSpec, RegularizerSpec
from graft.engine.module import GraftModule


class TwoGroups(GraftModule):
    def param_groups(self):
        return [
            {"params": list(self.net[0].parameters()), "lr_mult": 1.0, "name": "a"},
            {"params": list(self.net[1].parameters()), "lr_mult": 4.0, "name": "b"},
        ]


def make(reg: RegularizerSpec, cls=GraftModule) -> GraftModule:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    m = cls(
        net,
        OptimizerSpec(name="sgd", momentum=0.0),
        LRScheduleSpec(name="constant", learning_rate=0.1),
        reg,
    )
    m.trainer = SimpleNamespace(estimated_stepping_batches=10, max_epochs=2)  # type: ignore[assignment]
    return m


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_regularizer_adds_gradient_on_kernels_only(kind):
    m = make(RegularizerSpec(type=kind, weight=0.01))
    for p in m.parameters():
        p.grad = torch.zeros_like(p)
    m.on_before_optimizer_step(None)
    w = m.net[0].weight
    expected = 0.01 * (w.sign() if kind == "l1" else 2 * w)
    assert torch.allclose(w.grad, expected)
    assert torch.count_nonzero(m.net[0].bias.grad) == 0  # biases are not regularized


def test_lr_multipliers_become_param_group_rates():
    m = make(RegularizerSpec(type="none"), TwoGroups)
    opt = m.configure_optimizers()["optimizer"]
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.4])
    assert [g["name"] for g in opt.param_groups] == ["a", "b"]
