"""Score the gesture app against per-frame ground truth (``graft app evaluate``).

Per frame, the app's boxes are paired one-to-one with the true hands by the Hungarian method
on IoU (the pairing with the highest total IoU; pairs under ``iou`` are dropped). A paired hand
counts for detection (recall: paired / true hands, precision: paired / boxes) and its gesture
for the gesture accuracy (right gestures / paired hands: how well the app names the hands it
finds). ``end_to_end_accuracy`` divides the right gestures by all true hands, so a missed hand
counts as wrong too. A paired box the app left unlabelled (not yet classified, or under the
crop's ``min_size``) is a wrong gesture, predicted "background".

The confusion matrix is the detection kind (:mod:`graft.metrics.confusion`): the gestures plus
"background" (missed hands in its column, boxes on no hand in its row). Only frames the app
wrote are scored (``frames_unscored`` counts the true frames it never reached: a stride or
``max_frames``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graft.errors import UserError

BACKGROUND = "background"
DESCRIPTIONS = {
    "gesture_accuracy": "right gestures / hands the app found (IoU >= iou)",
    "end_to_end_accuracy": "right gestures / all true hands (misses are wrong)",
    "recall": "true hands the app found / true hands",
    "precision": "app boxes on a true hand / app boxes",
    "frames": "frames scored (in both files)",
    "true_hands": "true hands in the scored frames",
    "boxes": "app boxes in the scored frames",
    "matched": "app boxes paired with a true hand",
    "correct": "paired boxes with the right gesture",
    "unlabelled": "paired boxes the app gave no gesture",
}


def read_jsonl(path: str | Path, what: str) -> dict[int, dict[str, Any]]:
    """Frame index -> record of a JSON-lines file (the app's ``frames.jsonl`` or a clip's
    truth); a missing file or a bad line is a one-line error."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} {p} does not exist", "give the path of a .jsonl file")
    records: dict[int, dict[str, Any]] = {}
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            records[int(rec["frame"])] = {"hands": list(rec.get("hands") or [])}
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{what} {p}, line {n}: not a frame record ({exc})",
                            'each line must be a JSON object with "frame" and "hands"') from None
    return records


def pair_boxes(truth: np.ndarray, pred: np.ndarray, iou: float) -> list[tuple[int, int]]:
    """(truth index, prediction index) pairs of the Hungarian pairing on IoU, IoU >= ``iou``."""
    from scipy.optimize import linear_sum_assignment

    from graft.metrics.detection import iou_matrix

    if not len(truth) or not len(pred):
        return []
    overlap = iou_matrix(truth.reshape(-1, 4), pred.reshape(-1, 4))
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if overlap[i, j] >= iou]


def _boxes(hands: Sequence[Mapping[str, Any]]) -> np.ndarray:
    return np.array([h["box"] for h in hands], np.float64).reshape(-1, 4)


def class_list(truth: Mapping[int, dict[str, Any]], pred: Mapping[int, dict[str, Any]],
               classes: Sequence[str] | None) -> list[str]:
    """The gestures of the matrix: ``classes`` as given (GestureNet's order by default), then
    any other gesture either file names, sorted."""
    from graft.tasks.gesturenet.crop import CLASSES

    base = list(classes or CLASSES)
    seen = {h.get("gesture") for recs in (truth, pred) for r in recs.values()
            for h in r["hands"]} - {None}
    return base + sorted(seen - set(base))


def evaluate_app(pred: Mapping[int, dict[str, Any]], truth: Mapping[int, dict[str, Any]], *,
                 iou: float = 0.5, classes: Sequence[str] | None = None) -> dict[str, Any]:
    """Metrics, confusion matrix and per-class report of the app's frames against the truth
    (both as :func:`read_jsonl` returns them); see the module docstring."""
    from graft.metrics.confusion import detection_confusion_matrix, per_class_report

    extra = sorted(set(pred) - set(truth))
    if extra:
        raise UserError(f"the predictions have frame {extra[0]}, which the truth lacks "
                        f"({len(extra)} such frames)",
                        "score the app's output on the clip whose truth file you give")
    names = class_list(truth, pred, classes)
    index = {c: k for k, c in enumerate(names)}
    pairs: list[tuple[int | None, int | None]] = []
    n = {"true_hands": 0, "boxes": 0, "matched": 0, "correct": 0, "unlabelled": 0}
    for frame in sorted(pred):
        true_hands, boxes = truth[frame]["hands"], pred[frame]["hands"]
        n["true_hands"] += len(true_hands)
        n["boxes"] += len(boxes)
        matched = pair_boxes(_boxes(true_hands), _boxes(boxes), iou)
        for i, j in matched:
            said = boxes[j].get("gesture")
            n["correct"] += said == true_hands[i]["gesture"]
            n["unlabelled"] += said is None
            pairs.append((index[true_hands[i]["gesture"]], index.get(said)))
        n["matched"] += len(matched)
        pairs += [(index[t["gesture"]], None) for k, t in enumerate(true_hands)
                  if k not in {i for i, _ in matched}]
        pairs += [(None, index[b["gesture"]]) for k, b in enumerate(boxes)
                  if k not in {j for _, j in matched} and b.get("gesture") is not None]
    cm = detection_confusion_matrix(pairs, len(names))

    def ratio(a: int, b: int) -> float:
        return a / b if b else 0.0

    metrics = {
        "gesture_accuracy": ratio(n["correct"], n["matched"]),
        "end_to_end_accuracy": ratio(n["correct"], n["true_hands"]),
        "recall": ratio(n["matched"], n["true_hands"]),
        "precision": ratio(n["matched"], n["boxes"]),
        "frames": len(pred), **n}
    return {"metrics": metrics, "iou": iou, "labels": [*names, BACKGROUND],
            "confusion_matrix": cm.tolist(),
            "per_class": per_class_report(cm[:-1, :-1], names),
            "frames_unscored": len(set(truth) - set(pred))}


def write_evaluation(result: Mapping[str, Any], out_dir: str | Path) -> Path:
    """``metrics.json`` (everything), ``metrics.csv``, ``confusion_matrix.csv`` and ``.png``,
    ``per_class.csv`` in ``out_dir``."""
    from graft.fsutil import write_json
    from graft.metrics.plots import plot_confusion_matrix
    from graft.metrics.tables import write_csv, write_metrics_csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels, cm = result["labels"], np.asarray(result["confusion_matrix"])
    write_json(out / "metrics.json", dict(result))
    write_metrics_csv(out / "metrics.csv", result["metrics"])
    write_csv(out / "confusion_matrix.csv", ["true \\ predicted", *labels],
              [[name, *map(int, row)] for name, row in zip(labels, cm, strict=True)])
    write_csv(out / "per_class.csv", ["class", "precision", "recall", "f1", "support"],
              result["per_class"])
    plot_confusion_matrix(cm, labels, out / "confusion_matrix.png",
                          title=f"gesture app vs truth (IoU >= {result['iou']:g})",
                          true_axis="true gesture", predicted_axis="app's gesture")
    return out


def evaluate_files(pred_file: str | Path, truth_file: str | Path, out_dir: str | Path | None,
                   *, iou: float = 0.5, classes: Iterable[str] | None = None
                   ) -> dict[str, Any]:
    """Read both files, score, and write the results into ``out_dir`` (when given)."""
    result = evaluate_app(read_jsonl(pred_file, "prediction file"),
                          read_jsonl(truth_file, "truth file"), iou=iou,
                          classes=list(classes) if classes else None)
    if out_dir is not None:
        write_evaluation(result, out_dir)
    return result
