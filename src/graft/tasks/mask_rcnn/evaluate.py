"""``graft mask_rcnn evaluate``: COCO bbox and segm AP of a model on the spec's validation set.

The same conversion as validation during training (:mod:`graft.tasks.mask_rcnn.results`), so
the numbers match the ``val/*`` metrics of the epoch the model came from. With a results
folder: ``bbox/`` and ``segm/`` reports (summary, per-category AP, PR curves) of the shared
COCO report writer, and ``detections.json`` (the COCO results scored).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from graft.errors import UserError
from graft.tasks.mask_rcnn.spec import MaskRCNNSpec


def evaluate(spec: MaskRCNNSpec, model_path: str | Path, *, key: str | None = None,
             results_dir: str | Path | None = None, device: str = "cpu",
             batch_size: int | None = None) -> dict[str, Any]:
    """Score ``model_path`` on ``data_config.val_*``; returns the evaluations and speed."""
    from graft.api import load
    from graft.tasks.mask_rcnn.data import CocoInstances
    from graft.tasks.mask_rcnn.results import coco_ap, coco_results

    d = spec.data_config
    if d.val_annotations is None or d.val_images is None:
        raise UserError("the spec has no validation data to evaluate on",
                        "set data_config.val_annotations and data_config.val_images")
    model = load(model_path, key=key, device="cpu" if device == "auto" else device)
    if model.manifest.task != "mask_rcnn":
        raise UserError(f"{model_path} is a {model.manifest.task!r} model",
                        "pass a mask_rcnn model")
    dataset = CocoInstances(d.val_annotations, d.val_images, field="data_config.val_annotations")
    category_ids = model.manifest.architecture.get("category_ids") or dataset.category_ids
    from graft.data.coco import image_file
    from graft.data.images import read_rgb

    results: list[dict[str, Any]] = []
    began = time.perf_counter()
    step = batch_size or d.eval_batch_size
    for start in range(0, len(dataset.ids), step):
        ids = dataset.ids[start:start + step]
        images = [read_rgb(image_file(dataset.image_dir, dataset.coco.imgs[i])) for i in ids]
        raw = _raw_outputs(model.module, images)
        for image_id, out in zip(ids, raw, strict=True):
            results += coco_results(out, image_id, category_ids)
    seconds = time.perf_counter() - began
    evaluations = coco_ap(dataset.coco.dataset, results)
    if results_dir is not None:
        from graft.fsutil import write_json
        from graft.metrics.coco_report import write_coco_report

        out = Path(results_dir)
        for kind, ev in evaluations.items():
            write_coco_report(ev, out / kind)
        write_json(out / "detections.json", results)
    return {"evaluations": evaluations, "images": len(dataset.ids), "detections": len(results),
            "images_per_second": round(len(dataset.ids) / max(seconds, 1e-9), 2)}


def _raw_outputs(net: Any, images: list[Any]) -> list[dict[str, Any]]:
    import torch

    with torch.no_grad():
        net.eval()
        device = next(net.parameters()).device
        return net([im.to(device).float().div(255) for im in images])
