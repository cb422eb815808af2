"""Classification backbones from torchvision, with a uniform head and freezable blocks.

``resnet10`` is not in torchvision; it is torchvision's ResNet with one BasicBlock per stage,
the depth TLT ships for its light detectors and classifiers.
"""

from __future__ import annotations

from collections.abc import Callable

import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from graft.errors import UserError


def _resnet10(**kwargs) -> ResNet:
    return ResNet(BasicBlock, [1, 1, 1, 1], **kwargs)


def _tv(name: str) -> Callable[..., nn.Module]:
    return lambda **kw: torchvision.models.get_model(name, weights=None, **kw)


# name -> (constructor, dotted path of the final classifier layer, freezable block prefixes)
_RESNET_BLOCKS = [["conv1", "bn1"], ["layer1"], ["layer2"], ["layer3"], ["layer4"]]
BACKBONES: dict[str, tuple[Callable[..., nn.Module], str, list[list[str]]]] = {
    "resnet10": (_resnet10, "fc", _RESNET_BLOCKS),
    "resnet18": (_tv("resnet18"), "fc", _RESNET_BLOCKS),
    "resnet34": (_tv("resnet34"), "fc", _RESNET_BLOCKS),
    "resnet50": (_tv("resnet50"), "fc", _RESNET_BLOCKS),
    "vgg16": (
        _tv("vgg16"),
        "classifier.6",
        [
            [f"features.{i}" for i in r]
            for r in (range(0, 5), range(5, 10), range(10, 17), range(17, 24), range(24, 31))
        ],
    ),
    "vgg19": (
        _tv("vgg19"),
        "classifier.6",
        [
            [f"features.{i}" for i in r]
            for r in (range(0, 5), range(5, 10), range(10, 19), range(19, 28), range(28, 37))
        ],
    ),
    "alexnet": (
        _tv("alexnet"),
        "classifier.6",
        [
            ["features.0", "features.1", "features.2"],
            ["features.3", "features.4", "features.5"],
            ["features.6", "features.7", "features.8", "features.9", "features.10", "features.11"],
        ],
    ),
    "googlenet": (
        lambda **kw: torchvision.models.get_model(
            "googlenet", weights=None, aux_logits=False, init_weights=True, **kw
        ),
        "fc",
        [
            ["conv1", "maxpool1", "conv2", "conv3", "maxpool2"],
            ["inception3a", "inception3b"],
            ["inception4a", "inception4b", "inception4c", "inception4d", "inception4e"],
            ["inception5a", "inception5b"],
        ],
    ),
    "mobilenet_v2": (
        _tv("mobilenet_v2"),
        "classifier.1",
        [
            ["features.0", "features.1"],
            ["features.2", "features.3"],
            ["features.4", "features.5", "features.6"],
            [f"features.{i}" for i in range(7, 14)],
            [f"features.{i}" for i in range(14, 19)],
        ],
    ),
    "efficientnet_b0": (
        _tv("efficientnet_b0"),
        "classifier.1",
        [
            ["features.0", "features.1"],
            ["features.2"],
            ["features.3"],
            ["features.4", "features.5"],
            ["features.6", "features.7", "features.8"],
        ],
    ),
}


def check_arch(arch: str) -> None:
    if arch not in BACKBONES:
        raise UserError(f"unknown architecture {arch!r}", f"choose one of: {', '.join(BACKBONES)}")


def _get(module: nn.Module, dotted: str) -> nn.Module:
    for part in dotted.split("."):
        module = getattr(module, part) if not part.isdigit() else module[int(part)]
    return module


def _set(module: nn.Module, dotted: str, new: nn.Module) -> None:
    parent, _, child = dotted.rpartition(".")
    owner = _get(module, parent) if parent else module
    if child.isdigit():
        owner[int(child)] = new
    else:
        setattr(owner, child, new)


def classifier_name(arch: str) -> str:
    check_arch(arch)
    return BACKBONES[arch][1]


def build_classifier(arch: str, num_classes: int, dropout: float = 0.0) -> nn.Module:
    """A torchvision network with a fresh ``num_classes`` head (dropout in front if asked)."""
    check_arch(arch)
    ctor, head, _ = BACKBONES[arch]
    net = ctor()
    old = _get(net, head)
    new: nn.Module = nn.Linear(old.in_features, num_classes)
    if dropout > 0 and head == "fc":
        new = nn.Sequential(nn.Dropout(dropout), new)
    elif dropout > 0:  # the other heads already have dropout layers: set their rate
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.p = dropout
    _set(net, head, new)
    return net


def freeze_blocks(net: nn.Module, arch: str, blocks: list[int]) -> list[str]:
    """Freeze the given block indices (0 = stem); returns the frozen module names."""
    check_arch(arch)
    table = BACKBONES[arch][2]
    frozen = []
    for b in blocks:
        if not 0 <= b < len(table):
            raise UserError(
                f"freeze_blocks index {b} out of range for {arch}", f"use 0..{len(table) - 1}"
            )
        for name in table[b]:
            for p in _get(net, name).parameters():
                p.requires_grad_(False)
            frozen.append(name)
    return frozen
