"""Network outputs as COCO results (boxes [x, y, w, h], RLE masks) and COCO bbox/segm AP.

One conversion for validation during training, ``evaluate`` and ``inference``, so the three
report the same detections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

MASK_THRESHOLD = 0.5  # mask probability at which a pixel belongs to the object


def coco_results(output: Mapping[str, torch.Tensor], image_id: int, category_ids: Sequence[int],
                 threshold: float = 0.0) -> list[dict[str, Any]]:
    """One image's detections (scores >= ``threshold``) as COCO result entries; labels 1..K
    map to ``category_ids[label - 1]``."""
    from graft.data.masks import rle_compressed

    keep = output["scores"] >= threshold
    boxes = output["boxes"][keep].detach().cpu().tolist()
    scores = output["scores"][keep].detach().cpu().tolist()
    labels = output["labels"][keep].detach().cpu().tolist()
    masks = (output["masks"][keep, 0] >= MASK_THRESHOLD).cpu().numpy() \
        if "masks" in output else None
    out = []
    for k, ((x1, y1, x2, y2), score, label) in enumerate(zip(boxes, scores, labels, strict=True)):
        entry = {"image_id": int(image_id), "category_id": int(category_ids[label - 1]),
                 "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                 "score": round(float(score), 5)}
        if masks is not None:
            entry["segmentation"] = rle_compressed(masks[k])
        out.append(entry)
    return out


def coco_ap(ground_truth: Mapping[str, Any], results: list[dict[str, Any]],
            image_ids: Sequence[int] | None = None) -> dict[str, Any]:
    """``{"bbox": CocoEvaluation, "segm": CocoEvaluation}`` of ``results``."""
    from graft.metrics.coco import evaluate_coco

    return {kind: evaluate_coco(ground_truth, results, kind, image_ids=image_ids)  # type: ignore[arg-type]
            for kind in ("bbox", "segm")}


def summary_metrics(evaluations: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """``bbox_AP``, ``bbox_AP50``, ``segm_AP``, ... (AP -1 without ground truth kept as is)."""
    return {f"{prefix}{kind}_{name}": float(ev.metrics[name])
            for kind, ev in evaluations.items() for name in ("AP", "AP50", "AP75")}
