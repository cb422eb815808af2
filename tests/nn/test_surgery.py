import torch
from torch import nn

from graft.nn.surgery import apply_layer_shapes, record_layer_shapes


def net(c: int = 16) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, c, 3, padding=1),
        nn.BatchNorm2d(c),
        nn.ReLU(),
        nn.Conv2d(c, 8, 1),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 5),
    )


def test_shapes_rebuild_a_narrower_network():
    small = net(8)
    shapes = record_layer_shapes(small)
    assert shapes["0"] == {"in": 3, "out": 8, "groups": 1} and shapes["1"] == {"features": 8}
    rebuilt = apply_layer_shapes(net(16), shapes)
    rebuilt.load_state_dict(small.state_dict())
    x = torch.rand(2, 3, 4, 4)
    small.eval(), rebuilt.eval()
    assert torch.allclose(small(x), rebuilt(x))
