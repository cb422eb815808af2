"""Generated image-classification data (ImageFolder layout) that a small model can learn.

Each class is a shape (circle, square, triangle, ...) drawn with random colour, size, position
and rotation on a noisy, randomly tinted background, so a model has to learn shape, not colour.
Deterministic for a given seed; no downloads.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from graft.errors import UserError
from graft.fsutil import atomic_dir, check_fresh_dir

SHAPES = ["circle", "square", "triangle", "cross", "star", "ring", "diamond", "hexagon"]


def _polygon(cx: float, cy: float, r: float, n: int, rot: float, inner: float | None = None):
    pts = []
    steps = n * (2 if inner else 1)
    for k in range(steps):
        radius = r if not inner or k % 2 == 0 else r * inner
        a = rot + 2 * math.pi * k / steps
        pts.append((cx + radius * math.cos(a), cy + radius * math.sin(a)))
    return pts


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    shape: str,
    cx: float,
    cy: float,
    r: float,
    rot: float,
    color: tuple[int, int, int],
    bg: tuple[int, int, int],
) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
        draw.ellipse([cx - r * 0.55, cy - r * 0.55, cx + r * 0.55, cy + r * 0.55], fill=bg)
    elif shape == "square":
        draw.polygon(_polygon(cx, cy, r, 4, rot), fill=color)
    elif shape == "diamond":
        draw.polygon(
            [(cx, cy - r), (cx + r * 0.6, cy), (cx, cy + r), (cx - r * 0.6, cy)], fill=color
        )
    elif shape == "triangle":
        draw.polygon(_polygon(cx, cy, r, 3, rot), fill=color)
    elif shape == "hexagon":
        draw.polygon(_polygon(cx, cy, r, 6, rot), fill=color)
    elif shape == "star":
        draw.polygon(_polygon(cx, cy, r, 5, rot, inner=0.45), fill=color)
    elif shape == "cross":
        w = r * 0.35
        for a in (rot, rot + math.pi / 2):
            dx, dy = math.cos(a), math.sin(a)
            px, py = -dy * w, dx * w
            draw.polygon(
                [
                    (cx - dx * r + px, cy - dy * r + py),
                    (cx + dx * r + px, cy + dy * r + py),
                    (cx + dx * r - px, cy + dy * r - py),
                    (cx - dx * r - px, cy - dy * r - py),
                ],
                fill=color,
            )


def render_shape(shape: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One image of ``shape`` with random colours, placement and a noisy background."""
    bg = tuple(int(v) for v in rng.integers(0, 256, 3))
    while True:
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        if sum(abs(a - b) for a, b in zip(color, bg, strict=True)) > 160:
            break
    grad = np.linspace(0.0, 1.0, size, dtype=np.float32)
    tint = rng.uniform(-40, 40, 3).astype(np.float32)
    base = np.array(bg, np.float32)[None, None, :] + grad[:, None, None] * tint[None, None, :]
    base = np.broadcast_to(base, (size, size, 3)) + rng.normal(0, 8, (size, size, 3))
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    r = size * rng.uniform(0.24, 0.40)
    cx, cy = rng.uniform(r, size - r, 2)
    _draw_shape(ImageDraw.Draw(img), shape, cx, cy, r, rng.uniform(0, 2 * math.pi), color, bg)
    return img


def make_classification_dataset(
    out_dir: str | Path,
    classes: int = 4,
    per_class: int = 200,
    size: int = 64,
    seed: int = 0,
    val_fraction: float = 0.25,
    progress: bool = True,
    force: bool = False,
) -> dict[str, object]:
    """Write ``out_dir/{train,val}/<class>/*.jpg``; returns a summary dict.

    The folder appears whole when done; one that holds files is refused (old and new images
    would mix) unless ``force``, which replaces it."""
    if not 2 <= classes <= len(SHAPES):
        raise UserError(f"--classes must be 2..{len(SHAPES)} (got {classes})")
    if per_class < 2 or size < 16:
        raise UserError("--per-class must be >= 2 and --size >= 16")
    out = check_fresh_dir(out_dir, force)
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(per_class * val_fraction)))
    names = SHAPES[:classes]
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar, \
            atomic_dir(out, replace=force) as tmp:
        job = bar.add_task("generating images", total=classes * per_class)
        for name in names:
            for split in ("train", "val"):
                (tmp / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                split = "val" if i < n_val else "train"
                render_shape(name, size, rng).save(
                    tmp / split / name / f"{name}_{i:05d}.jpg", quality=92
                )
                bar.advance(job)
    return {
        "root": str(out),
        "classes": names,
        "train_per_class": per_class - n_val,
        "val_per_class": n_val,
        "size": size,
    }


def parse_wxh(text: str, option: str = "--size", multiple: int = 1) -> tuple[int, int]:
    """``"320x256"`` (width x height) or ``"256"`` (square) -> (height, width).

    ``multiple``: both sides must be multiples of it (16 for stride-16 detectors); the error
    names the nearest valid sizes.
    """
    parts = str(text).lower().replace(" ", "").split("x")
    try:
        w, h = (int(parts[0]), int(parts[0])) if len(parts) == 1 else (int(parts[0]),
                                                                      int(parts[1]))
        if len(parts) > 2 or w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise UserError(f"{option} {text!r} is not WIDTHxHEIGHT",
                        f"e.g. {option} 256x256") from None
    for side, value in (("width", w), ("height", h)):
        if value % multiple:
            low = value // multiple * multiple
            raise UserError(f"{option} {text}: the {side} {value} is not a multiple of "
                            f"{multiple}", f"use {low or multiple} or {low + multiple}")
    return h, w


def parse_range(text: str, option: str, low: float = -math.inf,
                high: float = math.inf) -> tuple[float, float]:
    """``"24,80"`` -> (24.0, 80.0); a single number is a range of one value. Both ends must
    lie in [low, high] and be ordered."""
    try:
        values = [float(v) for v in str(text).split(",")]
        if len(values) not in (1, 2) or not all(math.isfinite(v) for v in values):
            raise ValueError
    except ValueError:
        raise UserError(f"{option} {text!r} is not MIN,MAX", f"e.g. {option} 24,80") from None
    lo, hi = values[0], values[-1]
    if not low <= lo <= hi <= high:
        raise UserError(f"{option} {text}: needs {low:g} <= MIN <= MAX <= {high:g}",
                        f"e.g. {option} 24,80")
    return lo, hi
