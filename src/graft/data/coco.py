"""COCO annotation files for every task: loading, validation and per-image instances.

pycocotools does the decoding (polygons, compressed and uncompressed RLE, crowd regions);
this module checks a file before anything trains on it and stops at the first problem with a
one-line error that names the image or annotation and the fix. What is checked:

- the file is JSON with ``images``, ``annotations`` and ``categories`` lists;
- images: unique integer ``id``, ``file_name``, positive ``width``/``height``;
- categories: unique integer ``id`` and a ``name``;
- annotations: unique ``id``, an ``image_id`` the file lists, a known ``category_id``,
  ``bbox`` as four numbers with non-negative width and height, ``iscrowd`` 0 or 1,
  ``segmentation`` as polygons (at least three points each) or an RLE of the image's size,
  ``keypoints`` as x, y, v triples (as many as the category names, where it names them).

Masks are decoded only where they are used (:func:`annotation_mask`), so validating a large
file stays fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graft.errors import UserError, require_file
from graft.spec_paths import path_origin


def where(ann: dict, image: dict | None = None) -> str:
    """``annotation 7 (image 3, a.jpg)``: how errors name an annotation."""
    if image is None:
        return f"annotation {ann.get('id')} (image {ann.get('image_id')})"
    return f"annotation {ann.get('id')} (image {image['id']}, {image['file_name']})"


def load_json(source: str | Path | Any, what: str) -> tuple[Any, str]:
    """The parsed file (or ``source`` itself when it is already data) and a name for messages."""
    if not isinstance(source, str | Path):
        return source, f"the {what}"
    path = require_file(source, what)
    try:
        return json.loads(path.read_text(encoding="utf-8")), str(path)
    except UnicodeDecodeError:
        raise UserError(f"{what} {path} is not UTF-8 text", "pass a JSON file") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} {path} is not valid JSON ({exc.msg} at line {exc.lineno} "
                        f"column {exc.colno})", "fix the file or pass the right one") from None


def read_coco_json(path: str | Path, fix: str = "check the path") -> dict[str, Any]:
    """The parsed annotation file; a missing or non-JSON file is a one-line error (``fix``:
    the hint for a missing file, e.g. which spec field names it)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"annotation file not found: {path}{path_origin(path)}", fix)
    data, _ = load_json(path, "annotation file")
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a COCO annotation file (top level is not an object)",
                        "it needs images, annotations and categories lists")
    return data


def load_coco(path: str | Path, fix: str = "check the path") -> Any:
    """A validated pycocotools ``COCO`` object of ``path`` (``fix``: the hint for a missing
    file, e.g. which spec field names it)."""
    path = Path(path)
    data = read_coco_json(path, fix)
    validate_coco(data, path)
    return coco_from_dict(data)


def coco_from_dict(data: dict[str, Any]) -> Any:
    """pycocotools ``COCO`` over an in-memory dataset (quietly: it prints while indexing)."""
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


# -- validation -------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _list_of(data: dict, key: str, path: Path, required: bool = True) -> list:
    value = data.get(key, None if required else [])
    if not isinstance(value, list):
        raise UserError(f"{path} has no '{key}' list", "a COCO file needs images, annotations "
                        "and categories lists")
    for k, item in enumerate(value):
        if not isinstance(item, dict):
            raise UserError(f"{path}: {key}[{k}] is not an object", f"fix the {key} list")
    return value


def validate_coco(data: dict[str, Any], path: str | Path) -> None:
    """Raise a one-line UserError at the first problem (module docstring lists the checks)."""
    path = Path(path)
    images = _list_of(data, "images", path)
    anns = _list_of(data, "annotations", path, required=False)
    cats = _list_of(data, "categories", path)
    by_id: dict[int, dict] = {}
    for k, image in enumerate(images):
        img_id = image.get("id")
        if not _is_int(img_id):
            raise UserError(f"{path}: images[{k}] has no integer id", "give every image an id")
        if img_id in by_id:
            raise UserError(f"{path}: image id {img_id} appears twice", "make image ids unique")
        if not isinstance(image.get("file_name"), str) or not all(
                _is_int(image.get(key)) and image[key] > 0 for key in ("height", "width")):
            raise UserError(f"image {img_id} in {path} lacks file_name/height/width",
                            "every COCO image entry needs them (sizes in pixels, > 0)")
        by_id[img_id] = image
    categories: dict[int, dict] = {}
    for k, cat in enumerate(cats):
        if not _is_int(cat.get("id")) or not isinstance(cat.get("name"), str):
            raise UserError(f"{path}: categories[{k}] needs an integer id and a name",
                            "fix the categories list")
        if cat["id"] in categories:
            raise UserError(f"{path}: category id {cat['id']} appears twice",
                            "make category ids unique")
        categories[cat["id"]] = cat
    seen: set[int] = set()
    for k, ann in enumerate(anns):
        ann_id = ann.get("id")
        if not _is_int(ann_id):
            raise UserError(f"{path}: annotations[{k}] has no integer id",
                            "give every annotation an id")
        if ann_id in seen:
            raise UserError(f"{path}: annotation id {ann_id} appears twice",
                            "make annotation ids unique")
        seen.add(ann_id)
        image = by_id.get(ann.get("image_id"))  # type: ignore[arg-type]
        if image is None:
            raise UserError(f"{path}: annotation {ann_id} refers to image {ann.get('image_id')!r}"
                            ", which the file does not list", "add the image or remove the "
                            "annotation")
        _check_annotation(ann, image, categories, path)


def _check_annotation(ann: dict, image: dict, categories: dict[int, dict], path: Path) -> None:
    name = where(ann, image)
    cat = categories.get(ann.get("category_id"))  # type: ignore[arg-type]
    if cat is None:
        known = ", ".join(f"{c['id']} {c['name']}" for c in list(categories.values())[:8])
        raise UserError(f"{path}: {name} has category_id {ann.get('category_id')!r}, which is "
                        f"not among the categories ({known or 'none'})",
                        "add the category or fix the annotation's category_id")
    box = ann.get("bbox")
    if box is not None and not (isinstance(box, list) and len(box) == 4 and
                                all(_is_number(v) for v in box) and box[2] >= 0 and box[3] >= 0):
        raise UserError(f"{path}: {name} has bbox {box!r}",
                        "give [x, y, width, height] with width and height >= 0")
    if ann.get("iscrowd", 0) not in (0, 1):
        raise UserError(f"{path}: {name} has iscrowd {ann.get('iscrowd')!r}", "use 0 or 1")
    _check_segmentation(ann.get("segmentation"), image, name, path)
    kps = ann.get("keypoints")
    if kps is not None:
        names = cat.get("keypoints")
        if not isinstance(kps, list) or len(kps) % 3 or not all(_is_number(v) for v in kps):
            raise UserError(f"{path}: {name} has keypoints that are not x, y, v number triples",
                            "give 3 numbers per keypoint")
        if kps and isinstance(names, list) and names and len(kps) != 3 * len(names):
            raise UserError(f"{path}: {name} has {len(kps) // 3} keypoints, category "
                            f"{cat['name']!r} names {len(names)}",
                            "give one x, y, v triple per keypoint the category names")


def _check_segmentation(seg: Any, image: dict, name: str, path: Path) -> None:
    if seg is None or seg == []:
        return
    if isinstance(seg, list):
        for k, poly in enumerate(seg):
            if not isinstance(poly, list) or not all(_is_number(v) for v in poly):
                raise UserError(f"{path}: {name}: polygon {k} is not a list of numbers",
                                "write polygons as [x1, y1, x2, y2, ...]")
            if len(poly) < 6 or len(poly) % 2:
                raise UserError(f"{path}: {name}: polygon {k} has {len(poly)} coordinates",
                                "a polygon needs an even number of coordinates, at least 3 "
                                "points (6 numbers); fix or remove it")
        return
    if not isinstance(seg, dict):
        raise UserError(f"{path}: {name}: segmentation is neither polygons nor an RLE",
                        "use a list of polygons or {'size': [h, w], 'counts': ...}")
    check_rle(seg, int(image["height"]), int(image["width"]), f"{path}: {name}")


def check_rle(rle: Mapping[str, Any], h: int, w: int, where: str) -> None:
    """An RLE segmentation of an h x w image, as pycocotools reads it (``where`` names it)."""
    size, counts = rle.get("size"), rle.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise UserError(f"{where} has an RLE segmentation without a [height, width] size",
                        "write RLE as {\"size\": [h, w], \"counts\": ...}")
    if list(size) != [h, w]:
        raise UserError(f"{where} has a {size[0]}x{size[1]} RLE mask on a {h}x{w} image",
                        "encode masks at the image's size")
    if isinstance(counts, list):
        if not all(isinstance(v, int) and v >= 0 for v in counts) or sum(counts) != h * w:
            raise UserError(f"{where} has uncompressed RLE counts that do not cover the "
                            f"{h}x{w} image", "counts must be run lengths summing to h*w")
    elif not isinstance(counts, str) or not counts:
        raise UserError(f"{where} has RLE counts that are neither a string nor a list",
                        "write counts as pycocotools' string or a list of run lengths")


# -- per-image access -------------------------------------------------------------------------
def image_file(image_dir: Path, image: dict, fix: str = "check the image folder") -> Path:
    """The file of an image entry; a missing file is an error naming the image id."""
    path = Path(image_dir) / image["file_name"]
    if not path.is_file():
        raise UserError(f"image file not found: {path} (image id {image['id']})", fix)
    return path


def annotation_mask(coco: Any, ann: dict, image: dict) -> np.ndarray:
    """uint8 (H, W) 0/1 mask of an annotation: its polygons or RLE, else its box."""
    h, w = int(image["height"]), int(image["width"])
    seg = ann.get("segmentation")
    if not seg:  # no outline: fall back to the box
        mask = np.zeros((h, w), dtype=np.uint8)
        x, y, bw, bh = (float(v) for v in ann.get("bbox", (0, 0, 0, 0)))
        x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
        mask[y0:int(np.ceil(y + bh)), x0:int(np.ceil(x + bw))] = 1
        return mask
    try:
        mask = coco.annToMask(ann)
    except Exception as exc:  # pycocotools raises bare Exceptions/TypeErrors on bad shapes
        raise UserError(f"{where(ann, image)}: segmentation cannot be decoded "
                        f"({type(exc).__name__}: {exc})",
                        "fix its polygon/RLE or remove the segmentation") from None
    if mask.shape != (h, w):
        raise UserError(f"{where(ann, image)}: RLE size {mask.shape[::-1]} differs from the "
                        f"{w}x{h} image", "fix the segmentation size")
    return mask


@dataclass
class Instances:
    """The objects of one image as arrays (what detection and segmentation tasks train on)."""

    ann_ids: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2 in pixels
    category_ids: np.ndarray  # (N,) int64
    crowd: np.ndarray  # (N,) bool: iscrowd regions, to be ignored rather than detected
    keypoints: np.ndarray | None  # (N, K, 3) float32 where every annotation has keypoints

    def __len__(self) -> int:
        return len(self.ann_ids)


def instances(coco: Any, image_id: int, category_ids: set[int] | None = None) -> Instances:
    """The annotations of ``image_id`` (of ``category_ids`` if given) as :class:`Instances`."""
    anns = [a for a in coco.imgToAnns.get(image_id, [])
            if category_ids is None or a["category_id"] in category_ids]
    boxes = np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in
                      (a.get("bbox") or (0, 0, 0, 0) for a in anns)],
                     dtype=np.float32).reshape(-1, 4)
    kps = [a.get("keypoints") for a in anns]
    keypoints = None
    if anns and all(kps) and len({len(k) for k in kps}) == 1:
        keypoints = np.asarray(kps, dtype=np.float32).reshape(len(anns), -1, 3)
    return Instances(
        ann_ids=np.array([a["id"] for a in anns], dtype=np.int64),
        boxes=boxes,
        category_ids=np.array([a["category_id"] for a in anns], dtype=np.int64),
        crowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
        keypoints=keypoints,
    )
