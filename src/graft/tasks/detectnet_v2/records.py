"""The labelled images of a ``dataset_config``: read once, checked, split into train and val.

Every command that needs ground truth (training, ``evaluate``, ``dataset_convert``,
``check_labels``) goes through :func:`load_dataset`, so a class mapping, a malformed line or a
box outside its image is reported the same way everywhere:

- KITTI sources through :mod:`graft.data.kitti` (errors name ``file:line``; zero-area boxes
  skipped with a warning), COCO sources through :mod:`graft.data.coco` (validated first);
- class names through ``target_class_mapping`` (:class:`graft.data.kitti.ClassMap`, matched
  ignoring case; an unmapped class is an error naming it; COCO category names are also tried
  in TLT's KITTI spelling, lowercased without spaces);
- DontCare (and classes mapped to ``dontcare``) become ignore regions of every class, COCO
  crowds ignore regions of their class;
- the validation data: ``validation_data_source``, or a seeded (optionally grouped) fold of
  the sources through :mod:`graft.data.split` (never TLT's first N files alphabetically).

Boxes are checked against their image (:func:`check_boxes`) where its size is known: COCO
entries carry it; KITTI images are measured when they are read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graft.data.kitti import DONTCARE, ClassMap, class_key, degenerate
from graft.errors import UserError
from graft.tasks.detectnet_v2.data_spec import DatasetConfig, DataSource

OUTSIDE_TOLERANCE = 1.0  # pixels a box may reach past the image border (rounding); clipped


@dataclass
class ImageRecord:
    """One image and its labels, boxes x1, y1, x2, y2 in image pixels."""

    image: Path
    boxes: np.ndarray  # (N, 4) float32
    labels: np.ndarray  # (N,) int64 class index
    ignored: np.ndarray  # (N,) bool: an ignore region of its class (a COCO crowd)
    regions: np.ndarray  # (M, 4) ignore regions of every class (DontCare)
    where: list[str] = field(default_factory=list)  # per box, then per region: "file:line"
    size: tuple[int, int] | None = None  # (height, width) when the labels give it
    weight: float = 1.0  # the data source's source_weight
    group_path: Path = Path()  # path relative to the source's image folder (group rules)
    entry: dict[str, Any] | None = None  # the COCO image entry (field:NAME group rules)

    def truth(self) -> dict[str, np.ndarray]:
        """Ground truth as plain arrays (what batches carry; see :func:`ground_truth`)."""
        return {"boxes": self.boxes, "labels": self.labels, "ignored": self.ignored,
                "regions": self.regions}


def ground_truth(truth: dict[str, np.ndarray], sx: float = 1.0, sy: float = 1.0) -> Any:
    """A :class:`graft.metrics.detection.GroundTruth` of :meth:`ImageRecord.truth`, its boxes
    multiplied by (sx, sy)."""
    from graft.metrics.detection import GroundTruth

    scale = np.array([sx, sy, sx, sy])
    return GroundTruth.of(np.asarray(truth["boxes"]) * scale, truth["labels"], truth["ignored"],
                          np.asarray(truth["regions"]).reshape(-1, 4) * scale)


@dataclass
class Dataset:
    """Train and validation records, the class names and what was skipped."""

    classes: list[str]
    train: list[ImageRecord]
    val: list[ImageRecord] | None
    warnings: list[str] = field(default_factory=list)

    def counts(self, records: Sequence[ImageRecord]) -> dict[str, dict[str, int]]:
        """Per class: counted objects, ignored objects and images holding any; plus dontcare."""
        table = {name: Counter() for name in self.classes}
        regions = 0
        for r in records:
            for k, name in enumerate(self.classes):
                mine = r.labels == k
                table[name]["objects"] += int((mine & ~r.ignored).sum())
                table[name]["ignored"] += int((mine & r.ignored).sum())
                table[name]["images"] += int((mine & ~r.ignored).any())
            regions += len(r.regions)
        out = {name: {key: c[key] for key in ("objects", "ignored", "images")}
               for name, c in table.items()}
        out[DONTCARE] = {"objects": regions, "ignored": 0, "images": 0}
        return out


def _empty(rows: int = 0) -> np.ndarray:
    return np.zeros((rows, 4), np.float32)


def _class_index(classes: Sequence[str]) -> dict[str, int]:
    return {class_key(c): k for k, c in enumerate(classes)}


def read_kitti_source(source: DataSource, class_map: ClassMap, classes: Sequence[str]
                      ) -> tuple[list[ImageRecord], list[str]]:
    """Records of a KITTI image/label folder pair and the warnings of skipped boxes."""
    from graft.data.kitti import pair_images_and_labels, read_labels

    index = _class_index(classes)
    image_dir = Path(source.image_directory_path)
    records, warnings = [], []
    for image, label in pair_images_and_labels(image_dir, source.label_directory_path):
        labels = read_labels(label, scores=False)
        warnings += labels.warnings
        objects, ignored = class_map.apply(labels)
        records.append(ImageRecord(
            image=image,
            boxes=np.array([o.box for o in objects], np.float32).reshape(-1, 4),
            labels=np.array([index[class_key(o.type)] for o in objects], np.int64),
            ignored=np.zeros(len(objects), bool),
            regions=np.array([o.box for o in ignored], np.float32).reshape(-1, 4),
            where=[f"{label}:{o.line}" for o in [*objects, *ignored]],
            weight=source.source_weight, group_path=image.relative_to(image_dir)))
    return records, warnings


def _coco_target(class_map: ClassMap, name: str, where: str) -> str | None:
    """A COCO category's target: its name as written, else TLT's KITTI spelling of it."""
    from graft.data.convert import kitti_name

    try:
        return class_map.target(name, where)
    except UserError:
        if kitti_name(name) == class_key(name):
            raise
        return class_map.target(kitti_name(name), where)


def read_coco_source(source: DataSource, class_map: ClassMap, classes: Sequence[str]
                     ) -> tuple[list[ImageRecord], list[str]]:
    """Records of a COCO annotation file (crowds: ignore regions of their class)."""
    from graft.data.coco import image_file, load_coco, where

    ann_file = Path(str(source.annotation_file))
    coco = load_coco(ann_file, "check dataset_config's annotation_file")
    index = _class_index(classes)
    targets = {cid: _coco_target(class_map, cat["name"], f"{ann_file}: category {cid}")
               for cid, cat in coco.cats.items()}
    image_dir = Path(source.image_directory_path)
    records, warnings = [], []
    for img_id in sorted(coco.imgs):
        entry = coco.imgs[img_id]
        boxes, labels, ignored, regions, box_where, region_where = [], [], [], [], [], []
        for ann in coco.imgToAnns.get(img_id, []):
            target = targets[ann["category_id"]]
            if target is None or not ann.get("bbox"):
                continue
            x, y, w, h = (float(v) for v in ann["bbox"])
            box = (x, y, x + w, y + h)
            name = where(ann, entry)
            if degenerate(box):
                warnings.append(f"{ann_file}: {name}: box ({x:g}, {y:g}, {x + w:g}, {y + h:g}) "
                                "has no area in whole pixels; skipped")
                continue
            if target == DONTCARE:
                regions.append(box)
                region_where.append(f"{ann_file}: {name}")
                continue
            boxes.append(box)
            labels.append(index[class_key(target)])
            ignored.append(bool(ann.get("iscrowd", 0)))
            box_where.append(f"{ann_file}: {name}")
        records.append(ImageRecord(
            image=image_file(image_dir, entry, "check dataset_config's image_directory_path"),
            boxes=np.array(boxes, np.float32).reshape(-1, 4), labels=np.array(labels, np.int64),
            ignored=np.array(ignored, bool), regions=np.array(regions, np.float32).reshape(-1, 4),
            where=box_where + region_where, size=(int(entry["height"]), int(entry["width"])),
            weight=source.source_weight, group_path=Path(entry["file_name"]), entry=entry))
    return records, warnings


def read_source(source: DataSource, class_map: ClassMap, classes: Sequence[str]
                ) -> tuple[list[ImageRecord], list[str]]:
    reader = read_kitti_source if source.format == "kitti" else read_coco_source
    return reader(source, class_map, classes)


def check_boxes(record: ImageRecord, height: int, width: int) -> None:
    """Refuse a box that lies past its image by more than a pixel (labels for another image
    size, or swapped coordinates); clip the rest to the image, in place."""
    limit = np.array([width, height, width, height], np.float32)
    for name in ("boxes", "regions"):
        boxes = getattr(record, name)
        bad = ((boxes < -OUTSIDE_TOLERANCE) | (boxes > limit + OUTSIDE_TOLERANCE)).any(1)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            where = record.where[k + (len(record.boxes) if name == "regions" else 0)] \
                if len(record.where) == len(record.boxes) + len(record.regions) else record.image
            x1, y1, x2, y2 = (float(v) for v in boxes[k])
            raise UserError(f"{where}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside its "
                            f"{width}x{height} image {record.image.name}",
                            "fix the label (boxes are x1 y1 x2 y2 in the image's own pixels)")
        setattr(record, name, np.minimum(np.maximum(boxes, 0), limit))
    record.size = (height, width)


def split_validation(records: list[ImageRecord], config: DatasetConfig
                     ) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """(train, val) by ``validation_split``: seeded, whole groups when ``group_by`` is set."""
    from graft.data.split import SplitPlan, assign, group_rule, keys_for

    split = config.validation_split
    assert split is not None
    plan = SplitPlan(("val", "train"), (split.fraction,), split.seed)
    coco = any(s.format == "coco" for s in config.data_sources)
    keys = keys_for([r.group_path for r in records], group_rule(split.group_by, coco=coco),
                    [r.entry or {} for r in records] if coco else None)
    parts = assign(keys, plan)
    return ([r for r, p in zip(records, parts, strict=True) if p == 1],
            [r for r, p in zip(records, parts, strict=True) if p == 0])


def load_dataset(config: DatasetConfig, *, with_validation: bool = True) -> Dataset:
    """Read every source (and the validation data); one-line errors for bad labels, a mapping
    that leaves no object, or no images at all."""
    class_map = config.class_map()
    classes = config.class_names
    records, warnings = [], []
    for source in config.data_sources:
        found, skipped = read_source(source, class_map, classes)
        records += found
        warnings += skipped
    if not records:
        raise UserError("dataset_config.data_sources hold no images", "check the image folders")
    val = None
    if with_validation and config.validation_data_source is not None:
        val, skipped = read_source(config.validation_data_source, class_map, classes)
        warnings += skipped
        if not val:
            raise UserError("dataset_config.validation_data_source holds no images",
                            "check its image folder")
    elif with_validation and config.validation_split is not None:
        records, val = split_validation(records, config)
    if not any((~r.ignored).any() for r in records):
        raise UserError(f"the training data ({len(records)} images) has no object of the "
                        f"target classes {', '.join(classes)}: target_class_mapping maps every "
                        "labelled object away", "check the source class names in the labels "
                        "against target_class_mapping's keys (matched ignoring case)")
    return Dataset(classes, records, val, warnings)


def load_dataset_spec(path: str | Path) -> DatasetConfig:
    """A dataset spec (``-d``): a YAML file whose ``dataset_config`` section (a whole training
    spec qualifies; its other sections are not read) or whole content is a ``dataset_config``,
    paths relative to the file's folder."""
    from graft.spec import read_yaml, validate
    from graft.spec_paths import resolve_spec_paths, spec_folder

    data = read_yaml(path)
    if isinstance(data, dict) and "dataset_config" in data:
        data = data["dataset_config"]
    if not isinstance(data, dict):
        raise UserError(f"{path} holds no dataset_config mapping",
                        "write dataset_config: {data_sources: ..., target_class_mapping: ...}")
    config = validate(DatasetConfig, data, f"{path} (dataset_config)")
    return resolve_spec_paths(config, spec_folder(path), source=str(path))
