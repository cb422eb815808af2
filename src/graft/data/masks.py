"""Binary masks to COCO segmentations and boxes (what dataset generators and converters write).

Compressed RLE through pycocotools; uncompressed RLE (the form COCO uses for ``iscrowd``
regions) and polygons (OpenCV contours) as COCO defines them.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def rle_compressed(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a (H, W) mask, JSON-ready (``counts`` as text)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def rle_uncompressed(mask: np.ndarray) -> dict[str, Any]:
    """COCO's uncompressed RLE (column-major runs, starting with a run of zeros)."""
    flat = mask.astype(np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.r_[0, change, flat.size]
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer contours of a mask as COCO polygons (those of at least three points)."""
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO box [x, y, width, height] enclosing the mask's pixels ([0, 0, 0, 0] if empty)."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1)]
