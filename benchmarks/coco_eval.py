"""COCO evaluation backends: pycocotools vs faster-coco-eval, speed and agreement.

A generated detection problem (images with a few objects of several categories, crowd regions,
all three COCO area ranges, polygon masks and 17 keypoints per object) is scored by both
libraries for each IoU type; the script prints the seconds of ``evaluate() + accumulate()``
(median of ``--repeat`` runs, after loading) and the largest difference of the 12 / 10 summary
numbers and of the precision array.

    python benchmarks/coco_eval.py --images 1000 --categories 20 --repeat 3

faster-coco-eval is not a graft dependency; install it for this script with
``pip install faster-coco-eval``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import platform
import statistics
import time

import numpy as np


def _polygon(rng: np.random.Generator, x: float, y: float, w: float, h: float) -> list[float]:
    """A convex-ish polygon of 8 points inside the box."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, 8))
    radius = rng.uniform(0.6, 1.0, 8)
    px = x + w / 2 + np.cos(angles) * radius * w / 2
    py = y + h / 2 + np.sin(angles) * radius * h / 2
    return np.stack([px, py], 1).reshape(-1).round(2).tolist()


def _keypoints(rng: np.random.Generator, x: float, y: float, w: float, h: float,
               visible: float = 0.8) -> list[float]:
    kps = np.zeros((17, 3))
    kps[:, 0] = x + rng.uniform(0, w, 17)
    kps[:, 1] = y + rng.uniform(0, h, 17)
    kps[:, 2] = np.where(rng.random(17) < visible, 2, 0)
    kps[kps[:, 2] == 0, :2] = 0
    return kps.reshape(-1).round(2).tolist()


def make_problem(images: int, categories: int, seed: int = 0) -> tuple[dict, dict[str, list]]:
    """Ground truth and one result list per IoU type (noisy copies plus false positives)."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    size = (480, 640)
    gt = {"images": [{"id": i + 1, "width": size[1], "height": size[0]} for i in range(images)],
          "categories": [{"id": c + 1, "name": f"class{c}", "keypoints": [str(k) for k in
                                                                         range(17)],
                          "skeleton": []} for c in range(categories)],
          "annotations": []}
    results: dict[str, list] = {"bbox": [], "segm": [], "keypoints": []}
    for img in gt["images"]:
        for _ in range(rng.integers(0, 12)):
            side = float(np.exp(rng.uniform(np.log(8), np.log(300))))
            w, h = side * rng.uniform(0.6, 1.4), side * rng.uniform(0.6, 1.4)
            x, y = rng.uniform(0, size[1] - w), rng.uniform(0, size[0] - h)
            cat = int(rng.integers(1, categories + 1))
            crowd = int(rng.random() < 0.05)
            poly = _polygon(rng, x, y, w, h)
            kps = _keypoints(rng, x, y, w, h)
            ann = {"id": len(gt["annotations"]) + 1, "image_id": img["id"], "category_id": cat,
                   "bbox": [x, y, w, h], "area": w * h * 0.8, "iscrowd": crowd,
                   "segmentation": [poly], "keypoints": kps,
                   "num_keypoints": int(sum(v > 0 for v in kps[2::3]))}
            if crowd:
                rle = mask_utils.frPyObjects([poly], *size)
                ann["segmentation"] = mask_utils.merge(rle)
                ann["segmentation"]["counts"] = ann["segmentation"]["counts"].decode()
            gt["annotations"].append(ann)
            for _ in range(int(rng.integers(0, 3))):  # duplicates and localisation noise
                jitter = rng.normal(0, 0.08 * side, 4)
                box = [x + jitter[0], y + jitter[1], max(w + jitter[2], 1), max(h + jitter[3], 1)]
                joints = np.asarray(kps, float).reshape(-1, 3)
                joints[:, :2] += rng.normal(0, 0.03 * side, (17, 2))
                _add_results(results, rng, img["id"], cat, box, size, joints.ravel().tolist())
        for _ in range(int(rng.integers(0, 8))):  # false positives
            w, h = rng.uniform(5, 200, 2)
            box = [rng.uniform(0, size[1] - w), rng.uniform(0, size[0] - h), w, h]
            _add_results(results, rng, img["id"], int(rng.integers(1, categories + 1)), box, size)
    return gt, results


def _add_results(results: dict[str, list], rng: np.random.Generator, image_id: int, cat: int,
                 box: list[float], size: tuple[int, int], joints: list[float] | None = None
                 ) -> None:
    from pycocotools import mask as mask_utils

    score = float(rng.random())
    results["bbox"].append({"image_id": image_id, "category_id": cat, "bbox": box,
                            "score": score})
    rle = mask_utils.merge(mask_utils.frPyObjects([_polygon(rng, *box)], *size))
    rle["counts"] = rle["counts"].decode()
    results["segm"].append({"image_id": image_id, "category_id": cat, "segmentation": rle,
                            "score": score})
    results["keypoints"].append({"image_id": image_id, "category_id": cat, "score": score,
                                 "keypoints": joints or _keypoints(rng, *box, visible=1.0)})


def run(library: str, gt: dict, results: list, iou_type: str) -> tuple[float, np.ndarray,
                                                                        np.ndarray]:
    """Seconds of evaluate + accumulate, the summary numbers and the precision array."""
    if library == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval as Evaluator
    else:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as Evaluator
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        evaluator = Evaluator(coco_gt, coco_dt, iouType=iou_type)
        start = time.perf_counter()
        evaluator.evaluate()
        evaluator.accumulate()
        seconds = time.perf_counter() - start
        evaluator.summarize()
    return seconds, np.asarray(evaluator.stats), np.asarray(evaluator.eval["precision"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gt, results = make_problem(args.images, args.categories)
    print(f"{platform.processor() or platform.machine()}, {args.images} images, "
          f"{len(gt['annotations'])} objects, {len(results['bbox'])} results per IoU type")
    print("| IoU type | pycocotools s | faster-coco-eval s | speed-up | max |stat diff| "
          "| max |precision diff| |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for iou_type in ("bbox", "segm", "keypoints"):
        timings: dict[str, list[float]] = {"pycocotools": [], "faster": []}
        outputs = {}
        for _ in range(args.repeat):
            for library in timings:
                seconds, stats, precision = run(library, gt, results[iou_type], iou_type)
                timings[library].append(seconds)
                outputs[library] = (stats, precision)
        slow = statistics.median(timings["pycocotools"])
        fast = statistics.median(timings["faster"])
        stat_diff = np.abs(outputs["pycocotools"][0] - outputs["faster"][0]).max()
        prec_diff = np.abs(outputs["pycocotools"][1] - outputs["faster"][1]).max()
        print(f"| {iou_type} | {slow:.2f} | {fast:.2f} | {slow / fast:.1f}x | {stat_diff:.2e} "
              f"| {prec_diff:.2e} |")


if __name__ == "__main__":
    main()
