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

from graft.errors import UserError
from graft.fsutil import write_bytes, write_json

COCO_KEYPOINT_NAMES = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
COCO_SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
    [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]
(NOSE, L_EYE, R_EYE, L_EAR, R_EAR, L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI, L_HIP, R_HIP,
 L_KNEE, R_KNEE, L_ANK, R_ANK) = range(17)
_SHIFT = 4  # cv2 drawing with 1/16-pixel precision
_ONE = 1 << _SHIFT


@dataclass
class Figure:
    """One drawn person: keypoints (17, 2) in pixels, its unit length and colours."""

    keypoints: np.ndarray
    head_centre: np.ndarray
    unit: float
    colours: dict[str, tuple[int, int, int]]


def _rot(v: np.ndarray, deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    c, s = np.cos(t), np.sin(t)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def random_figure(rng: np.random.Generator, centre: np.ndarray, height: float) -> Figure:
    """An articulated front-facing figure (its left side on the image's right)."""
    u = height / 7.5  # body unit: about one head height
    lean = rng.normal(0, 10) if rng.random() > 0.1 else rng.uniform(-90, 90)
    up = _rot(np.array([0.0, -1.0]), lean)
    side = _rot(np.array([1.0, 0.0]), lean)  # towards the figure's left (image right)
    down = -up
    yaw = np.cos(np.deg2rad(rng.uniform(-55, 55)))  # turning narrows shoulders and hips
    k = np.zeros((17, 2))
    pelvis = centre + down * 0.4 * u
    neck = pelvis + up * 2.6 * u
    k[L_SHO], k[R_SHO] = neck + side * 0.95 * u * yaw, neck - side * 0.95 * u * yaw
    k[L_HIP], k[R_HIP] = pelvis + side * 0.65 * u * yaw, pelvis - side * 0.65 * u * yaw
    head_dir = _rot(up, rng.normal(0, 12))
    head_centre = neck + head_dir * 1.25 * u
    head_side = _rot(head_dir, 90)  # as side is to up
    turn = rng.uniform(-0.3, 0.3) * u  # where the face points sideways
    k[NOSE] = head_centre - head_dir * 0.15 * u + head_side * turn
    k[L_EYE] = head_centre + head_dir * 0.2 * u + head_side * (0.38 * u * yaw + turn)
    k[R_EYE] = head_centre + head_dir * 0.2 * u - head_side * (0.38 * u * yaw - turn)
    k[L_EAR] = head_centre + head_side * 0.75 * u
    k[R_EAR] = head_centre - head_side * 0.75 * u
    for s, (sho, elb, wri) in ((1, (L_SHO, L_ELB, L_WRI)), (-1, (R_SHO, R_ELB, R_WRI))):
        a = rng.uniform(-25, 165)  # away from the body: 0 hanging, 90 sideways, 180 raised
        upper = _rot(down, -s * a)
        k[elb] = k[sho] + upper * 1.5 * u
        k[wri] = k[elb] + _rot(upper, -s * rng.uniform(-20, 135)) * 1.3 * u
    for s, (hip, knee, ank) in ((1, (L_HIP, L_KNEE, L_ANK)), (-1, (R_HIP, R_KNEE, R_ANK))):
        thigh = _rot(down, -s * rng.uniform(-15, 55))
        k[knee] = k[hip] + thigh * 1.95 * u
        k[ank] = k[knee] + _rot(thigh, s * rng.uniform(-40, 60)) * 1.85 * u

    def colour(lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
        return tuple(int(c) for c in rng.integers(lo, hi, 3))  # type: ignore[return-value]

    skin = (int(rng.integers(90, 240)), int(rng.integers(70, 200)), int(rng.integers(50, 170)))
    return Figure(k, head_centre, u, {"shirt": colour(), "pants": colour(), "skin": skin,
                                      "shoes": colour(0, 90)})


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0] * _ONE)), int(round(p[1] * _ONE))


def draw_figure(canvas: np.ndarray, fig: Figure, colour_override: int | None = None) -> None:
    """Draw ``fig`` on ``canvas`` (RGB image, or a mask with ``colour_override``)."""
    k, u = fig.keypoints, fig.unit

    def c(name: str) -> Any:
        return colour_override if colour_override is not None else fig.colours[name]

    def limb(a: int, b: int, width: float, name: str) -> None:
        cv2.line(canvas, _pt(k[a]), _pt(k[b]), c(name), max(int(round(width)), 1),
                 cv2.LINE_AA, _SHIFT)

    for hip, knee, ank in ((L_HIP, L_KNEE, L_ANK), (R_HIP, R_KNEE, R_ANK)):
        limb(hip, knee, 0.55 * u, "pants")
        limb(knee, ank, 0.45 * u, "pants")
        cv2.circle(canvas, _pt(k[ank]), int(0.3 * u * _ONE), c("shoes"), -1, cv2.LINE_AA, _SHIFT)
    torso = np.array([_pt(k[i]) for i in (L_SHO, R_SHO, R_HIP, L_HIP)], dtype=np.int32)
    cv2.fillConvexPoly(canvas, torso, c("shirt"), cv2.LINE_AA, _SHIFT)
    limb(L_SHO, R_SHO, 0.5 * u, "shirt")
    limb(L_HIP, R_HIP, 0.5 * u, "pants")
    neck = (k[L_SHO] + k[R_SHO]) / 2
    cv2.line(canvas, _pt(neck), _pt(fig.head_centre), c("skin"), max(int(0.4 * u), 1),
             cv2.LINE_AA, _SHIFT)
    for sho, elb, wri in ((L_SHO, L_ELB, L_WRI), (R_SHO, R_ELB, R_WRI)):
        limb(sho, elb, 0.42 * u, "shirt")
        limb(elb, wri, 0.36 * u, "skin")
        cv2.circle(canvas, _pt(k[wri]), int(0.24 * u * _ONE), c("skin"), -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(canvas, _pt(fig.head_centre), int(0.78 * u * _ONE), c("skin"), -1, cv2.LINE_AA,
               _SHIFT)
    if colour_override is None:  # a face tells the figure's orientation
        dark = (20, 20, 20)
        for eye in (L_EYE, R_EYE):
            cv2.circle(canvas, _pt(k[eye]), int(max(0.12 * u, 1) * _ONE), dark, -1,
                       cv2.LINE_AA, _SHIFT)
        cv2.circle(canvas, _pt(k[NOSE]), int(max(0.09 * u, 1) * _ONE), (150, 40, 40), -1,
                   cv2.LINE_AA, _SHIFT)


def figure_mask(shape: tuple[int, int], fig: Figure) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    draw_figure(mask, fig, colour_override=255)
    return mask > 127


def textured_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour blobs, a gradient, distractor shapes and sensor noise (RGB uint8)."""
    cells = int(rng.integers(2, 9))
    blobs = rng.uniform(0, 255, (cells, cells, 3)).astype(np.float32)
    img = cv2.resize(blobs, (w, h), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None] * rng.uniform(-40, 40, 3)
    img = np.clip(img * rng.uniform(0.4, 0.9) + ramp + rng.uniform(0, 80), 0, 255)
    img = img.astype(np.uint8)
    for _ in range(int(rng.integers(3, 10))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(5, w // 3)),
                                        y + int(rng.integers(5, h // 3))), colour, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), int(rng.integers(3, max(h, w) // 8)), colour, -1, cv2.LINE_AA)
        else:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour,
                     int(rng.integers(1, 4)), cv2.LINE_AA)
    stripes = rng.random() < 0.3
    if stripes:  # a texture that is not flat colour
        period = int(rng.integers(4, 16))
        img[:, (np.arange(w) // period) % 2 == 0] //= 2
    return img


def _noise(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    sigma = rng.uniform(3, 10)
    return np.clip(img.astype(np.float32) + rng.normal(0, sigma, img.shape), 0, 255).astype(
        np.uint8)


# -- COCO encodings ---------------------------------------------------------------------------
def rle_compressed(mask: np.ndarray) -> dict[str, Any]:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def rle_uncompressed(mask: np.ndarray) -> dict[str, Any]:
    """COCO's uncompressed RLE (column-major runs, starting with a run of zeros)."""
    flat = mask.astype(np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.r_[0, change, flat.size]
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def polygons(mask: np.ndarray) -> list[list[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def _bbox(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1)]


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
    img = _noise(rng, img)

    anns: list[dict[str, Any]] = []
    for order, (item, mask) in enumerate(zip(items, masks, strict=True)):
        covered = np.zeros((h, w), dtype=bool)
        for later in masks[order + 1:]:
            covered |= later
        visible = mask & ~covered
        if item.kind == "box" or not visible.any():
            continue
        ann: dict[str, Any] = {"category_id": 1, "area": float(visible.sum()),
                               "bbox": _bbox(visible), "iscrowd": 0}
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
) -> dict[str, Any]:
    """Write the dataset (layout in the module docstring) and return a summary.

    ``size`` is (height, width); ``crowd=False`` leaves out crowds and keypoint-less figures;
    ``person_height`` bounds the labeled figures' height as fractions of the image height.
    """
    from rich.progress import track

    h, w = (int(v) for v in size)
    if h < 32 or w < 32:
        raise UserError(f"--size {h}x{w} is too small", "use at least 32x32")
    if max_persons < 1:
        raise UserError("--max_persons must be at least 1")
    lo, hi = (float(v) for v in person_height)
    if not 0 < lo <= hi <= 1.5:
        raise UserError(f"--person_height {lo},{hi} is not a range of image-height fractions",
                        "give MIN,MAX with 0 < MIN <= MAX <= 1.5, e.g. 0.3,0.8")
    out = Path(out_dir)
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
    summary["dataset_spec"] = str(out / "dataset_spec.json")
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
