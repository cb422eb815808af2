"""Per-class average precision of box detections, KITTI/TLT style, done right.

API::

    result = evaluate_detections(truths, detections, ["car", "pedestrian"],
                                 rules={"car": ClassRule(iou=0.7, min_height=40)},
                                 mode="integrate")
    result.mean_ap, result.classes[0].ap, result.pr_curves(), result.to_json()

``truths`` and ``detections`` hold one :class:`GroundTruth` / :class:`Detections` per image
(boxes x1, y1, x2, y2 in pixels). Per class, with that class's :class:`ClassRule`:

- Ground truth counts when it is not marked ``ignored`` (COCO crowd, TLT objects a filter
  drops) and its size lies within the rule's height/width range; otherwise it is an ignore
  region of its class. KITTI ``DontCare`` boxes (``regions``) are ignore regions of every
  class. TLT deletes out-of-range ground truth, so detections of it count as false positives;
  here they do not count at all.
- Detections of the class, all images together, are taken by score, highest first (stable).
  Each takes the ground truth of its class in its image with the highest IoU (VOC's rule):
  IoU >= the class's threshold and that object counts and is not yet taken -> true positive;
  already taken -> false positive; an ignored object -> the detection is ignored. Below the
  threshold the detection is ignored when it lies outside the rule's size range (TLT drops
  those detections) or when at least ``iou`` of its area lies inside a DontCare region (the
  rule of :func:`graft.metrics.confusion.match_detections`); else it is a false positive.
- AP from the precision/recall of the counted detections: ``sample`` = VOC2007's 11 points
  (mean over recall r in 0, 0.1, ..., 1 of the highest precision at recall >= r);
  ``integrate`` = VOC2010's area under the monotone precision envelope over every recall
  step. TLT's ``integrate`` skips the last recall step, scoring 4 perfect detections of 4
  objects 0.75 and one perfectly found object 0.0; here both are 1.0.
- A class without counted ground truth has AP -1 (as COCO) and is left out of the mAP.

IoU uses continuous coordinates (area (x2 - x1) (y2 - y1)); TLT rounds boxes to integers and
adds one pixel to each side length, which inflates the IoU of small boxes.

:func:`to_coco` turns the same inputs into a COCO ground truth and result list for
:func:`graft.metrics.coco.evaluate_coco` (ignored objects and DontCare regions become crowd
annotations, which COCOeval also ignores detections on).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from graft.metrics.confusion import fraction_inside

Mode = Literal["sample", "integrate"]
RECALL_POINTS = 11


def _boxes(data: Any) -> np.ndarray:
    return np.asarray(data, dtype=np.float64).reshape(-1, 4)


@dataclass(frozen=True)
class GroundTruth:
    """The labelled objects of one image."""

    boxes: np.ndarray  # (N, 4)
    labels: np.ndarray  # (N,) class indices
    ignored: np.ndarray | None = None  # (N,) bool: ignore regions of their class (crowds)
    regions: np.ndarray | None = None  # (M, 4) DontCare: ignore regions of every class

    @classmethod
    def of(cls, boxes: Any = (), labels: Any = (), ignored: Any = None,
           regions: Any = None) -> GroundTruth:
        b = _boxes(boxes)
        lab = np.asarray(labels, dtype=np.int64).reshape(-1)
        ign = (np.zeros(len(b), bool) if ignored is None
               else np.asarray(ignored, dtype=bool).reshape(-1))
        if len(lab) != len(b) or len(ign) != len(b):
            raise ValueError("one label (and ignored flag) per ground-truth box is needed")
        return cls(b, lab, ign, _boxes(() if regions is None else regions))


@dataclass(frozen=True)
class Detections:
    """The detections of one image: boxes, class indices, scores (higher is surer).

    ``confidences`` optionally keeps a second, unnormalized confidence (DetectNet_v2's
    coverage sum) for reports; AP ranks by ``scores``.
    """

    boxes: np.ndarray  # (K, 4)
    labels: np.ndarray  # (K,)
    scores: np.ndarray  # (K,)
    confidences: np.ndarray | None = None

    @classmethod
    def of(cls, boxes: Any = (), labels: Any = (), scores: Any = (),
           confidences: Any = None) -> Detections:
        b = _boxes(boxes)
        lab = np.asarray(labels, dtype=np.int64).reshape(-1)
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        if not len(lab) == len(s) == len(b):
            raise ValueError("one label and one score per detection box are needed")
        conf = None if confidences is None else np.asarray(confidences, np.float64).reshape(-1)
        return cls(b, lab, s, conf)

    def __len__(self) -> int:
        return len(self.boxes)

    def scaled(self, sx: float, sy: float) -> Detections:
        """Boxes scaled by (sx, sy), e.g. from network-input to original-image pixels."""
        return Detections(self.boxes * np.array([sx, sy, sx, sy]), self.labels, self.scores,
                          self.confidences)


@dataclass(frozen=True)
class ClassRule:
    """How one class is scored: IoU to match, and the size range of what counts."""

    iou: float = 0.5
    min_height: float = 0.0
    max_height: float = math.inf
    min_width: float = 0.0
    max_width: float = math.inf

    def in_range(self, boxes: np.ndarray) -> np.ndarray:
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        return ((h >= self.min_height) & (h <= self.max_height) & (w >= self.min_width)
                & (w <= self.max_width))


@dataclass(frozen=True)
class ClassResult:
    """AP and curves of one class; ``precision``/``recall`` per counted detection by score."""

    name: str
    ap: float  # -1 without counted ground truth
    ground_truth: int  # counted objects
    detections: int  # counted detections (true + false positives)
    true_positives: int
    ignored_detections: int
    precision: np.ndarray = field(repr=False)
    recall: np.ndarray = field(repr=False)
    scores: np.ndarray = field(repr=False)

    def row(self) -> dict[str, Any]:
        return {"class": self.name, "AP": self.ap, "ground_truth": self.ground_truth,
                "detections": self.detections, "true_positives": self.true_positives,
                "false_positives": self.detections - self.true_positives,
                "ignored_detections": self.ignored_detections,
                "recall": float(self.recall[-1]) if len(self.recall) else 0.0}


@dataclass(frozen=True)
class DetectionEvaluation:
    """The outcome of :func:`evaluate_detections`."""

    mode: str
    classes: list[ClassResult]
    images: int

    @property
    def mean_ap(self) -> float:
        """Mean AP over classes with counted ground truth (-1 if none has any)."""
        aps = [c.ap for c in self.classes if c.ap > -1]
        return float(np.mean(aps)) if aps else -1.0

    def ap(self, name: str) -> float:
        return next(c.ap for c in self.classes if c.name == name)

    def pr_curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(recall, precision) per class with ground truth, labelled ``name AP x.xxx``, in the
        form :func:`graft.metrics.plots.plot_pr_curves` draws (one panel)."""
        return {f"{c.name} AP {c.ap:.3f}": (c.recall, c.precision)
                for c in self.classes if c.ap > -1}

    def class_rows(self) -> list[dict[str, Any]]:
        return [c.row() for c in self.classes]

    def to_json(self) -> dict[str, Any]:
        return {"mAP": self.mean_ap, "mode": self.mode, "images": self.images,
                "per_class": self.class_rows()}


def iou_matrix(a: np.ndarray, b: np.ndarray, epsilon: float = 0.0) -> np.ndarray:
    """(len(a), len(b)) IoU of x1, y1, x2, y2 boxes, continuous coordinates; ``epsilon`` is
    added to the union (TLT's clustering uses 1e-5); 0 where the union is 0."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(1)
    union = area_a[:, None] + area_b[None, :] - inter + epsilon
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def average_precision(precision: np.ndarray, recall: np.ndarray, mode: Mode) -> float:
    """AP of a PR sequence (one point per counted detection, by decreasing score)."""
    precision, recall = np.asarray(precision, float), np.asarray(recall, float)
    if mode == "sample":
        points = [precision[recall >= t].max(initial=0.0)
                  for t in np.linspace(0.0, 1.0, RECALL_POINTS)]
        return float(np.mean(points))
    if mode != "integrate":
        raise ValueError(f"mode must be 'sample' or 'integrate', got {mode!r}")
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # the monotone envelope
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def _outcomes(truths: Sequence[GroundTruth], dets: Sequence[Detections], cls: int,
              rule: ClassRule) -> tuple[np.ndarray, np.ndarray, int]:
    """Per detection of the class (sorted by score): outcome 1 TP, 0 FP, -1 ignored; its score;
    and the number of counted objects."""
    entries = [(i, k) for i, d in enumerate(dets) for k in np.flatnonzero(d.labels == cls)]
    scores = np.array([dets[i].scores[k] for i, k in entries], dtype=float)
    order = np.argsort(-scores, kind="stable")
    gt_boxes, counted_gt = {}, 0
    for i, t in enumerate(truths):
        mine = t.labels == cls
        boxes = t.boxes[mine]
        counts = rule.in_range(boxes) & ~t.ignored[mine]
        gt_boxes[i] = (boxes, counts, np.zeros(len(boxes), bool))
        counted_gt += int(counts.sum())
    outcome = np.zeros(len(entries), dtype=np.int64)
    for n, e in enumerate(order):
        i, k = entries[e]
        box = dets[i].boxes[k:k + 1]
        boxes, counts, taken = gt_boxes[i]
        best = iou_matrix(box, boxes)[0] if len(boxes) else np.zeros(0)
        j = int(np.argmax(best)) if len(best) else -1
        if j >= 0 and best[j] >= rule.iou:
            if not counts[j]:
                outcome[n] = -1
            elif not taken[j]:
                taken[j] = True
                outcome[n] = 1
            continue
        regions = truths[i].regions
        in_dontcare = len(regions) and (fraction_inside(box, regions) >= rule.iou).any()
        if not rule.in_range(box)[0] or in_dontcare:
            outcome[n] = -1
    return outcome, scores[order], counted_gt


def evaluate_class(truths: Sequence[GroundTruth], dets: Sequence[Detections], cls: int,
                   name: str, rule: ClassRule, mode: Mode) -> ClassResult:
    outcome, scores, counted = _outcomes(truths, dets, cls, rule)
    kept = outcome >= 0
    tp = np.cumsum(outcome[kept] == 1)
    fp = np.cumsum(outcome[kept] == 0)
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / counted if counted else np.zeros(len(tp))
    ap = average_precision(precision, recall, mode) if counted else -1.0
    return ClassResult(name, ap, counted, int(kept.sum()), int(tp[-1]) if len(tp) else 0,
                       int((~kept).sum()), precision, recall, scores[kept])


def evaluate_detections(truths: Sequence[GroundTruth], detections: Sequence[Detections],
                        class_names: Sequence[str], *,
                        rules: Mapping[str, ClassRule] | ClassRule | None = None,
                        mode: Mode = "integrate") -> DetectionEvaluation:
    """Per-class AP and mAP of ``detections`` against ``truths`` (one entry per image each).

    ``rules``: one :class:`ClassRule` for all classes or one per class name (a class not named
    gets ``ClassRule()``: IoU 0.5, no size filter).
    """
    if len(truths) != len(detections):
        raise ValueError(f"{len(truths)} ground-truth images but {len(detections)} with "
                         "detections")
    results = []
    for cls, name in enumerate(class_names):
        rule = rules if isinstance(rules, ClassRule) else (rules or {}).get(name, ClassRule())
        results.append(evaluate_class(truths, detections, cls, name, rule, mode))
    return DetectionEvaluation(mode, results, len(truths))


def confusion_pairs(truths: Sequence[GroundTruth], detections: Sequence[Detections], *,
                    iou_threshold: float = 0.5, score_threshold: float = 0.0) -> list:
    """(true, predicted) class pairs of every image for
    :func:`graft.metrics.confusion.detection_confusion_matrix` (ignored objects and DontCare
    regions are ignore regions; detections below ``score_threshold`` are left out)."""
    from graft.metrics.confusion import match_detections

    pairs = []
    for t, d in zip(truths, detections, strict=True):
        keep = d.scores >= score_threshold
        counted = ~t.ignored
        ignore = np.concatenate([t.regions, t.boxes[t.ignored]])
        pairs += match_detections(t.boxes[counted], t.labels[counted], d.boxes[keep],
                                  d.labels[keep], iou_threshold=iou_threshold,
                                  ignore_boxes=ignore)
    return pairs


def to_coco(truths: Sequence[GroundTruth], detections: Sequence[Detections],
            class_names: Sequence[str], image_sizes: Sequence[tuple[int, int]] | None = None,
            ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A COCO ground-truth dict and result list of the same images (ids 1..N, categories
    1..C in ``class_names`` order); ``image_sizes`` (H, W) per image, default 0 x 0."""
    images, annotations, results = [], [], []
    for n, (t, d) in enumerate(zip(truths, detections, strict=True), start=1):
        h, w = image_sizes[n - 1] if image_sizes is not None else (0, 0)
        images.append({"id": n, "width": int(w), "height": int(h), "file_name": f"{n}"})
        crowd = [(b, int(c), True) for b, c in zip(t.boxes[t.ignored], t.labels[t.ignored],
                                                     strict=True)]
        crowd += [(b, c, True) for b in t.regions for c in range(len(class_names))]
        objects = [(b, int(c), False) for b, c in zip(t.boxes[~t.ignored],
                                                        t.labels[~t.ignored], strict=True)]
        for box, cls, is_crowd in objects + crowd:
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append({"id": len(annotations) + 1, "image_id": n,
                                "category_id": cls + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "area": (x2 - x1) * (y2 - y1), "iscrowd": int(is_crowd)})
        for box, cls, score in zip(d.boxes, d.labels, d.scores, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            results.append({"image_id": n, "category_id": int(cls) + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}, results
