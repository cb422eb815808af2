"""Reading and checking COCO ground-truth and result files before COCOeval sees them.

COCOeval asserts, crashes deep inside or silently mis-scores on many malformed inputs; here
each problem is a one-line :class:`UserError` naming the file, the entry and the fix. The
evaluator receives checked copies (the caller's data is never modified):

Ground truth
- ``images``, ``annotations`` and ``categories`` lists with integer ids; every annotation on a
  listed image and category.
- Annotation ids are renumbered 1..N: COCOeval records a match by the annotation's id and
  reads id 0 as "unmatched", so in a file numbered from 0 that object could be matched twice
  (and duplicate ids would collide).
- ``iscrowd`` defaults to 0 and a missing ``area`` to the box area (COCOeval needs both); for
  keypoints a missing ``num_keypoints`` is the number of labeled joints and an annotation
  without keypoints has none labeled (COCOeval then ignores it, as it does crowds).

Results (a list, as pycocotools' ``loadRes`` takes it)
- Each entry has an ``image_id`` and a ``category_id`` of the ground truth, a finite ``score``
  and what the IoU type compares: ``bbox`` [x, y, w, h]; ``segmentation`` as RLE of the
  image's size (polygons and uncompressed RLE are converted to compressed RLE); or
  ``keypoints``, three numbers per joint of the category.
- Other fields are dropped. For ``segm`` that includes ``bbox``: pycocotools takes a result's
  area from its box when it has one, which puts masks in the wrong small/medium/large range;
  without it the area is the mask's (as detectron2 does). A keypoint result keeps its
  ``bbox`` (then its area) if it has one, else it gets pycocotools' box around its keypoints.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from graft.data.coco import check_rle, load_json
from graft.errors import UserError

IouType = Literal["bbox", "segm", "keypoints"]
IOU_TYPES: tuple[str, ...] = ("bbox", "segm", "keypoints")
RESULT_FORMAT = ("a JSON list of detections such as [{\"image_id\": 1, \"category_id\": 3, "
                 "\"bbox\": [x, y, w, h], \"score\": 0.9}]")


@dataclass
class GroundTruth:
    """A checked COCO ground truth: the dict COCOeval receives and lookups for the results."""

    dataset: dict[str, Any]
    name: str  # the file (or "the ground truth"), for messages
    images: dict[int, dict[str, Any]] = field(default_factory=dict)
    categories: dict[int, dict[str, Any]] = field(default_factory=dict)
    joints: dict[int, int] = field(default_factory=dict)  # keypoints per category


def check_iou_type(iou_type: str) -> None:
    if iou_type not in IOU_TYPES:
        raise UserError(f"unknown IoU type {iou_type!r}", f"choose one of: {', '.join(IOU_TYPES)}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(entry: Mapping[str, Any], key: str, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        shown = "no " + repr(key) if key not in entry else f"{key} {value!r}"
        raise UserError(f"{where} has {shown}", f"give every entry an integer {key!r}")
    return value


def _known(entry: Mapping[str, Any], key: str, known: Mapping[int, Any], where: str,
           problem: Callable[[int], str], fix: str) -> int:
    """``entry[key]``, an integer id that must be in ``known`` (else ``problem(id)``)."""
    value = _integer(entry, key, where)
    if value not in known:
        raise UserError(f"{where} {problem(value)}", fix)
    return value


def _numbers(value: Any, where: str, key: str, length: int | None = None) -> list[float]:
    if value is None:
        raise UserError(f"{where} has no {key}", f"give every entry its {key}")
    if not isinstance(value, list) or not all(_number(v) for v in value):
        raise UserError(f"{where} has a {key} that is not a list of numbers: {_short(value)}",
                        f"write {key} as a list of finite numbers")
    if length is not None and len(value) != length:
        raise UserError(f"{where} has {len(value)} numbers in {key}, expected {length}",
                        f"check the {key} format")
    return value


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _box(entry: Mapping[str, Any], where: str) -> list[float]:
    box = _numbers(entry.get("bbox"), where, "bbox", 4)
    if box[2] < 0 or box[3] < 0:
        raise UserError(f"{where} has a bbox with negative width or height: {box}",
                        "write bbox as [x, y, width, height]")
    return [float(v) for v in box]


def _list_of(data: Mapping[str, Any], key: str, name: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise UserError(f"{name} has no {key!r} list", "pass a COCO annotation file (with "
                        "images, annotations and categories)")
    return value


def _by_id(entries: list[Any], what: str, name: str) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        where = f"{name}: {what}[{i}]"
        if not isinstance(entry, dict):
            raise UserError(f"{where} is not an object", f"write each of {what} as an object")
        key = _integer(entry, "id", where)
        if key in out:
            raise UserError(f"{where} repeats id {key}", f"give each of {what} its own id")
        out[key] = entry
    return out


def check_ground_truth(source: str | Path | Mapping[str, Any], iou_type: str) -> GroundTruth:
    """A checked copy of a COCO ground truth (a file or a dict) for ``iou_type``."""
    check_iou_type(iou_type)
    data, name = load_json(source, "ground-truth file")
    if not isinstance(data, Mapping):
        raise UserError(f"{name} is a JSON {type(data).__name__}, not a COCO annotation object",
                        "pass the annotation file to -a and the results list to -p")
    gt = GroundTruth({**data}, name)
    gt.images = _by_id(_list_of(data, "images", name), "images", name)
    gt.categories = _by_id(_list_of(data, "categories", name), "categories", name)
    annotations = _list_of(data, "annotations", name)
    if iou_type == "keypoints":
        gt.joints = _joint_counts(gt.categories, annotations)
    checked = []
    for i, ann in enumerate(annotations):
        where = f"{name}: annotations[{i}]"
        if not isinstance(ann, dict):
            raise UserError(f"{where} is not an object", "write each annotation as an object")
        if "id" in ann:
            where += f" (id {ann['id']})"
        checked.append(_annotation(ann, gt, iou_type, where, len(checked) + 1))
    gt.dataset["annotations"] = checked
    gt.dataset["images"] = list(gt.images.values())
    gt.dataset["categories"] = list(gt.categories.values())
    return gt


def _joint_counts(categories: dict[int, dict[str, Any]], annotations: list[Any]) -> dict[int, int]:
    """Joints per category: its ``keypoints`` names, else the length of its first annotation's."""
    joints = {cid: len(c["keypoints"]) for cid, c in categories.items()
              if isinstance(c.get("keypoints"), list) and c["keypoints"]}
    for ann in annotations:
        if (isinstance(ann, dict) and isinstance(ann.get("keypoints"), list)
                and ann.get("category_id") not in joints):
            joints[ann.get("category_id")] = len(ann["keypoints"]) // 3
    return joints


def _annotation(ann: dict[str, Any], gt: GroundTruth, iou_type: str, where: str,
                new_id: int) -> dict[str, Any]:
    image_id = _known(ann, "image_id", gt.images, where,
                      lambda v: f"is on image {v}, which {gt.name} does not list",
                      "add the image to 'images' or fix the annotation's image_id")
    category_id = _known(ann, "category_id", gt.categories, where,
                         lambda v: f"has category_id {v}, which {gt.name} does not list",
                         "add the category to 'categories' or fix the annotation")
    new = {**ann, "id": new_id, "iscrowd": int(bool(ann.get("iscrowd", 0)))}
    if iou_type != "segm" or "bbox" in ann or "area" not in ann:
        new["bbox"] = _box(ann, where)
    if "area" not in ann:
        new["area"] = new["bbox"][2] * new["bbox"][3]
    elif not _number(ann["area"]):
        raise UserError(f"{where} has area {ann['area']!r}", "write area as a number (pixels)")
    if iou_type == "segm":
        _check_ground_truth_mask(ann.get("segmentation"), gt.images[image_id], where)
    elif iou_type == "keypoints":
        count = gt.joints.get(category_id, 0)
        kps = ann.get("keypoints")
        kps = [0.0] * (3 * count) if kps is None else _numbers(kps, where, "keypoints",
                                                              3 * count)
        new["keypoints"] = kps
        if "num_keypoints" not in ann:
            new["num_keypoints"] = sum(1 for v in kps[2::3] if v > 0)
    return new


def _image_size(image: Mapping[str, Any], where: str) -> tuple[int, int]:
    h, w = image.get("height"), image.get("width")
    if not (isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0):
        raise UserError(f"{where}: its image {image.get('id')} has no height/width",
                        "give every image its 'height' and 'width' in pixels (masks need them)")
    return h, w


def _check_ground_truth_mask(segm: Any, image: Mapping[str, Any], where: str) -> None:
    """Polygons (lists of x, y numbers) or RLE of the image's size, as COCOeval reads them."""
    h, w = _image_size(image, where)
    if isinstance(segm, dict):
        check_rle(segm, h, w, where)
        return
    if (not isinstance(segm, list) or not segm
            or not all(isinstance(p, list) and len(p) % 2 == 0 and len(p) >= 4
                       and all(_number(v) for v in p) for p in segm)):
        raise UserError(f"{where} has a segmentation that is neither polygons nor RLE: "
                        f"{_short(segm)}", "write polygons as [[x1, y1, x2, y2, ...]] or RLE "
                        "as {\"size\": [h, w], \"counts\": ...}")


def check_results(source: str | Path | Sequence[Any], gt: GroundTruth, iou_type: str
                  ) -> list[dict[str, Any]]:
    """Checked copies of the results (a file or a list) against the ground truth."""
    data, name = load_json(source, "results file")
    if isinstance(data, Mapping):
        hint = ("it is a COCO dataset, not results" if "annotations" in data
                else "it is an object, not a list")
        raise UserError(f"{name}: {hint}", f"pass {RESULT_FORMAT}")
    if not isinstance(data, list):
        raise UserError(f"{name} is not a list of detections", f"pass {RESULT_FORMAT}")
    return [_result(r, gt, iou_type, f"{name}: results[{i}]") for i, r in enumerate(data)]


def _result(entry: Any, gt: GroundTruth, iou_type: str, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise UserError(f"{where} is not an object", f"pass {RESULT_FORMAT}")
    image_id = _known(entry, "image_id", gt.images, where,
                      lambda v: f"has image_id {v}, which is not an image of {gt.name}",
                      "score results against the ground truth of the same images")
    ids = ", ".join(str(c) for c in sorted(gt.categories)[:20])
    more = ", ..." if len(gt.categories) > 20 else ""
    category_id = _known(entry, "category_id", gt.categories, where,
                         lambda v: f"has category_id {v}, which is not a category of "
                         f"{gt.name} (ids {ids}{more})",
                         "map the detector's class indices to the ground truth's category ids")
    score = entry.get("score")
    if not _number(score):
        raise UserError(f"{where} has score {score!r}", "give every result a finite number "
                        "as its score")
    out: dict[str, Any] = {"image_id": image_id, "category_id": category_id,
                           "score": float(score)}
    if iou_type == "bbox":
        out["bbox"] = _box(entry, where)
    elif iou_type == "segm":
        out["segmentation"] = result_rle(entry.get("segmentation"), gt.images[image_id], where)
    else:
        count = gt.joints.get(category_id, 0)
        out["keypoints"] = [float(v) for v in
                            _numbers(entry.get("keypoints"), where, "keypoints", 3 * count)]
        if "bbox" in entry:
            out["bbox"] = _box(entry, where)
    return out


def result_rle(segm: Any, image: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A result mask as compressed RLE (string counts) of the image's size."""
    from faster_coco_eval.core import mask as mask_utils

    h, w = _image_size(image, where)
    if isinstance(segm, dict):
        check_rle(segm, h, w, where)
        if isinstance(segm["counts"], str):
            return {"size": [h, w], "counts": segm["counts"]}
        rle = mask_utils.frPyObjects(segm, h, w)
    elif (isinstance(segm, list) and segm
          and all(isinstance(p, list) and len(p) % 2 == 0 and len(p) >= 6
                  and all(_number(v) for v in p) for p in segm)):
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    else:
        raise UserError(f"{where} has a segmentation that is neither RLE nor polygons: "
                        f"{_short(segm)}", "write masks as RLE {\"size\": [h, w], \"counts\": "
                        "\"...\"} or polygons [[x1, y1, x2, y2, x3, y3, ...]]")
    counts = rle["counts"]
    return {"size": [h, w], "counts": counts.decode() if isinstance(counts, bytes) else counts}
