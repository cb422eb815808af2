"""``graft detectnet_v2 evaluate``: one evaluator for every backend (``.graft``, ONNX, engine).

The spec's validation data (``validation_data_source`` or the ``validation_split`` fold, the
images training validated on) goes through :class:`~graft.tasks.detectnet_v2.detector.Detector`;
detections are scored in original image pixels by :mod:`graft.metrics.detection` with the
spec's ``evaluation_config`` (per-class IoU, size filters as ignore regions, DontCare regions,
SAMPLE or INTEGRATE), and by the shared COCO evaluator (bbox AP50:95). TAO Deploy scores
TensorRT engines with other rules than ``tlt evaluate``; here every backend gets the same.

The results dir receives ``results.json`` (mAP, per-class rows, COCO numbers, settings),
``per_class.csv``, ``pr_curve_<class>.png`` per class, ``confusion_matrix.png``/``.csv``
(IoU 0.5, detections scoring at least ``threshold``, a background row and column) and
``coco/`` (:func:`graft.metrics.coco_report.write_coco_report`).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from graft.data.images import read_rgb
from graft.errors import UserError
from graft.metrics.detection import DetectionEvaluation, Detections, GroundTruth
from graft.tasks.detectnet_v2.detector import Detector, load_detector
from graft.tasks.detectnet_v2.records import ImageRecord, check_boxes, ground_truth
from graft.tasks.detectnet_v2.spec import DetectNetSpec

CLASS_COLUMNS = ["class", "AP", "ground_truth", "detections", "true_positives",
                 "false_positives", "ignored_detections", "recall"]


def validation_records(spec: DetectNetSpec, source: str = "the spec") -> list[ImageRecord]:
    from graft.tasks.detectnet_v2.records import load_dataset

    dataset = load_dataset(spec.dataset_config)
    if not dataset.val:
        raise UserError(f"{source} has no validation data to evaluate on",
                        "set dataset_config.validation_data_source or validation_split")
    return dataset.val


def detect_records(detector: Detector, records: list[ImageRecord], batch_size: int = 8,
                   progress: bool = True) -> tuple[list[GroundTruth], list[Detections],
                                                   list[tuple[int, int]]]:
    """Ground truth, detections and (H, W) of every record, images read and checked."""
    from rich.progress import track

    truths, detections, sizes = [], [], []
    starts = range(0, len(records), batch_size)
    for start in track(starts, description="evaluate", disable=not progress):
        chunk = records[start:start + batch_size]
        images = []
        for record in chunk:
            image = read_rgb(record.image)
            check_boxes(record, *image.shape[-2:])
            images.append(image)
            sizes.append(tuple(image.shape[-2:]))
            truths.append(ground_truth(record.truth()))
        detections += detector(images)
    return truths, detections, sizes


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def write_results(out: Path, result: dict[str, Any], evaluation: DetectionEvaluation,
                  confusion: Any, coco: Any) -> None:
    from graft.fsutil import write_json
    from graft.metrics.coco_report import write_coco_report
    from graft.metrics.plots import plot_confusion_matrix, plot_pr_curves
    from graft.metrics.tables import write_csv

    write_json(out / "results.json", result)
    write_csv(out / "per_class.csv", CLASS_COLUMNS, evaluation.class_rows())
    for c in evaluation.classes:
        if c.ap > -1:
            plot_pr_curves(out / f"pr_curve_{_safe(c.name)}.png",
                           {f"{c.name} ({evaluation.mode})": {f"AP {c.ap:.3f}":
                                                             (c.recall, c.precision)}})
    labels = [c.name for c in evaluation.classes] + ["background"]
    plot_confusion_matrix(confusion, labels, out / "confusion_matrix.png")
    write_csv(out / "confusion_matrix.csv", ["true \\ predicted", *labels],
              [[name, *row] for name, row in zip(labels, confusion.tolist(), strict=True)])
    write_coco_report(coco, out / "coco")


def evaluate(spec: DetectNetSpec, model_path: str | Path, *, key: str | None = None,
             results_dir: str | Path | None = None, threshold: float = 0.3,
             device: str = "auto", batch_size: int | None = None, progress: bool = True,
             spec_name: str = "the spec") -> dict[str, Any]:
    """Evaluate ``model_path`` on the spec's validation data; see the module docstring."""
    from graft.metrics.coco import evaluate_coco
    from graft.metrics.confusion import detection_confusion_matrix
    from graft.metrics.detection import confusion_pairs, evaluate_detections, to_coco

    if results_dir is not None:
        from graft.fsutil import check_output_dir

        check_output_dir(results_dir)
    records = validation_records(spec, spec_name)
    batch = batch_size or spec.training_config.batch_size_per_gpu
    detector = load_detector(model_path, spec, key=key, device=device)
    began = time.perf_counter()
    truths, detections, sizes = detect_records(detector, records, batch, progress)
    seconds = time.perf_counter() - began
    classes = detector.classes
    ev = spec.evaluation_config
    evaluation = evaluate_detections(truths, detections, classes, rules=spec.class_rules(),
                                     mode=ev.average_precision_mode)
    coco_truth, coco_results = to_coco(truths, detections, classes, sizes)
    coco = evaluate_coco(coco_truth, coco_results, "bbox")
    confusion = detection_confusion_matrix(
        confusion_pairs(truths, detections, iou_threshold=0.5, score_threshold=threshold),
        len(classes))
    result = {
        "model": str(model_path), "backend": detector.backend, "images": len(records),
        "mAP": evaluation.mean_ap, "mode": evaluation.mode, "per_class": evaluation.class_rows(),
        "iou": {n: r.iou for n, r in spec.class_rules().items()},
        "coco": coco.metrics, "detections": int(sum(len(d) for d in detections)),
        "confusion_matrix": {"classes": [*classes, "background"], "iou": 0.5,
                             "score_threshold": threshold, "matrix": confusion.tolist()},
        "seconds": round(seconds, 2), "images_per_second": round(len(records) / seconds, 2),
    }
    if results_dir is not None:
        write_results(Path(results_dir), result, evaluation, confusion, coco)
    return result
