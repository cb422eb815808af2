"""``graft detectnet_v2 check_labels``: do the labels, the class mapping, the rasterizer, the
clustering and the evaluator agree, before any GPU hour is spent?

1. The dataset spec's labels are read through its ``target_class_mapping`` (train and val)
   and counted per class. A target class without a single object, or a mapping that leaves
   no object at all, is reported loudly (the classic TLT failure: an uppercase mapping key
   that maps every object away and trains to 0 mAP).
2. Round trip (:func:`~graft.tasks.detectnet_v2.roundtrip.round_trip`): every image's ground
   truth is resized to the network input as training resizes it, rasterized into targets with
   the training spec's ``bbox_rasterizer_config``, clustered by the production decoder with
   its ``postprocessing_config``, scaled back and scored by the production evaluator with its
   ``evaluation_config``. A perfect network would score this mAP; near 1.0 means the pieces
   agree. Low values name what to look at (boxes below the clustering's minimum height,
   same-class boxes in each other's dead zone, an evaluation IoU the encoding cannot reach).
3. ``RESULTS/images/``: sample images at the input size with the coverage targets (one colour
   per class), cells the loss ignores (grey), the ground-truth boxes (white) and the boxes the
   box targets of the covered cells decode to (class colour).

``RESULTS/check_labels.json`` and ``per_class.csv`` hold the counts and the per-class AP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from graft.data.kitti import class_key
from graft.errors import UserError
from graft.tasks.detectnet_v2.records import Dataset, ImageRecord, check_boxes, ground_truth
from graft.tasks.detectnet_v2.spec import DetectNetSpec


def _reindex(dataset: Dataset, spec: DetectNetSpec) -> Dataset:
    """The dataset's class indices in the training spec's class order."""
    want = [class_key(c) for c in spec.class_names]
    have = [class_key(c) for c in dataset.classes]
    if sorted(want) != sorted(have):
        raise UserError(f"the dataset spec's target classes ({', '.join(dataset.classes)}) "
                        f"differ from the training spec's ({', '.join(spec.class_names)})",
                        "give both the same target_class_mapping targets")
    order = np.array([want.index(k) for k in have], np.int64)
    for record in dataset.train + (dataset.val or []):
        record.labels = order[record.labels] if len(record.labels) else record.labels
    dataset.classes = list(spec.class_names)
    return dataset


def _measure(records: list[ImageRecord], progress: bool) -> None:
    from graft.data.convert import track
    from graft.data.images import image_size

    for record in track(records, "reading image sizes", disable=not progress):
        if record.size is None:
            width, height = image_size(record.image)
        else:
            height, width = record.size
        check_boxes(record, height, width)


def render_targets(image: torch.Tensor, targets: Any, encoder: Any, colours: list) -> np.ndarray:
    """(H, W, 3) uint8 picture of one image's targets (see the module docstring)."""
    import cv2

    from graft.tasks.detectnet_v2.encoder import decode_boxes

    picture = image.permute(1, 2, 0).numpy().astype(np.float32)
    height, width = picture.shape[:2]
    stride = encoder.stride

    def up(cells: torch.Tensor) -> np.ndarray:
        return cells.repeat_interleave(stride, 0).repeat_interleave(stride, 1).numpy()

    ignored = up((targets.mask[0] == 0).any(0).float())[..., None]
    picture = picture * (1 - 0.5 * ignored) + 128 * 0.5 * ignored
    for k, colour in enumerate(colours):
        alpha = 0.6 * up(targets.cov[0, k])[..., None]
        picture = picture * (1 - alpha) + np.array(colour, np.float32) * alpha
    out = np.ascontiguousarray(picture.clip(0, 255).astype(np.uint8))
    boxes = decode_boxes(targets.bbox[0], (height, width), scale=encoder.scale,
                         offset=encoder.offset)  # (C, 4, h, w)
    for k, colour in enumerate(colours):
        for i, j in zip(*np.nonzero(targets.cov[0, k].numpy() > 0.5), strict=True):
            x1, y1, x2, y2 = (int(round(float(v))) for v in boxes[k, :, i, j])
            cv2.rectangle(out, (x1, y1), (x2, y2), colour, 1)
    return out


def _draw_truth(picture: np.ndarray, truth: Any) -> np.ndarray:
    import cv2

    for box in truth.boxes:
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(picture, (x1, y1), (x2, y2), (255, 255, 255), 1)
    return picture


def render_samples(records: list[ImageRecord], spec: DetectNetSpec, out: Path, count: int,
                   seed: int) -> list[str]:
    """Write ``count`` sample pictures (seeded choice) into ``out``; returns their paths."""
    import cv2
    from torchvision.transforms import v2

    from graft.data.images import read_rgb
    from graft.fsutil import write_bytes
    from graft.tasks.detectnet_v2.encoder import TargetEncoder
    from graft.tasks.detectnet_v2.inference import class_colours
    from graft.tasks.detectnet_v2.roundtrip import shrink_truth

    encoder = TargetEncoder.from_spec(spec)
    h, w = spec.input_size
    resize = v2.Resize((h, w), antialias=True)
    colours = class_colours(len(spec.class_names))
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(records), size=min(count, len(records)), replace=False))
    written = []
    for n in chosen:
        record = records[int(n)]
        height, width = record.size
        image = resize(read_rgb(record.image)).float()
        truth = shrink_truth(ground_truth(record.truth()), width / w, height / h)
        targets = encoder.encode_truths([truth])
        picture = _draw_truth(render_targets(image, targets, encoder, colours),
                              truth)
        path = out / "images" / f"{len(written):03d}_{record.image.stem}.png"
        ok, data = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        write_bytes(path, data.tobytes())
        written.append(str(path))
    return written


def check_labels(dataset_spec: str | Path, spec: DetectNetSpec, results_dir: str | Path, *,
                 num_images: int = 8, max_images: int | None = None, seed: int = 0,
                 progress: bool = True) -> dict[str, Any]:
    """Counts, round-trip AP and sample pictures (module docstring); returns the report."""
    from graft.fsutil import check_output_dir, write_json
    from graft.metrics.tables import write_csv
    from graft.tasks.detectnet_v2.decoder import DetectionDecoder
    from graft.tasks.detectnet_v2.encoder import TargetEncoder
    from graft.tasks.detectnet_v2.records import load_dataset, load_dataset_spec
    from graft.tasks.detectnet_v2.roundtrip import round_trip

    out = check_output_dir(results_dir)
    dataset = _reindex(load_dataset(load_dataset_spec(dataset_spec)), spec)
    records = dataset.train + (dataset.val or [])
    counts = dataset.counts(records)
    empty = [c for c in dataset.classes if counts[c]["objects"] == 0]
    scored = records if max_images is None else records[:max_images]
    _measure(scored, progress)
    h, w = spec.input_size
    scales = [(r.size[1] / w, r.size[0] / h) for r in scored]
    result = round_trip(TargetEncoder.from_spec(spec), DetectionDecoder.from_spec(spec),
                        [ground_truth(r.truth()) for r in scored], dataset.classes,
                        rules=spec.class_rules(),
                        mode=spec.evaluation_config.average_precision_mode, scales=scales)
    pictures = render_samples(scored, spec, out, num_images, seed)
    report = {"mAP": result.mean_ap, "mode": result.mode, "images": len(scored),
              "classes": dataset.classes, "counts": counts, "empty_classes": empty,
              "per_class": result.class_rows(), "skipped_boxes": dataset.warnings,
              "samples": pictures, "input_size": [h, w]}
    write_json(out / "check_labels.json", report)
    write_csv(out / "per_class.csv", ["class", "AP", "ground_truth", "detections",
                                      "true_positives", "false_positives", "recall"],
              result.class_rows())
    return report


def report_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(style, line) pairs for the console: loud problems first, then the verdict."""
    lines = [("bold red", f"class {name!r} has no object in the {report['images']} images: "
                          "check target_class_mapping's keys against the label files' class "
                          "names") for name in report["empty_classes"]]
    per_class = ", ".join(f"{r['class']} {r['AP']:.3f}" for r in report["per_class"]
                          if r["AP"] > -1)
    verdict = report["mAP"]
    style = "green" if verdict >= 0.95 else "yellow" if verdict >= 0.8 else "bold red"
    lines.append((style, f"round-trip mAP {verdict:.3f} ({report['mode']}) over "
                         f"{report['images']} images: {per_class}"))
    if verdict < 0.95:
        lines.append(("yellow", "below 0.95: objects at or under the clustering's "
                      "minimum_bounding_box_height, same-class boxes in each other's dead "
                      "zone or a high evaluation IoU lose what a perfect network would find"))
    return lines
