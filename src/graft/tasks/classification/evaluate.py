"""``graft classification evaluate``: loss, top-1/top-k, per-class report, confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch.nn.functional as F
from rich.progress import Progress

from graft.data.loader import make_loader
from graft.errors import UserError
from graft.fsutil import check_output_dir, write_json
from graft.metrics.confusion import confusion_matrix, per_class_report
from graft.metrics.plots import plot_confusion_matrix
from graft.metrics.tables import write_csv
from graft.spec import load_spec
from graft.tasks.classification.data import eval_transform, image_folder
from graft.tasks.classification.runner import load_classifier
from graft.tasks.classification.spec import ClassificationSpec


def evaluate(
    spec_file: str | Path,
    model_path: str | Path,
    *,
    key: str | None = None,
    results_dir: str | Path | None = None,
    overrides: list[str] | None = None,
    device: str | None = None,
    progress: bool = True,
    spec: ClassificationSpec | None = None,
) -> dict[str, Any]:
    """Evaluate on ``data.val_dir`` of the spec; writes JSON/CSV/PNG when ``results_dir`` is set.
    ``spec``: the spec already loaded (then ``spec_file`` only names it in messages)."""
    spec = spec or load_spec(spec_file, ClassificationSpec, overrides)
    if results_dir is not None:
        check_output_dir(results_dir)
    if spec.data.val_dir is None:
        raise UserError(f"{spec_file or 'the spec'} has no data.val_dir to evaluate on",
                        "set data.val_dir (or --set data.val_dir=DIR)")
    clf = load_classifier(model_path, key, device or "auto")
    ds = image_folder(spec.data.val_dir, eval_transform(clf.input_size, clf.resize), "val")
    if ds.classes != clf.classes:
        raise UserError(
            f"the model's classes {clf.classes} differ from {spec.data.val_dir}'s {ds.classes}",
            "evaluate on data with the model's classes",
        )
    loader = make_loader(ds, spec.eval.batch_size, workers=spec.data.workers)
    k = min(spec.eval.top_k, len(ds.classes))
    losses, preds, targets, topk_hits = [], [], [], []
    with Progress(disable=not progress, transient=True) as bar:
        job = bar.add_task("evaluating", total=len(ds))
        for images, target in loader:
            logits = clf.logits(images)
            losses.append(F.cross_entropy(logits, target, reduction="sum").item())
            preds.append(logits.argmax(1).numpy())
            topk_hits.append((logits.topk(k, 1).indices == target[:, None]).any(1).numpy())
            targets.append(target.numpy())
            bar.advance(job, len(target))
    y, p = np.concatenate(targets), np.concatenate(preds)
    cm = confusion_matrix(y, p, len(ds.classes))
    report = per_class_report(cm, ds.classes)
    metrics: dict[str, Any] = {
        "model": str(model_path),
        "backend": clf.backend,
        "images": int(len(y)),
        "loss": sum(losses) / len(y),
        "top1_accuracy": float((y == p).mean()),
        f"top{k}_accuracy": float(np.concatenate(topk_hits).mean()),
        "top_k": k,
        "per_class": report,
        "confusion_matrix": {"classes": ds.classes, "matrix": cm.tolist()},
    }
    if results_dir is not None:
        out = Path(results_dir)
        write_json(out / "evaluation.json", metrics)
        write_csv(out / "per_class.csv", ["class", "precision", "recall", "f1", "support"],
                  report)
        plot_confusion_matrix(cm, ds.classes, out / "confusion_matrix.png")
    return metrics
