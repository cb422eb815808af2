"""The backbone table: torchvision's parameter names everywhere, and taps at their strides."""

from __future__ import annotations

import re

import pytest
import torch
import torchvision
from torch import nn

from graft.nn.backbones import BACKBONES, build_classifier, classifier_name, feature_trunk
from graft.nn.pretrained import PACKAGED, weights_file


def _torchvision_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Names and shapes of torchvision's own network (what its weight files hold); resnet10's
    reference is ResNet-18, whose weights fill it; the EfficientNet-Lites' the ImageNet weight
    files of their pip packages (graft's pretrained extra)."""
    if name in PACKAGED:
        state = torch.load(weights_file(name), map_location="cpu", weights_only=True)
        return {k: tuple(v.shape) for k, v in state.items()}
    name = "resnet18" if name == "resnet10" else name
    extra = {"init_weights": True} if name == "googlenet" else {}
    with torch.device("meta"):  # no memory, no init: VGG alone is 140 M parameters
        net = torchvision.models.get_model(name, weights=None, **extra)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


@pytest.mark.parametrize("arch", [a for a in BACKBONES if a != "resnet10"])
def test_every_classifier_has_torchvision_names_and_shapes(arch: str) -> None:
    with torch.device("meta"):
        ours = build_classifier(arch, 5).state_dict()
    theirs = _torchvision_shapes(arch)
    head = classifier_name(arch)
    body = {k: tuple(v.shape) for k, v in ours.items() if not k.startswith(head + ".")}
    assert body == {k: s for k, s in theirs.items() if k in body}
    assert set(body) <= set(theirs)
    # torchvision has nothing else but the head and GoogLeNet's training-only aux classifiers
    extra = set(theirs) - set(body) - {f"{head}.weight", f"{head}.bias"}
    assert theirs[f"{head}.weight"][0] == 1000  # ImageNet's head: the one left out
    assert all(k.startswith(("aux1.", "aux2.")) for k in extra), sorted(extra)[:3]


def test_resnet10_is_resnet18_with_one_block_per_stage() -> None:
    with torch.device("meta"):
        ours = build_classifier("resnet10", 5).state_dict()
    theirs = _torchvision_shapes("resnet10")
    assert all(theirs[k] == tuple(v.shape) for k, v in ours.items() if not k.startswith("fc."))
    assert not any(re.match(r"layer\d\.1\.", k) for k in ours)


TAPS = [(arch, stride) for arch, entry in BACKBONES.items() for stride in entry.taps]


@pytest.mark.parametrize(("arch", "stride"), TAPS)
def test_every_tap_has_its_stride_and_the_network_names(arch: str, stride: int) -> None:
    trunk, channels = feature_trunk(arch, stride)
    with torch.no_grad():
        out = trunk.eval()(torch.rand(1, 3, 64, 96))
    assert out.shape == (1, channels, 64 // stride, 96 // stride)
    theirs = _torchvision_shapes(arch)
    ours = {k: tuple(v.shape) for k, v in trunk.state_dict().items()}
    assert ours == {k: theirs[k] for k in ours}
    assert all(torch.isfinite(v).all() for v in trunk.state_dict().values())  # allocated, set
    has_norm = any(k.endswith("running_mean") for k in theirs)  # plain VGG has none
    assert any(isinstance(m, nn.BatchNorm2d) for m in trunk.modules()) == has_norm


def test_vgg_without_pooling_strides_the_conv_after_each_pool() -> None:
    pooled, channels = feature_trunk("vgg19_bn", 8)
    strided, same = feature_trunk("vgg19_bn", 8, pooling=False)
    assert channels == same == 512
    assert not any(isinstance(m, nn.MaxPool2d) for m in strided.modules())
    convs = {k: m.stride[0] for k, m in strided.named_modules() if isinstance(m, nn.Conv2d)}
    assert [k for k, s in convs.items() if s == 2] == ["features.7", "features.14", "features.27"]
    assert list(convs)[-1] == "features.30"  # conv4_2: OpenPose's VGG-19 front end
    assert strided.state_dict().keys() == pooled.state_dict().keys()
    with torch.no_grad():
        assert strided(torch.rand(1, 3, 32, 32)).shape == (1, 512, 4, 4)


def test_a_missing_tap_is_named() -> None:
    with pytest.raises(ValueError, match="no stride-8 tap"):
        feature_trunk("alexnet", 8)
