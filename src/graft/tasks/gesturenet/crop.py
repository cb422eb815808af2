"""The hand crop of GestureNet: the one rule training, evaluation, inference and the video app
share, so a model sees at run time exactly the crops it was trained on.

A detector's box is tight; GestureNet was trained on a margin around the hand. The box is made
square (its longer side) and enlarged by ``ratio`` about its centre, then cut out of the image.
Where that region runs past the image, the cut is clipped to the image and the missing part is
padded with zeros (so the hand keeps its aspect ratio instead of being stretched), then resized.
The rule is recorded in the model file (``manifest.input.crop``): :meth:`CropRule.of` reads it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

CLASSES = ["thumbs_up", "fist", "stop", "ok", "two", "random"]

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class CropRule:
    """How a hand box becomes the crop fed to the network (recorded in the model file)."""

    ratio: float = 1.1
    square: bool = True
    border: str = "zeros"  # what fills the part of the region outside the image

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, source: CropRule | Mapping[str, Any] | None) -> CropRule:
        """From a rule, the ``crop`` dict of a manifest's input, or a model's input dict
        (``{"crop": {...}, ...}``); None: the defaults."""
        if source is None or isinstance(source, CropRule):
            return source or cls()
        data = source.get("crop", source)
        return cls(ratio=float(data.get("ratio", 1.1)), square=bool(data.get("square", True)),
                   border=str(data.get("border", "zeros")))


def enlarged_box(box: Sequence[float], ratio: float = 1.1, square: bool = True) -> Box:
    """(x1, y1, x2, y2) grown by ``ratio`` about its centre (square: on its longer side);
    not clipped, so it may extend past the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if not (w > 0 and h > 0) or not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ValueError(f"box {tuple(box)} is empty or not finite")
    if ratio <= 0:
        raise ValueError(f"crop ratio must be positive, got {ratio}")
    if square:
        w = h = max(w, h)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return cx - w * ratio / 2, cy - h * ratio / 2, cx + w * ratio / 2, cy + h * ratio / 2


def _pixels(box: Box) -> tuple[int, int, int, int]:
    """Integer pixel region covering ``box`` (floor of the start, ceil of the end)."""
    return (math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3]))


def crop_box(box: Sequence[float], image_size: tuple[int, int], ratio: float = 1.1,
             square: bool = True) -> tuple[int, int, int, int]:
    """The pixel region (x1, y1, x2, y2) cut from an image of ``image_size`` (width, height):
    the enlarged box, clipped to the image on every side (each edge on its own, so the far
    edge stays a coordinate and the width is x2 - x1). Raises ValueError for a box that does
    not overlap the image."""
    width, height = image_size
    x1, y1, x2, y2 = _pixels(enlarged_box(box, ratio, square))
    cx1, cy1 = min(max(x1, 0), width), min(max(y1, 0), height)
    cx2, cy2 = min(max(x2, 0), width), min(max(y2, 0), height)
    if cx2 <= cx1 or cy2 <= cy1:
        raise ValueError(f"box {tuple(box)} lies outside the {width}x{height} image")
    return cx1, cy1, cx2, cy2


def preprocess(image: torch.Tensor, box: Sequence[float], rule: CropRule | Mapping[str, Any]
               | None = None, size: tuple[int, int] = (160, 160)) -> torch.Tensor:
    """uint8 RGB image (3, H, W) and a hand box in pixels -> the uint8 (3, *size) crop the
    network takes (normalize it with the model's ``input.normalization``, e.g. by
    :func:`graft.data.preprocess.normalize`)."""
    import torch
    from torchvision.transforms.v2 import functional as TF

    rule = CropRule.of(rule)
    h, w = image.shape[-2:]
    x1, y1, x2, y2 = crop_box(box, (w, h), rule.ratio, rule.square)
    cut = image[..., y1:y2, x1:x2]
    rx1, ry1, rx2, ry2 = _pixels(enlarged_box(box, rule.ratio, rule.square))
    if (rx1, ry1, rx2, ry2) != (x1, y1, x2, y2):  # the region runs past the image: pad
        region = torch.zeros((*image.shape[:-2], ry2 - ry1, rx2 - rx1), dtype=image.dtype)
        region[..., y1 - ry1:y2 - ry1, x1 - rx1:x2 - rx1] = cut
        cut = region
    return TF.resize(cut, list(size), antialias=True)


def preprocess_batch(image: torch.Tensor, boxes: Sequence[Sequence[float]],
                     model_input: Mapping[str, Any]) -> torch.Tensor:
    """Every hand of one frame as the normalized float batch a GestureNet model takes;
    ``model_input`` is the model's input section (``manifest.input`` or a runner's
    ``info.input``: height, width, crop, normalization)."""
    import torch

    from graft.data.preprocess import normalize

    size = (int(model_input["height"]), int(model_input["width"]))
    crops = [preprocess(image, b, CropRule.of(model_input), size) for b in boxes]
    if not crops:
        return torch.zeros((0, image.shape[0], *size))
    return normalize(torch.stack(crops), model_input["normalization"])
