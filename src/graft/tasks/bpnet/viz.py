"""Skeleton rendering (OpenCV) for inference visualizations and videos."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np


def limb_colours(n: int) -> list[tuple[int, int, int]]:
    """``n`` well-separated RGB colours (around the hue wheel, one per limb)."""
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / max(n, 1), 0.9, 1.0))
            for i in range(n)]


def draw_poses(image: np.ndarray, persons: Sequence[dict[str, Any]],
               limbs: Sequence[tuple[int, int]], min_score: float = 0.0) -> np.ndarray:
    """A copy of the (H, W, 3) uint8 RGB ``image`` with each person's skeleton drawn on it.

    ``persons`` are decoder outputs in image pixels: ``keypoints`` (J, 3) with score 0 for a
    missing joint. Joints scoring at most ``min_score`` are not drawn.
    """
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    h, w = out.shape[:2]
    thickness = max(1, int(round(min(h, w) / 160)))
    radius = thickness + 1
    colours = limb_colours(len(limbs))
    shift = 4  # sub-pixel drawing: coordinates in 1/16 pixel
    one = 1 << shift
    for person in persons:
        kps = np.asarray(person["keypoints"], dtype=np.float64)
        ok = kps[:, 2] > min_score
        pts = np.round(kps[:, :2] * one).astype(np.int64)
        for (a, b), colour in zip(limbs, colours, strict=True):
            if ok[a] and ok[b]:
                cv2.line(out, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]),
                         colour, thickness, cv2.LINE_AA, shift)
        for j in np.flatnonzero(ok):
            cv2.circle(out, tuple(int(v) for v in pts[j]), radius * one, (255, 255, 255), -1,
                       cv2.LINE_AA, shift)
    return out
