"""``graft mask_rcnn inference``: images -> rendered masks, boxes and labels, COCO results.

Writes ``OUT/images/<name>.png`` (masks blended in, boxes and ``class score`` labels drawn;
masks only with ``--include_mask``, as TAO's flag), ``OUT/results.json``: a COCO results list
(``bbox`` [x, y, w, h], ``score``, ``category_id``, RLE ``segmentation`` with
``--include_mask``), and ``OUT/images.json``: each ``image_id``'s file, size and the classes.
An image with no detection above the threshold gets its unchanged rendering and no results.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from graft.errors import UserError


def read_labels(path: str | Path) -> list[str]:
    """Class names, one per line (ids from 1); a last line without a newline keeps all its
    letters (TAO's reader drops the last character of every line)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"labels file not found: {p}", "pass a text file, one class per line")
    names = [line.strip() for line in p.read_text(encoding="utf-8").splitlines()]
    names = [n for n in names if n]
    if not names:
        raise UserError(f"labels file {p} names no class", "write one class name per line")
    return names


def as_uint8_images(inputs: Any) -> list[torch.Tensor]:
    """Paths, uint8 (3, H, W) tensors, (H, W, 3) arrays or PIL images -> uint8 (3, H, W)."""
    from graft.data.images import read_rgb

    items = inputs if isinstance(inputs, list | tuple) else [inputs]
    out = []
    for item in items:
        if isinstance(item, str | Path):
            out.append(read_rgb(item))
        elif isinstance(item, torch.Tensor):
            out.append(item)
        else:
            array = np.asarray(item.convert("RGB") if hasattr(item, "convert") else item)
            out.append(torch.from_numpy(array.copy()).permute(2, 0, 1))
    return out


@torch.no_grad()
def predict_images(net: nn.Module, images: Sequence[torch.Tensor], threshold: float = 0.0,
                   batch_size: int = 1) -> list[dict[str, torch.Tensor]]:
    """Run the network on uint8 images; per image boxes, scores, labels and bool masks."""
    from graft.tasks.mask_rcnn.results import MASK_THRESHOLD

    net.eval()
    device = next(net.parameters()).device
    results = []
    for start in range(0, len(images), batch_size):
        batch = [im.to(device).float().div(255) for im in images[start:start + batch_size]]
        for out in net(batch):
            keep = out["scores"] >= threshold
            results.append({"boxes": out["boxes"][keep].cpu(), "scores": out["scores"][keep].cpu(),
                            "labels": out["labels"][keep].cpu(),
                            "masks": (out["masks"][keep, 0] >= MASK_THRESHOLD).cpu(),
                            "mask_scores": out["masks"][keep].cpu()})
    return results


def colours(n: int) -> list[tuple[int, int, int]]:
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(k / max(n, 1), 0.85, 1.0))
            for k in range(n)]  # type: ignore[misc]


def render(image: np.ndarray, pred: dict[str, torch.Tensor], classes: Sequence[str],
           include_mask: bool) -> np.ndarray:
    """(H, W, 3) uint8 picture with the detections drawn."""
    import cv2

    out = image.copy()
    palette = colours(len(classes))
    if include_mask:
        for label, mask in zip(pred["labels"].tolist(), pred["masks"].numpy(), strict=True):
            colour = np.array(palette[(label - 1) % len(palette)], np.float32)
            out[mask] = (0.5 * out[mask] + 0.5 * colour).astype(np.uint8)
    for box, label, score in zip(pred["boxes"].tolist(), pred["labels"].tolist(),
                                 pred["scores"].tolist(), strict=True):
        colour = palette[(label - 1) % len(palette)]
        x1, y1, x2, y2 = (round(v) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 1)
        name = classes[label - 1] if label - 1 < len(classes) else str(label)
        cv2.putText(out, f"{name} {score:.2f}", (x1, max(y1 - 3, 8)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, colour, 1, cv2.LINE_AA)
    return out


def run_inference(model: Any, inputs: str | Path, out_dir: str | Path, *, threshold: float = 0.5,
                  batch_size: int = 1, include_mask: bool = False,
                  labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Detect, render and write (module docstring); returns counts."""
    from graft.data.images import Skipped, iter_readable, list_images
    from graft.data.masks import rle_compressed
    from graft.fsutil import check_output_dir, write_json

    out = check_output_dir(out_dir, "output folder (-o)")
    classes = list(labels) if labels else list(model.manifest.classes)
    category_ids = model.manifest.architecture.get("category_ids") or list(
        range(1, len(classes) + 1))
    files = list_images(inputs)
    root = Path(inputs) if Path(inputs).is_dir() else Path(inputs).parent
    skipped = Skipped()
    readable = list(iter_readable(files, skipped))
    skipped.require_some_read(len(readable))
    (out / "images").mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    entries = []
    for start in range(0, len(readable), batch_size):
        chunk = readable[start:start + batch_size]
        preds = predict_images(model.module, [im for _, im in chunk], threshold, batch_size)
        for (path, image), pred in zip(chunk, preds, strict=True):
            image_id = len(entries) + 1
            rel = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
            entries.append({"id": image_id, "file_name": str(rel),
                            "height": int(image.shape[1]), "width": int(image.shape[2])})
            for k, (box, score, label) in enumerate(zip(pred["boxes"].tolist(),
                                                        pred["scores"].tolist(),
                                                        pred["labels"].tolist(), strict=True)):
                x1, y1, x2, y2 = box
                entry = {"image_id": image_id, "category_id": int(category_ids[label - 1]),
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)}
                if include_mask:
                    entry["segmentation"] = rle_compressed(pred["masks"][k].numpy())
                results.append(entry)
            picture = render(image.permute(1, 2, 0).numpy(), pred, classes, include_mask)
            target = out / "images" / rel.with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_png(target, picture)
    write_json(out / "results.json", results)
    write_json(out / "images.json", {"images": entries, "classes": classes,
                                     "category_ids": list(category_ids), "threshold": threshold})
    return {"images": len(entries), "detections": len(results), "skipped": skipped.records()}


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    from graft.fsutil import write_bytes

    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise RuntimeError(f"cannot encode {path}")
    write_bytes(path, data.tobytes())
