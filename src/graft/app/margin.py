"""The crop a second-stage classifier sees: a detector's tight box enlarged by a margin,
optionally made square, clipped to the frame.

The classifier was trained on enlarged crops, so the app must crop the same way: a margin that
scales with the box (``ratio``, TAO's square crop enlarged 1.1-1.2x) or a fixed number of pixels
(``pixels``, the DeepStream sample's 200 px). Clipping keeps both edges: the enlarged box is
``(x1 - m, x2 + m)`` clipped to ``[0, W]`` and its width is ``x2 - x1`` *after* clipping. (The
C sample stored a clipped right-edge coordinate as a width, so its crops ran past the frame by
the box's left coordinate.) Where the enlarged region runs past the frame, ``border`` says
what the classifier sees: ``zeros`` pads the missing part (the hand keeps its aspect ratio, as
GestureNet's training crops), ``clip`` cuts only the part inside the frame. The drawn box stays
the detector's original box. A classifier's model file records its rule (``input.crop``:
ratio, square, border), which :meth:`CropRule.from_manifest` reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from graft.errors import UserError

MarginMode = Literal["ratio", "pixels"]
Border = Literal["zeros", "clip"]


@dataclass(frozen=True)
class CropRule:
    """How a box becomes a crop.

    ``mode`` ratio: the box side(s) times ``value`` (1.0 = no margin); pixels: ``value`` pixels
    added on every side. ``square``: both sides become the longer one (centred), as in
    GestureNet's training crops. ``border``: zeros or clip (module docstring). ``min_size``:
    boxes whose shorter side is under this many pixels are not classified."""

    mode: MarginMode = "ratio"
    value: float = 1.1
    square: bool = True
    border: Border = "zeros"
    min_size: float = 0

    def __post_init__(self) -> None:
        if self.mode not in ("ratio", "pixels"):
            raise UserError(f"margin mode must be ratio or pixels, got {self.mode!r}")
        if self.border not in ("zeros", "clip"):
            raise UserError(f"crop border must be zeros or clip, got {self.border!r}")
        if self.mode == "ratio" and self.value <= 0:
            raise UserError(f"a margin ratio must be > 0, got {self.value}",
                            "use 1.0 for the box itself, 1.1-1.2 for GestureNet")
        if self.mode == "pixels" and self.value < 0:
            raise UserError(f"a pixel margin must be >= 0, got {self.value}")
        if self.min_size < 0:
            raise UserError(f"the minimum box size must be >= 0, got {self.min_size}")

    @classmethod
    def from_manifest(cls, model_input: Mapping[str, Any] | None, **overrides: Any) -> CropRule:
        """The rule a classifier's model input section records (``crop``: ratio or mode and
        value, square, border); ``overrides`` that are not None win; defaults otherwise."""
        crop = dict((model_input or {}).get("crop") or {})
        if "ratio" in crop:
            crop.setdefault("mode", "ratio")
            crop.setdefault("value", crop["ratio"])
        args = {k: crop[k] for k in ("mode", "value", "square", "border", "min_size")
                if k in crop}
        args.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**args)

    def classifiable(self, box: Sequence[float]) -> bool:
        """Whether a box is large enough to classify."""
        x1, y1, x2, y2 = (float(v) for v in box)
        return x2 > x1 and y2 > y1 and min(x2 - x1, y2 - y1) >= self.min_size

    def region(self, box: Sequence[float]) -> tuple[int, int, int, int]:
        """The enlarged (and squared) box in integer pixels, not clipped."""
        x1, y1, x2, y2 = (float(v) for v in box)
        w, h = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        if self.mode == "ratio":
            w, h = w * self.value, h * self.value
        else:
            w, h = w + 2 * self.value, h + 2 * self.value
        if self.square:
            w = h = max(w, h)
        return (math.floor(cx - w / 2), math.floor(cy - h / 2), math.ceil(cx + w / 2),
                math.ceil(cy + h / 2))

    def expand(self, box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
        """The crop (x1, y1, x2, y2) clipped to a ``width`` x ``height`` frame, each edge on
        its own (the far edge stays a coordinate); at least one pixel inside the frame."""
        x1, y1, x2, y2 = self.region(box)
        left, top = _clip(x1, 0, width - 1), _clip(y1, 0, height - 1)
        return left, top, _clip(x2, left + 1, width), _clip(y2, top + 1, height)

    def crop(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """The (h, w, 3) crop of an (H, W, 3) image: clipped, or padded with zeros where the
        region runs past the frame (``border``)."""
        height, width = image.shape[:2]
        x1, y1, x2, y2 = self.expand(box, width, height)
        cut = image[y1:y2, x1:x2]
        rx1, ry1, rx2, ry2 = self.region(box)
        if self.border == "clip" or (rx1, ry1, rx2, ry2) == (x1, y1, x2, y2) \
                or rx2 <= 0 or ry2 <= 0 or rx1 >= width or ry1 >= height:
            return cut
        out = np.zeros((ry2 - ry1, rx2 - rx1, *image.shape[2:]), dtype=image.dtype)
        oy, ox = y1 - ry1, x1 - rx1
        out[oy:oy + cut.shape[0], ox:ox + cut.shape[1]] = cut[:out.shape[0] - oy,
                                                              :out.shape[1] - ox]
        return out


def _clip(v: float, lo: float, hi: float) -> int:
    return int(min(max(v, lo), hi))
