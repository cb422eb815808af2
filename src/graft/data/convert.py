"""COCO <-> KITTI conversion (``graft convert coco2kitti`` / ``kitti2coco``).

COCO -> KITTI, as TLT converts (category names lowercased with spaces removed, since KITTI
separates fields by spaces; box ``x, y, w, h`` -> corners), except that crowd annotations are
kept as ``DontCare`` ignore regions instead of becoming objects. Two categories whose
converted names collide are an error.

KITTI -> COCO: one category per (mapped) class, ids from 1 in sorted order; images numbered
from 1 in sorted path order with their sizes read from the file headers (EXIF orientation
applied, as the image reader applies it); ``DontCare`` regions become ``iscrowd`` annotations
of every category (KITTI's ignore regions hold for all classes, COCO's crowd regions are per
category), with the box as their polygon. Boxes TLT would skip (no area in whole pixels) are
skipped and reported. A round trip keeps every box to KITTI's two decimals.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from graft.data.coco import load_coco, where
from graft.data.kitti import (
    DONTCARE,
    ClassMap,
    KittiObject,
    pair_images_and_labels,
    read_labels,
    write_labels,
)
from graft.errors import UserError
from graft.fsutil import atomic_dir, check_fresh_dir, write_json


def track(items: Any, description: str, total: int | None = None, disable: bool = False):
    """rich's progress bar (imported when used: the CLI starts faster without it)."""
    from rich.progress import track as rich_track

    return rich_track(items, description=description, total=total, disable=disable)

IMAGE_MODES = ("none", "copy", "link")


def kitti_name(category: str) -> str:
    """TLT's KITTI class name of a COCO category: lowercased, spaces removed."""
    return "".join(category.split()).lower()


def require_new_dir(path: str | Path, option: str) -> Path:
    """An output folder that does not exist yet or is empty, in a writable place (checked
    before any work)."""
    return check_fresh_dir(path, what="output folder",
                           fix=f"choose a new {option} folder or empty it")


def coco_to_kitti(annotation_file: str | Path, out_dir: str | Path,
                  image_dir: str | Path | None = None, images: str = "none",
                  progress: bool = True) -> dict[str, Any]:
    """Write ``OUT/labels/<image path>.txt`` (and ``OUT/images`` copied or hard-linked when
    ``images`` is ``copy``/``link``); returns per-class counts. The folder appears whole."""
    if images not in IMAGE_MODES:
        raise UserError(f"--images {images!r} is not one of {', '.join(IMAGE_MODES)}")
    if images != "none" and image_dir is None:
        raise UserError(f"--images {images} needs the image folder", "pass -i IMAGE_DIR")
    out = require_new_dir(out_dir, "output")
    coco = load_coco(annotation_file)
    names: dict[int, str] = {}
    for cat_id, cat in sorted(coco.cats.items()):
        name = kitti_name(cat["name"])
        clash = next((c for c, n in names.items() if n == name), None)
        if clash is not None or name == DONTCARE or not name:
            raise UserError(f"categories {coco.cats[clash]['name']!r} and {cat['name']!r} both "
                            f"become KITTI class {name!r}" if clash is not None else
                            f"category {cat['name']!r} cannot be a KITTI class name",
                            "rename one of the categories in the COCO file")
        names[cat_id] = name
    counts: Counter[str] = Counter()
    labels: dict[Path, dict] = {}
    for img_id in sorted(coco.imgs):
        image = coco.imgs[img_id]
        rel = Path(image["file_name"]).with_suffix(".txt")
        if rel in labels:
            raise UserError(f"images {labels[rel]['id']} and {img_id} both need the label file "
                            f"{rel}", "give the images distinct file name stems")
        labels[rel] = image
    with atomic_dir(out) as tmp:
        for rel, image in track(labels.items(), "coco2kitti", disable=not progress):
            objects = _kitti_objects(coco, image, names)
            counts.update(o.type for o in objects)
            write_labels(tmp / "labels" / rel, objects)
            if images != "none":
                _place_image(Path(image_dir) / image["file_name"],  # type: ignore[arg-type]
                             tmp / "images" / image["file_name"], images, image["id"])
    return {"images": len(labels), "objects": dict(sorted(counts.items())),
            "labels": str(out / "labels"),
            "images_dir": str(out / "images") if images != "none" else str(image_dir or "")}


def _kitti_objects(coco: Any, image: dict, names: dict[int, str]) -> list[KittiObject]:
    from graft.data.coco import annotation_mask
    from graft.data.masks import mask_bbox

    objects: list[KittiObject] = []
    regions: set[tuple[float, ...]] = set()
    for ann in coco.imgToAnns.get(image["id"], []):
        box = ann.get("bbox")
        if not box:
            if not ann.get("segmentation"):
                raise UserError(f"{where(ann, image)} has neither bbox nor segmentation",
                                "give it a bbox")
            box = mask_bbox(annotation_mask(coco, ann, image))
        x, y, w, h = (float(v) for v in box)
        corners = (x, y, x + w, y + h)
        if ann.get("iscrowd", 0):
            key = tuple(round(v, 2) for v in corners)
            if key not in regions:  # one DontCare per region, however many categories
                regions.add(key)
                objects.append(KittiObject("DontCare", corners))
        else:
            objects.append(KittiObject(names[ann["category_id"]], corners))
    return objects


def _place_image(source: Path, target: Path, mode: str, image_id: int) -> None:
    if not source.is_file():
        raise UserError(f"image file not found: {source} (image id {image_id})",
                        "check the image folder (-i)")
    place_file(source, target, mode)


def place_file(source: Path, target: Path, mode: str) -> None:
    """Copy ``source`` to ``target``, or hard-link it (``mode`` ``link``) where possible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        try:
            os.link(source, target)
            return
        except OSError:  # another file system, or links not allowed: copy instead
            pass
    shutil.copy2(source, target)


def kitti_to_coco(image_dir: str | Path, label_dir: str | Path, out_file: str | Path,
                  class_map: ClassMap | None = None, progress: bool = True) -> dict[str, Any]:
    """Write one COCO annotation file for a KITTI image/label folder pair; returns counts and
    the warnings of skipped boxes (``path:line: ...``)."""
    from graft.data.images import image_size

    class_map = class_map or ClassMap()
    image_dir = Path(image_dir)
    pairs = pair_images_and_labels(image_dir, label_dir)
    warnings: list[str] = []
    per_image: list[tuple[Path, list[KittiObject], list[KittiObject]]] = []
    for image, label in track(pairs, "reading labels", disable=not progress):
        labels = read_labels(label, scores=False)
        warnings += labels.warnings
        objects, ignored = class_map.apply(labels)
        per_image.append((image, objects, ignored))
    names = class_map.targets if class_map.mapping is not None else sorted(
        {o.type for _, objects, _ in per_image for o in objects})
    cat_ids = {name: k for k, name in enumerate(names, start=1)}
    coco: dict[str, Any] = {"info": {"description": f"converted from KITTI labels in "
                                     f"{Path(label_dir).name} by graft"},
                            "images": [], "annotations": [],
                            "categories": [{"id": i, "name": n, "supercategory": n}
                                           for n, i in cat_ids.items()]}
    counts: Counter[str] = Counter()
    numbered = enumerate(per_image, start=1)
    for img_id, (image, objects, ignored) in track(numbered, "kitti2coco", len(per_image),
                                                    disable=not progress):
        width, height = image_size(image)
        coco["images"].append({"id": img_id, "file_name": image.relative_to(image_dir)
                               .as_posix(), "width": width, "height": height})
        for obj in objects:
            counts[obj.type] += 1
            _add(coco, img_id, cat_ids[obj.type], obj.box, crowd=False)
        for region in ignored:
            counts[DONTCARE] += 1
            for cat_id in cat_ids.values():
                _add(coco, img_id, cat_id, region.box, crowd=True)
    write_json(out_file, coco)
    return {"images": len(per_image), "objects": dict(sorted(counts.items())),
            "categories": names, "warnings": warnings, "annotation_file": str(out_file)}


def _add(coco: dict[str, Any], img_id: int, cat_id: int, box: tuple[float, ...],
         crowd: bool) -> None:
    x1, y1, x2, y2 = box
    w, h = round(x2 - x1, 4), round(y2 - y1, 4)
    ann = {"id": len(coco["annotations"]) + 1, "image_id": img_id, "category_id": cat_id,
           "bbox": [x1, y1, w, h], "area": round(w * h, 4), "iscrowd": int(crowd)}
    if crowd:
        ann["segmentation"] = [[x1, y1, x2, y1, x2, y2, x1, y2]]
    coco["annotations"].append(ann)
