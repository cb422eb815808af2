"""``graft classification inference``: top-k labels for images, a directory or a list file.

An image that cannot be read (corrupt, empty) is skipped and listed in both results files
with its reason (empty label and score in ``result.csv``, ``"error"`` in ``results.json``);
the run fails only when no image at all could be read. Every classified image is also written
with its top label and score drawn on it (``images/NAME.png``, named in ``results.json``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch
from rich.progress import Progress

from graft.data.images import Skipped, iter_readable, list_images
from graft.fsutil import check_output_dir, write_json, write_text
from graft.tasks.classification.data import eval_transform
from graft.tasks.classification.render import Renderer
from graft.tasks.classification.runner import Classifier, load_classifier


def classify(clf: Classifier, images: list[torch.Tensor], top_k: int) -> list[dict[str, Any]]:
    """uint8 RGB images of any size -> top-k predictions each."""
    tf = eval_transform(clf.input_size, clf.resize)
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
    render: bool = True,
) -> list[dict[str, Any]]:
    """Classify every input image; writes ``result.csv``, ``results.json`` and (``render``)
    the labeled images. Returns a record per image, in input order; an unreadable one has
    ``label`` None and an ``error``."""
    out = check_output_dir(results_dir)
    renderer = Renderer(out) if render else None
    clf = load_classifier(model_path, key, device or "auto")
    files = list_images(inputs)
    predicted: dict[str, dict[str, Any]] = {}
    skipped = Skipped()
    with Progress(disable=not progress, transient=True) as bar:
        job = bar.add_task("inference", total=len(files))
        for start in range(0, len(files), batch_size):
            chunk = files[start : start + batch_size]
            readable = list(iter_readable(chunk, skipped))
            if readable:
                preds = classify(clf, [image for _, image in readable], top_k)
                for (f, image), pred in zip(readable, preds, strict=True):
                    predicted[str(f)] = {"image": str(f), **pred}
                    if renderer is not None:
                        predicted[str(f)]["rendered"] = renderer.write(
                            str(f), image, pred["label"], pred["score"])
            bar.advance(job, len(chunk))
    failed = {r["image"]: {**r, "label": None, "score": None} for r in skipped.records()}
    results = [predicted.get(str(f)) or failed[str(f)] for f in files]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["image", "label", "score"])
    for r in results:
        score = "" if r["score"] is None else f"{r['score']:.6f}"
        writer.writerow([r["image"], r["label"] or "", score])
    write_text(out / "result.csv", buf.getvalue())
    write_json(out / "results.json", results)
    skipped.require_some_read(len(predicted))
    return results
