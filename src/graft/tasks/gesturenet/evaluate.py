"""``graft gesturenet evaluate`` and ``inference``: any model file (.graft, .onnx, engine)
through classification's :class:`Classifier`, crops cut by the rule the model file records."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from graft.data.loader import make_loader
from graft.errors import UserError
from graft.fsutil import check_output_dir, write_json, write_text
from graft.metrics.confusion import confusion_matrix, per_class_report
from graft.metrics.plots import plot_confusion_matrix
from graft.metrics.tables import write_csv
from graft.runtime import load_runner
from graft.spec import load_spec
from graft.tasks.classification.runner import Classifier
from graft.tasks.gesturenet.crop import CLASSES, CropRule
from graft.tasks.gesturenet.data import HandCrops
from graft.tasks.gesturenet.labels import HandLabel, read_split, scan_labels
from graft.tasks.gesturenet.spec import GestureSpec
from graft.tasks.gesturenet.train import TASK_NAME


def load_gesturenet(path: str | Path, key: str | None = None, device: str = "auto"
                    ) -> tuple[Classifier, CropRule]:
    """A GestureNet model file (or export) and its crop rule."""
    runner = load_runner(path, key=key, device=device, task=TASK_NAME)
    clf = Classifier.from_runner(runner)
    if clf.classes != CLASSES:
        raise UserError(f"{path} has classes {clf.classes}, not GestureNet's",
                        "train it with `graft gesturenet train`")
    return clf, CropRule.of(runner.info.input)


def _loader(labels: list[HandLabel], clf: Classifier, rule: CropRule, batch: int,
            workers: int) -> DataLoader:
    return make_loader(HandCrops(labels, clf.input_size, rule), batch, workers=workers)


def evaluate(spec_file: str | Path | None, model_path: str | Path, *, key: str | None = None,
             results_dir: str | Path | None = None, overrides: list[str] | None = None,
             split_file: str | Path | None = None, device: str | None = None,
             spec: GestureSpec | None = None) -> dict[str, Any]:
    """Top-1/top-k, per-class report and confusion matrix on ``split_file`` (default: the
    spec's ``data.val_file``); writes evaluation.json, per_class.csv and confusion_matrix.png
    when ``results_dir`` is set."""
    spec = spec or load_spec(spec_file, GestureSpec, overrides)
    if results_dir is not None:
        check_output_dir(results_dir)
    source = split_file or spec.data.val_file
    if source is None:
        raise UserError("nothing to evaluate on: the spec has no data.val_file",
                        "set data.val_file or pass --split test.json")
    clf, rule = load_gesturenet(model_path, key, device or "auto")
    labels = read_split(source)
    losses, preds, targets, hits = [], [], [], []
    k = min(spec.eval.top_k, len(CLASSES))
    for crops, target in _loader(labels, clf, rule, spec.eval.batch_size, spec.data.workers):
        logits = clf.logits(crops)
        losses.append(F.cross_entropy(logits, target, reduction="sum").item())
        preds.append(logits.argmax(1).numpy())
        hits.append((logits.topk(k, 1).indices == target[:, None]).any(1).numpy())
        targets.append(target.numpy())
    y, p = np.concatenate(targets), np.concatenate(preds)
    cm = confusion_matrix(y, p, len(CLASSES))
    report = per_class_report(cm, CLASSES)
    metrics: dict[str, Any] = {
        "model": str(model_path), "backend": clf.backend, "split": str(source),
        "images": int(len(y)), "users": sorted({lab.user_id for lab in labels}),
        "loss": sum(losses) / len(y), "top1_accuracy": float((y == p).mean()),
        f"top{k}_accuracy": float(np.concatenate(hits).mean()), "top_k": k,
        "crop": rule.to_dict(), "per_class": report,
        "confusion_matrix": {"classes": CLASSES, "matrix": cm.tolist()}}
    if results_dir is not None:
        out = Path(results_dir)
        write_json(out / "evaluation.json", metrics)
        write_csv(out / "per_class.csv", ["class", "precision", "recall", "f1", "support"],
                  report)
        plot_confusion_matrix(cm, CLASSES, out / "confusion_matrix.png")
    return metrics


def infer(model_path: str | Path, inputs: str | Path, results_dir: str | Path, *,
          key: str | None = None, batch_size: int = 32, device: str | None = None,
          render: bool = True) -> list[dict[str, Any]]:
    """Classify every hand of a split list (.json) or a folder of label JSONs; writes
    ``result.csv``, ``results.json`` and (``render``) each crop with its label drawn."""
    from graft.tasks.classification.render import Renderer

    out = check_output_dir(results_dir)
    src = Path(inputs)
    labels = read_split(src) if src.is_file() else scan_labels(src)
    clf, rule = load_gesturenet(model_path, key, device or "auto")
    renderer = Renderer(out) if render else None
    results: list[dict[str, Any]] = []
    for crops, _ in _loader(labels, clf, rule, batch_size, 0):
        probs = clf.logits(crops).softmax(1)
        for crop, row in zip(crops, probs, strict=True):
            lab = labels[len(results)]
            best = int(row.argmax())
            rec: dict[str, Any] = {
                "image": str(lab.image), "box": list(lab.box), "box_units": lab.units,
                "label": CLASSES[best], "score": float(row[best]),
                "probabilities": {c: float(v) for c, v in zip(CLASSES, row, strict=True)}}
            if renderer is not None:
                rec["rendered"] = renderer.write(str(lab.image), crop.to(torch.uint8),
                                                 rec["label"], rec["score"])
            results.append(rec)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["image", "x1", "y1", "x2", "y2", "label", "score"])
    for r in results:
        writer.writerow([r["image"], *r["box"], r["label"], f"{r['score']:.6f}"])
    write_text(out / "result.csv", buf.getvalue())
    write_json(out / "results.json", results)
    return results
