"""EfficientNet-Lite's layout (stages, widths, depths, taps) as plain numbers, without torch.

:mod:`graft.nn.backbones` reads it to list the Lites' blocks and taps, and spec files validate
against that table, without loading PyTorch; :mod:`graft.nn.efficientnet_lite` builds the
network from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STEM_CHANNELS = 32  # fixed in the Lite variants
HEAD_CHANNELS = 1280  # fixed in the Lite variants

# The seven stages of EfficientNet-B0: (repeats, kernel, stride, expand ratio, output channels).
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))


@dataclass(frozen=True)
class Variant:
    width: float  # channel multiplier (not for the stem and head)
    depth: float  # repeat multiplier (not for the first and last stage)
    resolution: int  # the input side the ImageNet weights were trained at
    dropout: float


VARIANTS = {
    "efficientnet_lite0": Variant(1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": Variant(1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": Variant(1.1, 1.2, 260, 0.3),
}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """TF's channel rounding: scale, round to a multiple of 8, never more than 10 % down."""
    if width == 1.0:
        return channels
    scaled = channels * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * scaled else new)


def stage_layout(variant: Variant) -> list[tuple[int, int, int, int, int, int]]:
    """Per stage: (repeats, kernel, stride, expand, input channels, output channels)."""
    layout, cin = [], STEM_CHANNELS
    last = len(STAGES) - 1
    for i, (repeats, kernel, stride, expand, cout) in enumerate(STAGES):
        if 0 < i < last:  # the Lite variants keep the first and last stage's depth
            repeats = math.ceil(variant.depth * repeats)
        cout = round_filters(cout, variant.width)
        layout.append((repeats, kernel, stride, expand, cin, cout))
        cin = cout
    return layout


def stage_block_ranges(variant: str) -> list[tuple[int, int]]:
    """``[start, end)`` indices into ``_blocks`` of each of the seven stages."""
    ranges, start = [], 0
    for repeats, *_ in stage_layout(VARIANTS[variant]):
        ranges.append((start, start + repeats))
        start += repeats
    return ranges


def tap_blocks(variant: str) -> dict[int, int]:
    """Output stride -> how many of ``_blocks`` compute it: all blocks up to the last one at
    that stride (8: end of stage 3, 40 channels; 16: end of stage 5, 112; 32: all of them)."""
    taps, stride, end = {}, 2, 0
    for repeats, _kernel, s, *_ in stage_layout(VARIANTS[variant]):
        stride, end = stride * s, end + repeats
        taps[stride] = end
    return {s: taps[s] for s in (8, 16, 32)}
