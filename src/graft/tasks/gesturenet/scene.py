"""The scene behind generated hands: a cluttered gradient background (drawn supersampled) and
the lighting of a frame. Shared by the training frames (:mod:`graft.tasks.gesturenet.synth`)
and the clips (:mod:`graft.tasks.gesturenet.clips`), so both look alike."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 2


def background(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A gradient with clutter (rectangles, ellipses, lines) in random colours."""
    w, h = size
    ss = SUPERSAMPLE
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, h * ss)[:, None, None]
    grad = (top * (1 - t) + bottom * t) * np.ones((1, w * ss, 1))
    img = Image.fromarray(grad.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 10))):
        x0, y0 = rng.uniform(0, w * ss), rng.uniform(0, h * ss)
        x1, y1 = x0 + rng.uniform(10, w * ss / 2), y0 + rng.uniform(10, h * ss / 2)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = int(rng.integers(3))
        if kind == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 8)))
    return img


def lighting(image: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """Overall brightness, a light gradient across the frame and sensor noise."""
    a = np.asarray(image, np.float32)
    h, w = a.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * np.linspace(-1, 1, w)[None, :]
            + np.sin(angle) * np.linspace(-1, 1, h)[:, None])
    gain = rng.uniform(0.6, 1.25) * (1 + rng.uniform(0, 0.35) * ramp)
    a = a * gain[..., None] + rng.normal(0, rng.uniform(1, 6), a.shape)
    return np.clip(a, 0, 255).astype(np.uint8)
