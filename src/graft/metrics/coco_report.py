"""A COCO evaluation as files people can open, and as console tables.

``write_coco_report(evaluation, DIR)`` writes:

- ``results.json``: the standard numbers, AP per category, counts and settings;
- ``results.csv``: ``metric, value, meaning`` of the standard numbers;
- ``per_category.csv``: AP, AP50, AP75, AR, objects and detections of each category;
- ``pr_curves.png``: precision-recall curves at IoU (OKS) 0.5 and averaged over 0.50:0.95,
  per category and over all categories;
- ``pr_curves.csv``: the points of those curves (``iou, category, recall, precision``).
"""

from __future__ import annotations

from pathlib import Path

from graft.fsutil import write_json
from graft.metrics.coco import CocoEvaluation, metric_descriptions
from graft.metrics.plots import plot_pr_curves
from graft.metrics.tables import metrics_table, table, write_csv

OVERALL = "all categories"
CATEGORY_COLUMNS = ["category_id", "name", "AP", "AP50", "AP75", "AR", "ground_truth",
                    "detections"]
_IOUS = {"0.50": 0.5, "0.50:0.95": None}


def write_coco_report(evaluation: CocoEvaluation, out_dir: str | Path) -> list[Path]:
    """Write the report files (see the module docstring) into ``out_dir``; returns them."""
    out = Path(out_dir)
    write_json(out / "results.json", evaluation.to_json())
    rows = evaluation.csv_rows()
    written = [out / "results.json", write_csv(out / "results.csv", rows[0], rows[1:]),
               write_csv(out / "per_category.csv", CATEGORY_COLUMNS,
                         evaluation.category_rows())]
    measure = "OKS" if evaluation.iou_type == "keypoints" else "IoU"
    panels, points = {}, []
    for shown, iou in _IOUS.items():
        curves = {}
        for cat in evaluation.categories:
            if cat.ap > -1:
                curve = evaluation.pr_curve(cat.id, iou)
                curves[f"{cat.name} {cat.ap50 if iou == 0.5 else cat.ap:.3f}"] = curve
                points += _curve_rows(shown, cat.name, curve)
        overall = evaluation.pr_curve(None, iou)
        curves[f"{OVERALL} {evaluation.metrics['AP50' if iou == 0.5 else 'AP']:.3f}"] = overall
        points += _curve_rows(shown, OVERALL, overall)
        panels[f"{measure} {shown}"] = curves
    written.append(plot_pr_curves(out / "pr_curves.png", panels, overall=OVERALL,
                                  title=f"{evaluation.iou_type}: precision-recall (label: AP)"))
    written.append(write_csv(out / "pr_curves.csv", ["iou", "category", "recall", "precision"],
                             points))
    return written


def _curve_rows(iou: str, name: str, curve) -> list[list]:
    recall, precision = curve
    return [[iou, name, round(float(r), 2), float(p)] for r, p in zip(recall, precision,
                                                                       strict=True)]


def summary_table(evaluation: CocoEvaluation, title: str | None = None):
    """The 12 (10) standard numbers with their meaning."""
    return metrics_table(evaluation.metrics, metric_descriptions(evaluation.iou_type),
                         title=title)


def category_table(evaluation: CocoEvaluation, title: str | None = None):
    """AP per category."""
    return table(CATEGORY_COLUMNS, evaluation.category_rows(), title=title)
