"""``graft classification inference``: top-k labels for images, a directory or a list file."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch
from rich.progress import Progress

from graft.data.images import list_images, read_rgb
from graft.fsutil import write_json, write_text
from graft.tasks.classification.data import eval_transform
from graft.tasks.classification.runner import Classifier, load_classifier


def classify(clf: Classifier, images: list[torch.Tensor], top_k: int) -> list[dict[str, Any]]:
    """uint8 RGB images of any size -> top-k predictions each."""
    tf = eval_transform(clf.input_size)
    batch = torch.stack([tf(img) for img in images])
    probs = clf.logits(batch).softmax(1)
    k = min(top_k, probs.shape[1])
    scores, idx = probs.topk(k, 1)
    return [
        {
            "label": clf.classes[int(i[0])],
            "score": float(s[0]),
            "top_k": [
                {"label": clf.classes[int(j)], "score": float(v)} for j, v in zip(i, s, strict=True)
            ],
        }
        for i, s in zip(idx, scores, strict=True)
    ]


def infer(
    model_path: str | Path,
    inputs: str | Path,
    results_dir: str | Path,
    *,
    key: str | None = None,
    top_k: int = 5,
    batch_size: int = 32,
    device: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Classify every input image; writes ``result.csv`` and ``results.json``."""
    clf = load_classifier(model_path, key, device or "auto")
    files = list_images(inputs)
    results: list[dict[str, Any]] = []
    with Progress(disable=not progress, transient=True) as bar:
        job = bar.add_task("inference", total=len(files))
        for start in range(0, len(files), batch_size):
            chunk = files[start : start + batch_size]
            for f, pred in zip(
                chunk, classify(clf, [read_rgb(f) for f in chunk], top_k), strict=True
            ):
                results.append({"image": str(f), **pred})
            bar.advance(job, len(chunk))
    out = Path(results_dir)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["image", "label", "score"])
    for r in results:
        writer.writerow([r["image"], r["label"], f"{r['score']:.6f}"])
    write_text(out / "result.csv", buf.getvalue())
    write_json(out / "results.json", results)
    return results
