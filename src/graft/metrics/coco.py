"""COCO average precision of ``bbox``, ``segm`` and ``keypoints`` results: one evaluator for
every task and for ``graft evaluate coco``.

The engine is faster-coco-eval's ``COCOeval_faster`` (its matching and accumulation in C++):
on a generated problem of 2,000 images it gave pycocotools' numbers exactly (summary numbers
equal, precision arrays within 2e-16) 3x (segm) to 10x (bbox) faster
(``benchmarks/coco_eval.py``, BENCHMARKS.md); the tests compare it with pycocotools on crowds,
area ranges, images without detections and categories without ground truth. The inputs are
checked first (:mod:`graft.metrics.coco_files`), so malformed files fail with one line instead
of an assertion deep in COCOeval, and nothing is printed: COCOeval's chatter is swallowed.

The result is a :class:`CocoEvaluation`: the 12 (bbox, segm) or 10 (keypoints) standard
numbers by name, AP per category, and COCOeval's precision/recall arrays for PR curves. As in
COCOeval, -1 means "no ground truth here" (e.g. APs without small objects).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from graft.errors import UserError
from graft.metrics.coco_files import GroundTruth, check_ground_truth, check_results

DETECTION_METRICS = {
    "AP": "AP @ IoU 0.50:0.95, all areas, 100 detections",
    "AP50": "AP @ IoU 0.50", "AP75": "AP @ IoU 0.75",
    "APs": "AP, small objects (area < 32^2)", "APm": "AP, medium objects (32^2 to 96^2)",
    "APl": "AP, large objects (area > 96^2)",
    "AR1": "AR, 1 detection per image", "AR10": "AR, 10 detections per image",
    "AR100": "AR, 100 detections per image",
    "ARs": "AR, small objects", "ARm": "AR, medium objects", "ARl": "AR, large objects",
}
KEYPOINT_METRICS = {
    "AP": "AP @ OKS 0.50:0.95, all areas, 20 detections",
    "AP50": "AP @ OKS 0.50", "AP75": "AP @ OKS 0.75",
    "APm": "AP, medium objects (32^2 to 96^2)", "APl": "AP, large objects (area > 96^2)",
    "AR": "AR @ OKS 0.50:0.95", "AR50": "AR @ OKS 0.50", "AR75": "AR @ OKS 0.75",
    "ARm": "AR, medium objects", "ARl": "AR, large objects",
}
COCO_KEYPOINT_SIGMAS = (np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07,
                                  1.07, .87, .87, .89, .89]) / 10.0)


def metric_descriptions(iou_type: str) -> dict[str, str]:
    """The standard numbers of an IoU type, in COCOeval's order, with what each one means."""
    return KEYPOINT_METRICS if iou_type == "keypoints" else DETECTION_METRICS


@dataclass(frozen=True)
class CategoryResult:
    """AP of one category (area "all", the largest detection count); -1 without ground truth."""

    id: int
    name: str
    ap: float
    ap50: float
    ap75: float
    ar: float
    ground_truth: int  # objects that count (crowds and ignored objects excluded)
    detections: int

    def row(self) -> dict[str, Any]:
        return {"category_id": self.id, "name": self.name, "AP": self.ap, "AP50": self.ap50,
                "AP75": self.ap75, "AR": self.ar, "ground_truth": self.ground_truth,
                "detections": self.detections}


@dataclass(frozen=True)
class CocoEvaluation:
    """The outcome of :func:`evaluate_coco`.

    ``precision`` is COCOeval's (T, R, K, A, M) array: IoU thresholds x recall thresholds x
    categories x area ranges x detection limits (-1 where a category has no ground truth);
    ``recall`` is (T, K, A, M).
    """

    iou_type: str
    metrics: dict[str, float]
    categories: list[CategoryResult]
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    precision: np.ndarray = field(repr=False)
    recall: np.ndarray = field(repr=False)
    area_ranges: list[str]
    max_detections: list[int]
    images: int
    detections: int
    engine: str

    def to_json(self) -> dict[str, Any]:
        """Everything but the large arrays, as JSON-ready values."""
        return {"iou_type": self.iou_type, "metrics": dict(self.metrics),
                "per_category": [c.row() for c in self.categories], "images": self.images,
                "detections": self.detections,
                "ground_truth": sum(c.ground_truth for c in self.categories),
                "iou_thresholds": [round(float(t), 2) for t in self.iou_thresholds],
                "area_ranges": self.area_ranges, "max_detections": self.max_detections,
                "engine": self.engine}

    def csv_rows(self) -> list[list[Any]]:
        """``metric, value, meaning`` rows (header first) of the standard numbers."""
        meaning = metric_descriptions(self.iou_type)
        return [["metric", "value", "meaning"]] + [
            [name, f"{value:.6f}", meaning[name]] for name, value in self.metrics.items()]

    def category_rows(self) -> list[dict[str, Any]]:
        return [c.row() for c in self.categories]

    def pr_curve(self, category_id: int | None = None, iou: float | None = 0.5
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(recall, precision) at COCOeval's 101 recall points, area "all", most detections.

        ``iou``: one threshold (0.5, 0.75, ...) or None for the mean over 0.50:0.95.
        ``category_id``: one category, or None for the mean over categories with ground truth.
        Precision is 0 past the highest recall reached; empty arrays without ground truth.
        """
        p = self.precision[..., 0, -1]  # (T, R, K)
        if iou is not None:
            match = np.flatnonzero(np.isclose(self.iou_thresholds, iou))
            if not len(match):
                raise ValueError(f"no IoU threshold {iou}; COCOeval has "
                                 f"{[round(float(t), 2) for t in self.iou_thresholds]}")
            p = p[match]
        if category_id is not None:
            ids = [c.id for c in self.categories]
            p = p[:, :, [ids.index(category_id)]]
        valid = (p > -1).all(axis=(0, 1))
        if not valid.any():
            return np.zeros(0), np.zeros(0)
        return self.recall_thresholds.copy(), p[:, :, valid].mean(axis=(0, 2))

    def pr_curves(self, iou: float | None = 0.5) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """PR curve of every category with ground truth, by name."""
        return {c.name: self.pr_curve(c.id, iou) for c in self.categories if c.ap > -1}


def evaluate_coco(ground_truth: str | Path | Mapping[str, Any],
                  results: str | Path | Sequence[Mapping[str, Any]],
                  iou_type: Literal["bbox", "segm", "keypoints"] = "bbox", *,
                  image_ids: Iterable[int] | None = None,
                  kpt_oks_sigmas: Sequence[float] | np.ndarray | None = None,
                  keypoint_boxes: Literal["all", "labeled"] = "all") -> CocoEvaluation:
    """Score COCO ``results`` (a file or a list) against ``ground_truth`` (a file or a dict).

    ``image_ids`` restricts the evaluation (default: every image of the ground truth).
    ``kpt_oks_sigmas``: one OKS sigma per joint (default COCO's 17 person sigmas).
    ``keypoint_boxes``: the box (and so the area range) of a keypoint result without a
    ``bbox``: pycocotools' box around all its keypoints (``"all"``, which takes in the (0, 0)
    of unlabeled joints) or around its labeled joints only (``"labeled"``).
    """
    gt = check_ground_truth(ground_truth, iou_type)
    dets = check_results(results, gt, iou_type)
    sigmas = None
    if iou_type == "keypoints":
        sigmas = _keypoint_sigmas(gt, kpt_oks_sigmas)
        _box_keypoint_results(dets, keypoint_boxes)
    ids = sorted(gt.images if image_ids is None else set(gt.images) & {int(i) for i in image_ids})
    wanted = set(ids)
    dets = [d for d in dets if d["image_id"] in wanted]
    category_ids = sorted(gt.categories)
    evaluator = _run_cocoeval(gt, dets, iou_type, ids, category_ids, sigmas)
    p = evaluator.params
    precision = np.asarray(evaluator.eval["precision"], float)
    recall = np.asarray(evaluator.eval["recall"], float)
    names = list(metric_descriptions(iou_type))
    stats = [float(v) for v in evaluator.stats[:len(names)]]
    return CocoEvaluation(
        iou_type=iou_type, metrics=dict(zip(names, stats, strict=True)),
        categories=_category_results(gt, dets, wanted, precision, recall, p.iouThrs, iou_type),
        iou_thresholds=np.asarray(p.iouThrs, float),
        recall_thresholds=np.asarray(p.recThrs, float), precision=precision, recall=recall,
        area_ranges=list(p.areaRngLbl), max_detections=[int(m) for m in p.maxDets],
        images=len(ids), detections=len(dets), engine=_engine_name())


def _engine_name() -> str:
    import faster_coco_eval

    return f"faster-coco-eval {faster_coco_eval.__version__}"


def _run_cocoeval(gt: GroundTruth, dets: list[dict[str, Any]], iou_type: str, ids: list[int],
                  category_ids: list[int], sigmas: np.ndarray | None):
    """COCOeval_faster through evaluate/accumulate/summarize, with its printing swallowed."""
    from faster_coco_eval import COCO, COCOeval_faster

    def quiet(*args: Any, **kwargs: Any) -> None:
        return None

    if not ids:
        raise UserError(f"{gt.name} has no images to evaluate", "check the ground truth (and "
                        "the image ids the evaluation is restricted to)")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(print_function=quiet)
        coco_gt.dataset = gt.dataset
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        evaluator = COCOeval_faster(coco_gt, coco_dt, iouType=iou_type, print_function=quiet,
                                    kpt_oks_sigmas=None if sigmas is None else list(sigmas))
        evaluator.params.imgIds = ids
        evaluator.params.catIds = category_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _keypoint_sigmas(gt: GroundTruth, given: Sequence[float] | np.ndarray | None) -> np.ndarray:
    counts = set(gt.joints.values())
    if len(counts) > 1:
        raise UserError(f"the keypoint categories of {gt.name} have different joint counts "
                        f"({sorted(counts)})", "evaluate one skeleton at a time")
    joints = counts.pop() if counts else 17
    if given is None:
        if joints != 17:
            raise UserError(f"{gt.name} has {joints} keypoints per object; COCO's OKS sigmas "
                            "are for its 17 person joints", "give one OKS sigma per joint")
        return COCO_KEYPOINT_SIGMAS.copy()
    sigmas = np.asarray(given, float).reshape(-1)
    if len(sigmas) != joints or not np.all(sigmas > 0):
        raise UserError(f"{len(sigmas)} OKS sigmas for {joints} keypoints per object",
                        "give one positive sigma per joint")
    return sigmas


def _box_keypoint_results(dets: list[dict[str, Any]], which: str) -> None:
    """Give keypoint results without a ``bbox`` pycocotools' box (see :func:`evaluate_coco`)."""
    if which not in ("all", "labeled"):
        raise ValueError(f"keypoint_boxes must be 'all' or 'labeled', got {which!r}")
    for det in dets:
        if "bbox" in det:
            continue
        kps = np.asarray(det["keypoints"], float).reshape(-1, 3)
        points = kps[kps[:, 2] > 0, :2] if which == "labeled" else kps[:, :2]
        if not len(points):
            points = kps[:, :2]
        (x0, y0), (x1, y1) = points.min(0), points.max(0)
        det["bbox"] = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def _category_results(gt: GroundTruth, dets: list[dict[str, Any]], wanted: set[int],
                      precision: np.ndarray, recall: np.ndarray, thresholds: np.ndarray,
                      iou_type: str) -> list[CategoryResult]:
    """Per-category AP from the precision array, COCOeval's way (mean over defined entries)."""
    counted: dict[int, int] = {}
    for ann in gt.dataset["annotations"]:
        ignored = ann["iscrowd"] or (iou_type == "keypoints" and not ann.get("num_keypoints"))
        if ann["image_id"] in wanted and not ignored:
            counted[ann["category_id"]] = counted.get(ann["category_id"], 0) + 1
    found: dict[int, int] = {}
    for det in dets:
        found[det["category_id"]] = found.get(det["category_id"], 0) + 1
    at50, at75 = (np.flatnonzero(np.isclose(thresholds, t)) for t in (0.5, 0.75))
    out = []
    for k, (cid, cat) in enumerate(sorted(gt.categories.items())):
        p = precision[:, :, k, 0, -1]
        out.append(CategoryResult(
            id=cid, name=str(cat.get("name", cid)), ap=_mean_defined(p),
            ap50=_mean_defined(p[at50]), ap75=_mean_defined(p[at75]),
            ar=_mean_defined(recall[:, k, 0, -1]), ground_truth=counted.get(cid, 0),
            detections=found.get(cid, 0)))
    return out


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(defined.mean()) if defined.size else -1.0
