"""Confusion matrices: of classifications, and of detections (with a background class).

Rows are true classes, columns predicted classes. A detection matrix has one more row and
column, the last, for "background": a missed object is (its class, background), a detection of
nothing is (background, its class); (background, background) stays 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

Pair = tuple[int | None, int | None]  # (true class, predicted class); None = background


def confusion_matrix(targets: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts of (true, predicted) class indices."""
    targets, preds = np.asarray(targets, np.int64), np.asarray(preds, np.int64)
    return np.bincount(targets * num_classes + preds, minlength=num_classes**2).reshape(
        num_classes, num_classes)


def per_class_report(cm: np.ndarray, classes: Sequence[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of each class of a confusion matrix."""
    tp = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(0), cm.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return [
        {"class": c, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, actual, strict=True)
    ]


def detection_confusion_matrix(pairs: Iterable[Pair], num_classes: int) -> np.ndarray:
    """(C+1, C+1) counts of matched (true, predicted) pairs; index C is background."""
    cm = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    for true, predicted in pairs:
        if true is None and predicted is None:
            continue
        if any(c is not None and not 0 <= c < num_classes for c in (true, predicted)):
            raise ValueError(f"class index out of 0..{num_classes - 1}: {(true, predicted)}")
        cm[num_classes if true is None else true,
           num_classes if predicted is None else predicted] += 1
    return cm


def match_detections(gt_boxes: Any, gt_labels: Sequence[int], det_boxes: Any,
                     det_labels: Sequence[int], *, iou_threshold: float = 0.5,
                     ignore_boxes: Any = None) -> list[Pair]:
    """Pair one image's detections with its objects, whatever their classes, for a confusion
    matrix.

    Boxes are (N, 4) x1, y1, x2, y2. Pairs with IoU >= ``iou_threshold`` are taken greedily,
    highest IoU first, each object and detection at most once (so an object is paired with the
    detection that covers it best, of whatever class). Unpaired objects become (class, None),
    unpaired detections (None, class), except detections lying in an ``ignore_boxes`` region
    (a crowd or KITTI DontCare area: at least ``iou_threshold`` of the detection inside it),
    which are dropped. Filter detections by score before calling.
    """
    import torch
    from torchvision.ops import box_iou

    gt = torch.as_tensor(np.asarray(gt_boxes, np.float64).reshape(-1, 4))
    det = torch.as_tensor(np.asarray(det_boxes, np.float64).reshape(-1, 4))
    if len(gt) != len(gt_labels) or len(det) != len(det_labels):
        raise ValueError("one label per box is needed")
    pairs: list[Pair] = []
    gt_free = np.ones(len(gt), bool)
    det_free = np.ones(len(det), bool)
    if len(gt) and len(det):
        iou = box_iou(gt, det).numpy()
        rows, cols = np.nonzero(iou >= iou_threshold)
        for k in np.argsort(-iou[rows, cols], kind="stable"):
            i, j = rows[k], cols[k]
            if gt_free[i] and det_free[j]:
                gt_free[i] = det_free[j] = False
                pairs.append((int(gt_labels[i]), int(det_labels[j])))
    pairs += [(int(gt_labels[i]), None) for i in np.flatnonzero(gt_free)]
    unmatched = np.flatnonzero(det_free)
    if ignore_boxes is not None and len(unmatched):
        ignore = np.asarray(ignore_boxes, np.float64).reshape(-1, 4)
        if len(ignore):
            inside = fraction_inside(det[unmatched].numpy(), ignore)
            unmatched = unmatched[~(inside >= iou_threshold).any(1)]
    pairs += [(None, int(det_labels[j])) for j in unmatched]
    return pairs


def fraction_inside(boxes: Any, regions: Any) -> np.ndarray:
    """(N, M) fraction of each box's area inside each region (x1, y1, x2, y2 boxes): how an
    ignore region (crowd, KITTI DontCare) is tested against a detection."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    r = np.asarray(regions, np.float64).reshape(-1, 4)
    lt = np.maximum(b[:, None, :2], r[None, :, :2])
    rb = np.minimum(b[:, None, 2:], r[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(1)
    return inter / np.maximum(area, 1e-9)[:, None]
