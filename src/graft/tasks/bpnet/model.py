"""BpNetLite: the BodyPoseNet network (a stride-8 backbone plus multi-stage PAF/heatmap heads).

Layout (see REFERENCE.md, BodyPoseNet):

- backbone ``vgg19`` (default): VGG19-style Conv+BN+ReLU blocks 2x64, 2x128, 4x256, 2x512 with no
  max-pooling; the first conv of blocks 2, 3 and 4 has stride 2, so features come out at
  stride 8. ``resnet18`` and ``mobilenet_v2`` are torchvision backbones cut at stride 8 (faster,
  less accurate); ``efficientnet_lite0/1/2`` graft's EfficientNet-Lite cut at stride 8 (the end
  of its third stage, 40 channels for Lite0). All keep the names of their published weights
  (``backbone.features.7.weight``, ``backbone.layer1.0.conv1.weight``,
  ``backbone._blocks.3._depthwise_conv.weight``), so pretrained weights load by name: ``vgg19``
  from VGG-19-BN, resnet18/mobilenet_v2 from torchvision's, the Lites from their pip packages.
- neck: a 3x3 conv to 256 and a 3x3 "channel reduction" conv to 128 (Conv+BN+ReLU).
- stage 1: a shared trunk of three 3x3 convs (128), then per branch a 1x1 conv to 512 and a 1x1
  output conv (PAF: 2 x limbs channels, heatmap: joints + 1 background channel).
- stages 2..T: input concat(features, heatmap, paf), a shared trunk of five 7x7 convs (128), then
  per branch a 1x1 conv to 128 and a 1x1 output conv. ``refinement_kernel`` 3 or 5 instead of 7
  trades receptive field for speed: the refinement trunk is most of the compute (about 60 % of
  the ResNet-18 two-stage variant), and 3x3 roughly halves that variant's training time.

``use_self_attention`` adds to every stage a spatial attention gate: a 3x3 conv of the stage
trunk to one channel, a sigmoid, and an element-wise product with the trunk features before
the branches. It lets a stage damp background regions; it costs one small conv per stage.

In training mode ``forward`` returns every stage's ``(paf, heatmap)`` (all stages are
supervised); in eval mode it returns only ``(paf, heatmap)`` of ``output_stage`` (default: the
last stage) and skips the stages after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from graft.manifest import Manifest
from graft.nn.backbones import feature_trunk
from graft.tasks.bpnet.spec import BACKBONES, MAX_STAGES, MIN_STAGES

__all__ = ["BACKBONES", "MAX_STAGES", "MIN_STAGES", "BpNetLite", "build_model"]

STRIDE = 8
REFINEMENT_KERNELS = (3, 5, 7)


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def conv_relu(cin: int, cout: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.ReLU(inplace=True))


# bpnet backbone -> (graft.nn.backbones entry, keep max-pools). Every backbone keeps its
# torchvision parameter names, so torchvision's weights, a classification .graft of that
# network or another bpnet model load into it by name. BodyPoseNet's VGG-19 is torchvision's
# VGG-19-BN ``features`` up to conv4_2 (index 30) with each max-pool (6, 13, 26) replaced by
# stride 2 on the conv after it (7, 14, 27): the same tensors under the same names.
_BACKBONE_TRUNKS = {"vgg19": ("vgg19_bn", False), "resnet18": ("resnet18", True),
                    "mobilenet_v2": ("mobilenet_v2", True),
                    **{f"efficientnet_lite{i}": (f"efficientnet_lite{i}", True) for i in range(3)}}


def build_backbone(name: str) -> tuple[nn.Module, int]:
    """The stride-8 backbone and its output channels (vgg19 512, resnet18 128, mobilenet 32)."""
    if name not in _BACKBONE_TRUNKS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    arch, pooling = _BACKBONE_TRUNKS[name]
    return feature_trunk(arch, STRIDE, pooling=pooling)


class AttentionGate(nn.Module):
    """Spatial self-attention: ``x * sigmoid(conv3x3(x) -> 1 channel)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class Branch(nn.Module):
    """One prediction branch: a 1x1 hidden conv + ReLU, then the 1x1 output conv (the head)."""

    def __init__(self, cin: int, hidden: int, cout: int) -> None:
        super().__init__()
        self.hidden = conv_relu(cin, hidden, 1)
        self.out = nn.Conv2d(hidden, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x))


class Stage(nn.Module):
    """A prediction stage: shared trunk, optional attention gate, PAF and heatmap branches."""

    def __init__(self, cin: int, trunk: list[tuple[int, int]], hidden: int, paf_channels: int,
                 heat_channels: int, self_attention: bool) -> None:
        super().__init__()
        layers = []
        for width, kernel in trunk:
            layers.append(conv_relu(cin, width, kernel))
            cin = width
        self.trunk = nn.Sequential(*layers)
        self.attention = AttentionGate(cin) if self_attention else nn.Identity()
        self.paf = Branch(cin, hidden, paf_channels)
        self.heatmap = Branch(cin, hidden, heat_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.attention(self.trunk(x))
        return self.paf(x), self.heatmap(x)


class BpNetLite(nn.Module):
    """Multi-stage bottom-up pose network; see the module docstring for the layout."""

    stride = STRIDE

    def __init__(self, heat_channels: int = 19, paf_channels: int = 38, stages: int = 3,
                 backbone: str = "vgg19", use_self_attention: bool = False,
                 output_stage: int | None = None, refinement_kernel: int = 7) -> None:
        super().__init__()
        if not MIN_STAGES <= stages <= MAX_STAGES:
            raise ValueError(f"stages must be in {MIN_STAGES}..{MAX_STAGES}, got {stages}")
        if refinement_kernel not in REFINEMENT_KERNELS:
            raise ValueError(f"refinement_kernel must be one of {REFINEMENT_KERNELS}, "
                             f"got {refinement_kernel}")
        self.heat_channels, self.paf_channels, self.num_stages = heat_channels, paf_channels, stages
        self.backbone, width = build_backbone(backbone)
        self.neck = nn.Sequential(conv_bn_relu(width, 256), conv_bn_relu(256, 128))
        feat = 128
        self.stages = nn.ModuleList(
            [Stage(feat, [(128, 3)] * 3, 512, paf_channels, heat_channels, use_self_attention)]
        )
        refine_in = feat + heat_channels + paf_channels
        for _ in range(stages - 1):
            self.stages.append(Stage(refine_in, [(128, refinement_kernel)] * 5, 128, paf_channels,
                                     heat_channels, use_self_attention))
        self.output_stage = output_stage
        self.reset_parameters()

    @property
    def output_stage(self) -> int | None:
        """1-based stage whose maps eval mode returns; ``None`` means the last stage."""
        return self._output_stage

    @output_stage.setter
    def output_stage(self, value: int | None) -> None:
        if value is not None and not 1 <= value <= self.num_stages:
            raise ValueError(f"output stage must be in 1..{self.num_stages}, got {value}")
        self._output_stage = value

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        # Heads start small so the first predictions are near the (mostly zero) targets.
        for head in self.heads():
            nn.init.normal_(head.weight, std=0.01)
            nn.init.zeros_(head.bias)

    def heads(self) -> list[nn.Conv2d]:
        """The 1x1 output convs of every stage (never pruned: their channels are the maps)."""
        return [m for stage in self.stages for m in (stage.paf.out, stage.heatmap.out)]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x))

    def forward(self, x: torch.Tensor):
        feats = self.features(x)
        last = self.num_stages if self.training or self.output_stage is None else self.output_stage
        outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        paf, heat = self.stages[0](feats)
        outputs.append((paf, heat))
        for stage in self.stages[1:last]:
            paf, heat = stage(torch.cat([feats, heat, paf], dim=1))
            outputs.append((paf, heat))
        if self.training:
            return outputs
        return outputs[-1]

    # -- optimizer support ---------------------------------------------------------------
    def lr_multiplier_groups(self) -> list[dict[str, Any]]:
        """Stagewise LR multipliers: backbone and stage 1 kernels x1 / biases x2, later stages
        kernels x4 / biases x8 (the original OpenPose schedule that BodyPoseNet keeps).

        Norm layers count as kernels. Returns ``[{"params", "lr_mult", "name"}]`` groups.
        """
        groups: dict[str, tuple[float, list[nn.Parameter]]] = {
            "early_kernels": (1.0, []), "early_biases": (2.0, []),
            "refine_kernels": (4.0, []), "refine_biases": (8.0, []),
        }
        for name, param in self.named_parameters():
            later = name.startswith("stages.") and int(name.split(".")[1]) > 0
            bias = name.endswith(".bias") and self._is_conv_bias(name)
            key = ("refine_" if later else "early_") + ("biases" if bias else "kernels")
            groups[key][1].append(param)
        return [{"params": params, "lr_mult": mult, "name": key}
                for key, (mult, params) in groups.items() if params]

    def _is_conv_bias(self, param_name: str) -> bool:
        module = self.get_submodule(param_name.rsplit(".", 1)[0])
        return isinstance(module, nn.Conv2d)

    def iter_kernels(self) -> Iterator[torch.Tensor]:
        """Conv kernels (what TLT's kernel regularizer acts on)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                yield m.weight


def architecture_dict(pose_config: dict[str, Any], *, backbone: str = "vgg19", stages: int = 3,
                      use_self_attention: bool = False, refinement_kernel: int = 7
                      ) -> dict[str, Any]:
    """The manifest ``architecture`` section for :func:`build_model` (pose config included)."""
    from graft.tasks.bpnet.pose_config import PoseConfig

    pose = PoseConfig.model_validate(pose_config)
    return {
        "name": "bpnet_lite",
        "backbone": backbone,
        "stages": stages,
        "use_self_attention": use_self_attention,
        "refinement_kernel": refinement_kernel,
        "heat_channels": pose.heatmap_channels,
        "paf_channels": pose.paf_channels,
        "stride": STRIDE,
        "pose_config": pose.model_dump(mode="json"),
    }


def build_model(architecture: dict[str, Any]) -> BpNetLite:
    """Rebuild the network from a manifest's ``architecture`` section (random init)."""
    heat, paf = architecture.get("heat_channels"), architecture.get("paf_channels")
    if (heat is None or paf is None) and "pose_config" in architecture:
        from graft.tasks.bpnet.pose_config import PoseConfig

        pose = PoseConfig.model_validate(architecture["pose_config"])
        heat, paf = pose.heatmap_channels, pose.paf_channels
    return BpNetLite(
        heat_channels=int(heat if heat is not None else 19),
        paf_channels=int(paf if paf is not None else 38),
        stages=int(architecture.get("stages", 3)),
        backbone=str(architecture.get("backbone", "vgg19")),
        use_self_attention=bool(architecture.get("use_self_attention", False)),
        output_stage=architecture.get("output_stage"),
        refinement_kernel=int(architecture.get("refinement_kernel", 7)),
    )


# Files written before the backbones kept torchvision's names held them as nn.Sequential
# slices: old child name -> today's name. VGG: conv k was "k.0" and its BN "k.1" (no conv bias).
_OLD_VGG_CONVS = (0, 3, 7, 10, 14, 17, 20, 23, 27, 30)
_OLD_BACKBONE_NAMES = {
    "vgg19": {f"{k}.{j}": f"features.{i + j}" for k, i in enumerate(_OLD_VGG_CONVS)
              for j in (0, 1)},
    "resnet18": {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2"},
    "mobilenet_v2": {str(i): f"features.{i}" for i in range(7)},
}


def _renamed(name: str, table: dict[str, str]) -> str:
    if not name.startswith("backbone."):
        return name
    rest = name.removeprefix("backbone.")
    for old in sorted(table, key=len, reverse=True):
        if rest == old or rest.startswith(old + "."):
            return f"backbone.{table[old]}{rest[len(old):]}"
    return name


def upgrade_archive(tensors: dict[str, torch.Tensor], manifest: Manifest
                    ) -> tuple[dict[str, torch.Tensor], Manifest]:
    """Rename an older file's backbone tensors and recorded layer shapes to today's names.

    Keyed on the file's content: old files have ``backbone.<digit>`` tensors, which today's
    backbones never have; other files come back unchanged. The old VGG convs had no bias (a
    BN follows each), so they get a zero one: the same function.
    """
    if not any(k.startswith("backbone.") and k.split(".")[1].isdigit() for k in tensors):
        return tensors, manifest
    arch = dict(manifest.architecture)
    table = _OLD_BACKBONE_NAMES[str(arch.get("backbone", "vgg19"))]
    new = {_renamed(k, table): v for k, v in tensors.items()}
    if arch.get("backbone", "vgg19") == "vgg19":
        for i in _OLD_VGG_CONVS:
            weight = new[f"backbone.features.{i}.weight"]
            new.setdefault(f"backbone.features.{i}.bias", weight.new_zeros(weight.shape[0]))
    if "layer_shapes" in arch:
        arch["layer_shapes"] = {_renamed(k, table): v for k, v in arch["layer_shapes"].items()}
    return new, manifest.updated(architecture=arch)


class PafUpsampleHead(nn.Module):
    """Upsamples the PAF map 2x with a depthwise ConvTranspose initialized to bilinear
    interpolation (fixed weights), and passes the heatmap through. Used only at export."""

    def __init__(self, paf_channels: int, factor: int = 2) -> None:
        super().__init__()
        k = 2 * factor
        self.up = nn.ConvTranspose2d(paf_channels, paf_channels, k, stride=factor,
                                     padding=factor // 2, groups=paf_channels, bias=False)
        center = (k - 1) / 2
        ramp = 1 - torch.abs(torch.arange(k, dtype=torch.float32) - center) / factor
        kernel = ramp[:, None] * ramp[None, :]
        with torch.no_grad():
            self.up.weight.copy_(kernel.expand(paf_channels, 1, k, k))
        self.up.weight.requires_grad_(False)

    def forward(
        self, paf: torch.Tensor, heatmap: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.up(paf), heatmap
