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


def test_shapes_of_another_architecture_are_a_one_line_error():
    import pytest

    from graft.errors import ArchiveError

    with pytest.raises(ArchiveError, match="layer 'head.9' of the manifest's layer_shapes is not"):
        apply_layer_shapes(net(16), {"head.9": {"in": 3, "out": 8, "groups": 1}})
    with pytest.raises(ArchiveError, match="recorded shape of layer '1'.*BatchNorm2d"):
        apply_layer_shapes(net(16), {"1": {"in": 3, "out": 8}})  # a conv's record on a norm
    with pytest.raises(ArchiveError, match="not a mapping"):
        apply_layer_shapes(net(16), ["0"])


def test_pruned_layers_are_those_with_fewer_output_channels():
    from graft.nn.surgery import pruned_layers

    stock, small = record_layer_shapes(net(16)), record_layer_shapes(net(8))
    assert pruned_layers(stock, small) == ["0"]  # the BN shrank too, but it is not a filter
    assert pruned_layers(stock, stock) == []
