"""A small generated COCO problem with the cases COCOeval treats specially, and pycocotools'
own numbers for it (the reference the evaluator must equal).

Ground truth: three categories with objects of all three area ranges, crowd regions (polygon
and uncompressed-RLE masks) with detections on them, a category without any object, an image
without objects, objects with unlabeled joints and one with none labeled. Results: noisy
copies of the objects (some twice), misses, false positives of every category, images without
any result.
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

H, W = 240, 320
CATEGORIES = [{"id": 1, "name": "plane"}, {"id": 2, "name": "car"}, {"id": 5, "name": "ship"},
              {"id": 7, "name": "never seen"}]


def _ellipse(x: float, y: float, w: float, h: float) -> list[float]:
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    return np.stack([x + w / 2 * (1 + np.cos(t)), y + h / 2 * (1 + np.sin(t))],
                    1).reshape(-1).round(2).tolist()


def _joints(rng: np.random.Generator, x: float, y: float, w: float, h: float) -> np.ndarray:
    kps = np.zeros((17, 3))
    kps[:, 0] = x + rng.uniform(0.1, 0.9, 17) * w
    kps[:, 1] = y + rng.uniform(0.1, 0.9, 17) * h
    kps[:, 2] = np.where(rng.random(17) < 0.75, 2, 0)
    kps[kps[:, 2] == 0, :2] = 0
    return kps


def _rle(polygon: list[float], compressed: bool = True) -> dict[str, Any]:
    rle = mask_utils.merge(mask_utils.frPyObjects([polygon], H, W))
    if compressed:
        return {"size": [H, W], "counts": rle["counts"].decode()}
    with warnings.catch_warnings():  # pycocotools' decode under NumPy 2
        warnings.simplefilter("ignore", DeprecationWarning)
        flat = mask_utils.decode(rle).reshape(-1, order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]]))
    counts = runs.tolist() if flat[0] == 0 else [0, *runs.tolist()]
    return {"size": [H, W], "counts": counts}


def make_problem(seed: int = 0, images: int = 14) -> tuple[dict[str, Any], dict[str, list]]:
    """(ground truth, {iou_type: results}) in the formats pycocotools accepts."""
    rng = np.random.default_rng(seed)
    gt: dict[str, Any] = {
        "images": [{"id": 10 + i, "width": W, "height": H, "file_name": f"{i}.jpg"}
                   for i in range(images)],
        "categories": [dict(c, keypoints=[f"j{k}" for k in range(17)], skeleton=[])
                       for c in CATEGORIES],
        "annotations": []}
    results: dict[str, list] = {"bbox": [], "segm": [], "keypoints": []}
    sides = [12, 20, 45, 70, 130, 180]  # small, medium and large objects
    for img in gt["images"][1:]:  # the first image has no objects
        for _ in range(int(rng.integers(1, 5))):
            side = float(rng.choice(sides)) * rng.uniform(0.8, 1.2)
            w, h = side, side * rng.uniform(0.6, 1.0)
            x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
            cat = int(rng.choice([1, 2, 5]))
            crowd = rng.random() < 0.12
            poly = _ellipse(x, y, w, h)
            kps = _joints(rng, x, y, w, h)
            if rng.random() < 0.08 or len(gt["annotations"]) == 2:
                kps[:] = 0  # no joint labeled: ignored by keypoint AP
            ann = {"id": len(gt["annotations"]) + 1, "image_id": img["id"], "category_id": cat,
                   "bbox": [x, y, w, h], "area": float(mask_utils.area(
                       mask_utils.merge(mask_utils.frPyObjects([poly], H, W)))),
                   "iscrowd": int(crowd), "keypoints": kps.reshape(-1).tolist(),
                   "num_keypoints": int((kps[:, 2] > 0).sum()),
                   "segmentation": _rle(poly, compressed=False) if crowd and rng.random() < 0.5
                   else [poly]}
            gt["annotations"].append(ann)
            if img["id"] % 5 == 0:
                continue  # an image whose objects are all missed
            for _ in range(int(rng.integers(0, 3))):
                noise = rng.normal(0, 0.06 * side, 4)
                box = [x + noise[0], y + noise[1], max(w + noise[2], 2), max(h + noise[3], 2)]
                joints = kps.copy()
                joints[:, :2] += rng.normal(0, 0.03 * side, (17, 2))
                joints[:, 2] = np.where(kps[:, 2] > 0, rng.uniform(0.2, 1, 17), 0)
                _add(results, rng, img["id"], cat, box, joints)
        for _ in range(int(rng.integers(0, 3))):  # false positives, any category
            w, h = rng.uniform(8, 120, 2)
            box = [rng.uniform(0, W - w), rng.uniform(0, H - h), w, h]
            _add(results, rng, img["id"], int(rng.choice([1, 2, 5, 7])), box,
                 _joints(rng, *box))
    return gt, results


def _add(results: dict[str, list], rng: np.random.Generator, image_id: int, cat: int,
         box: list[float], joints: np.ndarray) -> None:
    score = round(float(rng.uniform(0.05, 1.0)), 4)
    base = {"image_id": image_id, "category_id": cat, "score": score}
    results["bbox"].append({**base, "bbox": [round(v, 2) for v in box]})
    results["segm"].append({**base, "segmentation": _rle(_ellipse(*box))})
    results["keypoints"].append({**base, "keypoints": joints.reshape(-1).round(2).tolist()})


def pycocotools_numbers(gt: dict[str, Any], results: list[dict[str, Any]], iou_type: str,
                        sigmas: np.ndarray | None = None, image_ids: list[int] | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' summary numbers and precision array, as its README shows it used."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        if sigmas is not None:
            evaluator.params.kpt_oks_sigmas = sigmas
        if image_ids is not None:
            evaluator.params.imgIds = image_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats), np.asarray(evaluator.eval["precision"])
