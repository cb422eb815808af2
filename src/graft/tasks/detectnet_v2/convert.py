"""``graft detectnet_v2 dataset_convert``: check a whole dataset and write it as clean KITTI.

TLT converts to TFRecords before training; graft trains from the sources directly, so this
command is the up-front check of everything training would meet, and a normalized copy:

- every label file and COCO annotation is read through the dataset spec's
  ``target_class_mapping`` (an unmapped class is an error naming it; names match ignoring
  case), every image's header is read (an unreadable image is an error naming it) and every
  box is checked against its image's size;
- the validation data is formed as training forms it (``validation_split``: seeded, whole
  groups with ``group_by``; or ``validation_data_source``);
- ``OUT/train`` and ``OUT/val`` hold ``images/`` (hard links where possible, else copies)
  and ``labels/`` in KITTI with the target class names; DontCare regions and COCO crowds are
  written as ``DontCare`` (KITTI has no per-class ignore region);
- ``OUT/dataset_spec.yaml`` is a ``dataset_config`` for the converted data,
  ``OUT/summary.json`` the per-class counts, ``OUT/warnings.txt`` the boxes skipped (no area
  in whole pixels) with their file and line.

The folder appears whole or not at all (:func:`graft.fsutil.atomic_dir`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from graft.data.kitti import DONTCARE, KittiObject, write_labels
from graft.errors import UserError
from graft.fsutil import write_json, write_text
from graft.tasks.detectnet_v2.records import Dataset, ImageRecord, check_boxes, load_dataset


def _objects(record: ImageRecord, classes: list[str]) -> list[KittiObject]:
    objects = [KittiObject(classes[int(c)] if not ign else "DontCare", tuple(map(float, b)))
               for b, c, ign in zip(record.boxes, record.labels, record.ignored, strict=True)]
    return objects + [KittiObject("DontCare", tuple(map(float, b))) for b in record.regions]


def _check_images(records: list[ImageRecord], what: str, progress: bool) -> None:
    from graft.data.convert import track
    from graft.data.images import image_size

    for record in track(records, f"checking {what}", disable=not progress):
        width, height = image_size(record.image)
        if record.size is not None and record.size != (height, width):
            raise UserError(f"{record.image} is {width}x{height} but its annotation says "
                            f"{record.size[1]}x{record.size[0]}", "fix the image entry's "
                            "width and height")
        check_boxes(record, height, width)


def _write_split(root: Path, name: str, records: list[ImageRecord], classes: list[str],
                 mode: str, progress: bool) -> None:
    from graft.data.convert import place_file, track

    for record, rel in track(list(zip(records, _relpaths(records), strict=True)),
                             f"writing {name}", disable=not progress):
        place_file(record.image, root / name / "images" / rel, mode)
        write_labels((root / name / "labels" / rel).with_suffix(".txt"),
                     _objects(record, classes))


def _root(record: ImageRecord) -> tuple[str, ...]:
    """The image folder of a record's source (its path less the relative part)."""
    return record.image.parts[:len(record.image.parts) - len(record.group_path.parts)]


def _relpaths(records: list[ImageRecord]) -> list[Path]:
    """Output paths inside ``images/``: as in the source's image folder, under ``sourceN/``
    when the records come from several folders."""
    roots = sorted({_root(r) for r in records})
    rels, seen = [], set()
    for r in records:
        rel = Path(f"source{roots.index(_root(r))}") / r.group_path if len(roots) > 1 \
            else r.group_path
        if rel in seen:
            raise UserError(f"two images would be written to {rel} (one is {r.image})",
                            "give the images distinct paths")
        seen.add(rel)
        rels.append(rel)
    return rels


def converted_spec(dataset: Dataset) -> dict[str, Any]:
    config: dict[str, Any] = {
        "data_sources": [{"image_directory_path": "train/images",
                          "label_directory_path": "train/labels"}],
        "target_class_mapping": {**{c: c for c in dataset.classes}, DONTCARE: DONTCARE}}
    if dataset.val:
        config["validation_data_source"] = {"image_directory_path": "val/images",
                                            "label_directory_path": "val/labels"}
    return {"dataset_config": config}


def dataset_convert(dataset_spec: str | Path, out_dir: str | Path, *, images: str = "link",
                    progress: bool = True) -> dict[str, Any]:
    """Check and convert (module docstring); returns the summary that summary.json holds."""
    from graft.data.convert import require_new_dir
    from graft.fsutil import atomic_dir
    from graft.tasks.detectnet_v2.records import load_dataset_spec

    if images not in ("link", "copy"):
        raise UserError(f"--images {images!r} is not link or copy")
    out = require_new_dir(out_dir, "-o output")
    dataset = load_dataset(load_dataset_spec(dataset_spec))
    splits = {"train": dataset.train, **({"val": dataset.val} if dataset.val else {})}
    for name, records in splits.items():
        _check_images(records, name, progress)
    summary = {"classes": dataset.classes,
               "splits": {name: {"images": len(records), "classes": dataset.counts(records)}
                          for name, records in splits.items()},
               "skipped_boxes": len(dataset.warnings), "images": images}
    with atomic_dir(out) as tmp:
        for name, records in splits.items():
            _write_split(tmp, name, records, dataset.classes, images, progress)
        write_text(tmp / "warnings.txt", "".join(f"{w}\n" for w in dataset.warnings))
        write_text(tmp / "dataset_spec.yaml", yaml.safe_dump(converted_spec(dataset),
                                                             sort_keys=False))
        write_json(tmp / "summary.json", summary)
    return summary
