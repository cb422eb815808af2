"""The DetectNet_v2 network: a stride-16 backbone and two 1x1 heads.

API::

    net = DetectNetV2("resnet18", num_classes=2)          # or build_model(manifest["architecture"])
    cov, bbox = net(images)    # images (B, 3, H, W), H and W multiples of 16
    # cov  (B, C, H/16, W/16)   sigmoid coverage per class      -> ONNX "output_cov/Sigmoid"
    # bbox (B, 4C, H/16, W/16)  L, T, R, B per class (class-major: channel 4c + k)
    #                                                           -> ONNX "output_bbox/BiasAdd"
    net.heads()                # the two output convs (pruning must keep their channels)
    net.freeze_blocks([0, 1])  # TLT's freeze_blocks on the backbone

The backbone is a torchvision network cut at stride 16 (:func:`graft.nn.backbones.feature_trunk`)
under torchvision's parameter names, so ImageNet weights, a classification ``.graft`` of the
same network or another DetectNet_v2 model load by name (``backbone.layer1.0.conv1.weight``).
The export step names the input :data:`INPUT_NAME` and the outputs :data:`OUTPUT_NAMES`, as
TLT's models do, so DeepStream's nvinfer configs for DetectNet_v2 work unchanged.

Architectures (TLT's set where torchvision has it): resnet10/18/34/50, vgg16, mobilenet_v2,
efficientnet_b0, and the efficientnet_lite variants when :mod:`graft.nn.backbones` has them.

- ``use_batch_norm``: torchvision's ResNets, MobileNet and EfficientNets always have batch
  norm, so only ``vgg16`` can go without (``true`` selects torchvision's ``vgg16_bn``).
- ``all_projections`` (ResNets): torchvision's ResNets, like TLT's with ``all_projections:
  false``, use a 1x1 projection shortcut only where a block changes shape and the identity
  elsewhere. ``true`` gives every other block a 1x1 conv + batch-norm shortcut too (TLT's
  layout), under torchvision's name for it (``layerN.M.downsample.0/1``). Those convs start as
  the identity; torchvision's ImageNet weights have no values for them. TLT uses them so
  that pruning can cut every block's output independently; graft's pruner follows the
  identity shortcuts' channel coupling either way.

The heads start small (weights N(0, 0.01)) and the coverage head's bias at -6.9, so an
untrained network predicts coverage about 0.001 everywhere, below the default clustering
threshold 0.005. TLT starts at glorot-uniform weights and zero bias (coverage around 0.5):
its first validations run DBSCAN over every cell of every image (about 0.1 s per image and
class at 384 x 1248). The BCE gradient of an object cell is the same from either start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from graft.errors import UserError
from graft.nn.backbones import check_arch, feature_trunk
from graft.tasks.detectnet_v2.data_spec import STRIDE
from graft.tasks.detectnet_v2.spec import ARCHS

INPUT_NAME = "input_1"
OUTPUT_NAMES = ("output_cov/Sigmoid", "output_bbox/BiasAdd")
INITIAL_COVERAGE = 0.001


def trunk_arch(arch: str, use_batch_norm: bool = True) -> str:
    """The :mod:`graft.nn.backbones` entry that builds ``arch`` with or without batch norm."""
    if arch not in ARCHS:
        raise UserError(f"unknown DetectNet_v2 arch {arch!r}", f"choose one of: {', '.join(ARCHS)}")
    if arch == "vgg16":
        return "vgg16_bn" if use_batch_norm else "vgg16"
    if not use_batch_norm:
        raise UserError(f"{arch} has batch norm in every block (torchvision's network), so "
                        "use_batch_norm: false is not available for it",
                        "set use_batch_norm: true, or use arch vgg16 for a network without it")
    return arch


def add_projection_shortcuts(trunk: nn.Module) -> list[str]:
    """Give every ResNet block with an identity shortcut a 1x1 conv + BN one (identity init).

    Returns the names of the new shortcut modules.
    """
    added = []
    for name, block in trunk.named_modules():
        if not hasattr(block, "downsample") or block.downsample is not None:
            continue
        channels = block.conv1.in_channels
        conv = nn.Conv2d(channels, channels, 1, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.eye(channels)[:, :, None, None])
        block.downsample = nn.Sequential(conv, nn.BatchNorm2d(channels))
        added.append(f"{name}.downsample")
    return added


class DetectNetV2(nn.Module):
    """Backbone (stride 16) -> ``output_cov`` (C, sigmoid) and ``output_bbox`` (4C, linear)."""

    stride = STRIDE

    def __init__(self, arch: str = "resnet18", num_classes: int = 1, *,
                 use_batch_norm: bool = True, all_projections: bool = False) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError("at least one class is needed")
        self.arch = arch
        self.trunk_arch = trunk_arch(arch, use_batch_norm)
        self.num_classes = num_classes
        self.backbone, channels = feature_trunk(self.trunk_arch, STRIDE)
        if all_projections:
            if not arch.startswith("resnet"):
                raise UserError(f"all_projections applies to resnet archs, not {arch}",
                                "remove it or set it to false")
            add_projection_shortcuts(self.backbone)
        self.output_cov = nn.Conv2d(channels, num_classes, 1)
        self.output_bbox = nn.Conv2d(channels, 4 * num_classes, 1)
        self.reset_heads()

    def reset_heads(self) -> None:
        for head in self.heads():
            nn.init.normal_(head.weight, std=0.01)
            nn.init.zeros_(head.bias)
        nn.init.constant_(self.output_cov.bias, math.log(INITIAL_COVERAGE / (1 - INITIAL_COVERAGE)))

    def heads(self) -> list[nn.Conv2d]:
        """The output convs: their channels are the classes, never to be pruned."""
        return [self.output_cov, self.output_bbox]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)
        return torch.sigmoid(self.output_cov(features)), self.output_bbox(features)

    def freeze_blocks(self, blocks: Sequence[int]) -> list[str]:
        """Freeze backbone blocks (0 = stem) as TLT's ``freeze_blocks``; returns module names."""
        table = check_arch(self.trunk_arch).blocks
        present = dict(self.backbone.named_modules())
        usable = [i for i, names in enumerate(table) if any(n in present for n in names)]
        frozen = []
        for b in blocks:
            if b not in usable:
                raise UserError(f"freeze_blocks index {b} is not a block of {self.arch}'s "
                                "stride-16 backbone", f"use {usable[0]}..{usable[-1]}")
            for name in (n for n in table[b] if n in present):
                for p in present[name].parameters():
                    p.requires_grad_(False)
                frozen.append(name)
        return frozen


def architecture_dict(arch: str, class_names: Sequence[str], *, use_batch_norm: bool = True,
                      all_projections: bool = False) -> dict[str, Any]:
    """The manifest ``architecture`` section for :func:`build_model`."""
    return {"name": "detectnet_v2", "arch": arch, "num_classes": len(class_names),
            "class_names": list(class_names), "use_batch_norm": use_batch_norm,
            "all_projections": all_projections, "stride": STRIDE}


def build_model(architecture: dict[str, Any]) -> DetectNetV2:
    """Rebuild the network from a manifest's ``architecture`` section (random init)."""
    classes = architecture.get("class_names")
    num = architecture.get("num_classes", len(classes) if classes else 1)
    return DetectNetV2(str(architecture.get("arch", "resnet18")), int(num),
                       use_batch_norm=bool(architecture.get("use_batch_norm", True)),
                       all_projections=bool(architecture.get("all_projections", False)))
