"""Rendered predictions: each classified image with its label and score drawn on a band at the
top, written as ``RESULTS/images/NAME.png`` by ``graft classification inference``."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from graft.fsutil import write_bytes

if TYPE_CHECKING:
    import torch

IMAGES_DIR = "images"


@cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # scalable with FreeType (Pillow >= 10.1)
    except (TypeError, OSError, ImportError):  # pragma: no cover - older Pillow, no FreeType
        return ImageFont.load_default()


def draw_label(image: torch.Tensor, label: str, score: float) -> Image.Image:
    """A uint8 (3, H, W) image with ``label score`` in white on a black band at its top."""
    picture = Image.fromarray(image.permute(1, 2, 0).contiguous().numpy(), "RGB")
    draw = ImageDraw.Draw(picture)
    size = max(10, round(min(picture.size) / 10))
    text = f"{label} {score:.2f}"
    font = _font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(2, size // 4)
    draw.rectangle((0, 0, right + 2 * pad, bottom + 2 * pad), fill=(0, 0, 0))
    draw.text((pad - left, pad), text, fill=(255, 255, 255), font=font)
    return picture


class Renderer:
    """Writes rendered images under ``results/images`` with unique names (the input's stem,
    ``_2``, ``_3``... when two inputs share one)."""

    def __init__(self, results_dir: Path) -> None:
        self.folder = Path(results_dir) / IMAGES_DIR
        self._used: set[str] = set()

    def _name(self, source: str) -> str:
        stem, n = Path(source).stem, 1
        name = f"{stem}.png"
        while name in self._used:
            n += 1
            name = f"{stem}_{n}.png"
        self._used.add(name)
        return name

    def write(self, source: str, image: torch.Tensor, label: str, score: float) -> str:
        """Render one prediction; returns its path relative to the results folder."""
        buf = io.BytesIO()
        draw_label(image, label, score).save(buf, format="PNG")
        name = self._name(source)
        write_bytes(self.folder / name, buf.getvalue())
        return f"{IMAGES_DIR}/{name}"
