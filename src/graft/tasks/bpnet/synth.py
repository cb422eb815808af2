"""``graft synth pose``: a generated COCO-format keypoint dataset of stick-figure people.

Each image has a textured, noisy background with distractor shapes and 1..``max_persons``
articulated front-facing figures (torso, limbs as thick lines, a head with eyes) in random
poses, scales and positions; some are cut by the border, some hidden behind others or behind
boxes. Labels follow COCO exactly: 17 keypoints in COCO order, visibility 2 visible, 1 occluded
(covered by a later-drawn figure or a box), 0 outside the image (then x = y = 0); segmentation
as polygons or compressed RLE; small figures annotated without keypoints and crowds of tiny
figures as ``iscrowd`` annotations (uncompressed RLE), both of which training masks out.

Output::

    OUT/images/{train,val}/000001.jpg
    OUT/annotations/person_keypoints_{train,val}.json
    OUT/dataset_spec.json        # ready for `graft bpnet dataset_convert --dataset_spec`
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from graft.data.masks import mask_bbox, polygons, rle_compressed, rle_uncompressed
from graft.errors import UserError
from graft.fsutil import atomic_dir, check_fresh_dir, write_bytes, write_json
from graft.tasks.bpnet.figures import (
    COCO_KEYPOINT_NAMES,
    COCO_SKELETON,
    Figure,
    draw_figure,
    figure_mask,
    random_figure,
    sensor_noise,
    textured_background,
)

__all__ = ["COCO_KEYPOINT_NAMES", "COCO_SKELETON", "Figure", "SceneItem", "draw_figure",
           "make_pose_dataset", "random_figure", "random_scene", "render_image", "render_scene",
           "rle_compressed", "rle_uncompressed", "polygons", "parse_range", "parse_size"]


# -- one image --------------------------------------------------------------------------------
@dataclass
class SceneItem:
    """Something drawn on an image, in order: ``person`` (labeled), ``unlabeled`` (a person
    annotated without keypoints), ``crowd`` (tiny figures, one iscrowd annotation) or ``box``
    (an occluder, ``box`` = x0, y0, x1, y1)."""

    kind: str
    figures: list[Figure]
    box: tuple[int, int, int, int] | None = None
    rle: bool | None = None  # segmentation as compressed RLE (True) or polygons (False)


def random_scene(rng: np.random.Generator, size: tuple[int, int], max_persons: int,
                 crowd_prob: float = 0.15, unlabeled_prob: float = 0.2,
                 occluder_prob: float = 0.3, border_cut_prob: float = 0.1,
                 person_height: tuple[float, float] = (0.3, 0.8)) -> list[SceneItem]:
    """Random scene: far things first, nearer figures later, an occluding box last.

    ``person_height`` bounds a labeled figure's height as a fraction of the image height.
    """
    h, w = size
    items: list[SceneItem] = []
    if rng.random() < crowd_prob:
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.6) * h
        items.append(SceneItem("crowd", [
            random_figure(rng, np.array([cx + rng.normal(0, w * 0.06),
                                         cy + rng.normal(0, h * 0.03)]),
                          rng.uniform(0.06, 0.1) * h)
            for _ in range(int(rng.integers(4, 9)))]))
    people: list[SceneItem] = []
    if rng.random() < unlabeled_prob:
        people.append(SceneItem("unlabeled", [random_figure(
            rng, np.array([rng.uniform(0, w), rng.uniform(0.2, 0.8) * h]),
            rng.uniform(0.08, 0.14) * h)]))
    for _ in range(int(rng.integers(1, max_persons + 1))):
        height = rng.uniform(*person_height) * h
        if rng.random() < border_cut_prob:  # centred near an edge: part of it is cut off
            centre = np.array([rng.choice([-0.05, 1.05]) * w, rng.uniform(0.2, 0.8) * h])
        else:
            centre = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.3, 0.7) * h])
        people.append(SceneItem("person", [random_figure(rng, centre, height)]))
    people.sort(key=lambda item: item.figures[0].unit)  # smaller = farther = drawn first
    items += people
    if rng.random() < occluder_prob:
        x0, y0 = int(rng.uniform(0, 0.8) * w), int(rng.uniform(0.3, 0.9) * h)
        items.append(SceneItem("box", [], (x0, y0, x0 + int(rng.uniform(0.1, 0.35) * w),
                                           y0 + int(rng.uniform(0.1, 0.3) * h))))
    return items


def render_scene(rng: np.random.Generator, size: tuple[int, int],
                 items: list[SceneItem]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Draw ``items`` in order on a textured background; return the RGB image and its COCO
    annotations (without ids). A joint under anything drawn later is ``occluded``."""
    h, w = size
    img = textured_background(rng, h, w)
    masks = []
    for item in items:
        mask = np.zeros((h, w), dtype=bool)
        for fig in item.figures:
            draw_figure(img, fig)
            mask |= figure_mask((h, w), fig)
        if item.box is not None:
            x0, y0, x1, y1 = item.box
            cv2.rectangle(img, (x0, y0), (x1, y1),
                          tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
            mask[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = True
        masks.append(mask)
    img = sensor_noise(rng, img)

    anns: list[dict[str, Any]] = []
    for order, (item, mask) in enumerate(zip(items, masks, strict=True)):
        covered = np.zeros((h, w), dtype=bool)
        for later in masks[order + 1:]:
            covered |= later
        visible = mask & ~covered
        if item.kind == "box" or not visible.any():
            continue
        ann: dict[str, Any] = {"category_id": 1, "area": float(visible.sum()),
                               "bbox": mask_bbox(visible), "iscrowd": 0}
        keypoints = [0.0] * 51
        if item.kind == "crowd":
            ann.update(iscrowd=1, segmentation=rle_uncompressed(visible), num_keypoints=0)
        else:
            if item.kind == "person":
                keypoints = _keypoint_labels(item.figures[0].keypoints, covered, w, h)
            use_rle = rng.random() < 0.5 if item.rle is None else item.rle
            ann["segmentation"] = rle_compressed(visible) if use_rle else polygons(visible)
            if not ann["segmentation"]:
                ann["segmentation"] = rle_compressed(visible)
            ann["num_keypoints"] = int(sum(1 for v in keypoints[2::3] if v > 0))
        ann["keypoints"] = keypoints
        anns.append(ann)
    return img, anns


def render_image(rng: np.random.Generator, size: tuple[int, int], max_persons: int,
                 **scene: Any) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One random RGB image and its annotations (without ids); ``scene`` goes to
    :func:`random_scene`."""
    return render_scene(rng, size, random_scene(rng, size, max_persons, **scene))


def _keypoint_labels(kps: np.ndarray, covered: np.ndarray, w: int, h: int) -> list[float]:
    out: list[float] = []
    for x, y in kps:
        if not (0 <= x <= w - 1 and 0 <= y <= h - 1):
            out += [0.0, 0.0, 0.0]
            continue
        hidden = covered[int(round(y)), int(round(x))]
        out += [round(float(x), 2), round(float(y), 2), 1.0 if hidden else 2.0]
    return out


# -- the dataset ------------------------------------------------------------------------------
def _split_sizes(images: int, val_fraction: float) -> tuple[int, int]:
    if images < 2:
        raise UserError(f"--images {images} is too few", "ask for at least 2 (train and val)")
    n_val = min(max(1, int(round(images * val_fraction))), images - 1)
    return images - n_val, n_val


def make_pose_dataset(
    out_dir: str | Path,
    images: int = 300,
    size: tuple[int, int] = (256, 256),
    max_persons: int = 4,
    seed: int = 0,
    val_fraction: float = 0.2,
    crowd: bool = True,
    person_height: tuple[float, float] = (0.3, 0.8),
    progress: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Write the dataset (layout in the module docstring) and return a summary.

    ``size`` is (height, width); ``crowd=False`` leaves out crowds and keypoint-less figures;
    ``person_height`` bounds the labeled figures' height as fractions of the image height.
    The folder appears whole when done; one that holds files is refused unless ``force``,
    which replaces it.
    """
    h, w = (int(v) for v in size)
    if h < 32 or w < 32:
        raise UserError(f"--size {h}x{w} is too small", "use at least 32x32")
    if max_persons < 1:
        raise UserError("--max_persons must be at least 1")
    lo, hi = (float(v) for v in person_height)
    if not 0 < lo <= hi <= 1.5:
        raise UserError(f"--person_height {lo},{hi} is not a range of image-height fractions",
                        "give MIN,MAX with 0 < MIN <= MAX <= 1.5, e.g. 0.3,0.8")
    _split_sizes(images, val_fraction)  # a bad count is an error before anything is written
    out = check_fresh_dir(out_dir, force)
    with atomic_dir(out, replace=force) as tmp:
        summary = _write_pose_dataset(tmp, images, (h, w), max_persons, seed, val_fraction,
                                      crowd, (lo, hi), progress)
    summary["out_dir"] = str(out)
    summary["dataset_spec"] = str(out / "dataset_spec.json")
    return summary


def _write_pose_dataset(out: Path, images: int, size: tuple[int, int], max_persons: int,
                        seed: int, val_fraction: float, crowd: bool,
                        person_height: tuple[float, float], progress: bool) -> dict[str, Any]:
    from rich.progress import track

    (h, w), (lo, hi) = size, person_height
    n_train, n_val = _split_sizes(images, val_fraction)
    rng = np.random.default_rng(seed)
    categories = [{"id": 1, "name": "person", "supercategory": "person",
                   "keypoints": COCO_KEYPOINT_NAMES, "skeleton": COCO_SKELETON}]
    image_id, ann_id = 0, 0
    summary: dict[str, Any] = {"out_dir": str(out), "size": [h, w], "seed": seed,
                               "person_height": [lo, hi]}
    for split, count in (("train", n_train), ("val", n_val)):
        coco: dict[str, Any] = {"info": {"description": "graft synthetic stick-figure poses"},
                                "images": [], "annotations": [], "categories": categories}
        for _ in track(range(count), description=f"synth pose {split}", disable=not progress):
            image_id += 1
            img, anns = render_image(rng, (h, w), max_persons,
                                     crowd_prob=0.15 if crowd else 0.0,
                                     unlabeled_prob=0.2 if crowd else 0.0,
                                     person_height=(lo, hi))
            name = f"{image_id:06d}.jpg"
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise UserError(f"could not encode image {name}")
            write_bytes(out / "images" / split / name, data.tobytes())
            coco["images"].append({"id": image_id, "file_name": name, "height": h, "width": w})
            for ann in anns:
                ann_id += 1
                coco["annotations"].append({"id": ann_id, "image_id": image_id, **ann})
        write_json(out / "annotations" / f"person_keypoints_{split}.json", coco)
        summary[split] = {"images": count, "annotations": len(coco["annotations"]),
                          "persons_with_keypoints": sum(
                              1 for a in coco["annotations"] if a["num_keypoints"] > 0)}
    spec = {
        "dataset": "coco",
        "root_directory_path": ".",
        "train_data": {"images_root_dir_path": "images/train",
                       "mask_root_dir_path": "masks/train",
                       "annotation_root_dir_path": "annotations/person_keypoints_train.json"},
        "test_data": {"images_root_dir_path": "images/val",
                      "mask_root_dir_path": "masks/val",
                      "annotation_root_dir_path": "annotations/person_keypoints_val.json"},
        "category": "person",
    }
    write_json(out / "dataset_spec.json", spec)
    return summary


def parse_size(text: str) -> tuple[int, int]:
    """``"256x320"`` -> (256, 320) as (height, width)."""
    try:
        h, w = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise UserError(f"--size {text!r} is not HxW", "e.g. --size 256x256") from None
    return h, w


def parse_range(text: str, option: str) -> tuple[float, float]:
    """``"0.3,0.8"`` -> (0.3, 0.8)."""
    try:
        lo, hi = (float(v) for v in str(text).split(","))
    except ValueError:
        raise UserError(f"{option} {text!r} is not MIN,MAX", f"e.g. {option} 0.3,0.8") from None
    return lo, hi
