"""``graft synth instances``: telecom towers with antennas, as COCO instance segmentation data.

Each image: a sky-to-haze background with a horizon, a lattice mast (two tapering legs with X
bracing), and at one to three mounting heights panel antennas, microwave dishes and remote
radio units. Randomized per image: object counts, light direction (shading across each
object), camera distance (field of view: the scene's scale), position and roll. Objects are
drawn in depth order and each mask loses what later objects cover, so the polygons
(:func:`graft.data.masks.polygons`) are the visible parts. Scenes are shuffled before the
train/validation split (the source workflow's advice: no ordered runs of similar scenes in
one split).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = ("panel_antenna", "dish", "radio_unit")
MIN_AREA = 12  # visible pixels for an object to be annotated


def _transform(points: np.ndarray, cam: dict[str, float]) -> np.ndarray:
    """World points (x right, y down, mast at x=0, top at y=0) -> pixel coordinates."""
    c, s = math.cos(cam["roll"]), math.sin(cam["roll"])
    x, y = points[:, 0] * cam["scale"], points[:, 1] * cam["scale"]
    return np.stack([cam["cx"] + c * x - s * y, cam["cy"] + s * x + c * y], 1)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    top = rng.uniform([90, 130, 190], [150, 190, 245])
    bottom = rng.uniform([170, 180, 190], [235, 235, 240])
    t = np.linspace(0, 1, h)[:, None, None]
    img = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()
    horizon = int(h * rng.uniform(0.7, 0.95))
    img[horizon:] = rng.uniform([50, 60, 40], [110, 120, 90])
    return img + rng.normal(0, 3, img.shape)


def _mast(img: np.ndarray, cam: dict[str, float], rng: np.random.Generator) -> None:
    import cv2

    color = tuple(float(v) for v in rng.uniform(60, 140, 3))
    width = max(1, int(round(2 * cam["scale"])))
    half_top, half_bottom, length = 6.0, 22.0, 260.0
    legs = [np.array([[-half_top, 0], [-half_bottom, length]]),
            np.array([[half_top, 0], [half_bottom, length]])]
    for leg in legs:
        p = _transform(leg, cam).round().astype(np.int32)
        cv2.line(img, tuple(p[0]), tuple(p[1]), color, width)
    for y0 in np.arange(0, length, 18.0):  # X bracing between the legs
        y1 = y0 + 18.0
        hw0 = half_top + (half_bottom - half_top) * y0 / length
        hw1 = half_top + (half_bottom - half_top) * y1 / length
        for a, b in (([-hw0, y0], [hw1, y1]), ([hw0, y0], [-hw1, y1])):
            p = _transform(np.array([a, b]), cam).round().astype(np.int32)
            cv2.line(img, tuple(p[0]), tuple(p[1]), color, max(1, width - 1))


def _objects(rng: np.random.Generator, max_per_level: int) -> list[tuple[int, np.ndarray]]:
    """(class index, world polygon) of every object, back to front."""
    objects: list[tuple[int, np.ndarray]] = []
    for level in range(rng.integers(1, 4)):
        y = 8.0 + 50.0 * level + rng.uniform(-4, 4)
        hw = 6.0 + 16.0 * y / 260.0  # the mast's half width there: objects mount on it
        for _ in range(rng.integers(1, max_per_level + 1)):
            kind = int(rng.choice(3, p=[0.5, 0.25, 0.25]))
            side = rng.choice([-1.0, 1.0])
            if kind == 0:  # panel: a tall thin slab beside the mast
                pw, ph = rng.uniform(7, 12), rng.uniform(28, 44)
                x = side * (hw + pw / 2 + rng.uniform(1, 6))
                poly = np.array([[x - pw / 2, y], [x + pw / 2, y], [x + pw / 2, y + ph],
                                 [x - pw / 2, y + ph]])
            elif kind == 1:  # dish: an ellipse (a disc seen at an angle)
                r, squash = rng.uniform(8, 15), rng.uniform(0.55, 1.0)
                x = side * (hw + r * squash + rng.uniform(1, 4))
                t = np.linspace(0, 2 * math.pi, 24, endpoint=False)
                poly = np.stack([x + r * squash * np.cos(t), y + r + r * np.sin(t)], 1)
            else:  # radio unit: a small box low on the mounting
                bw, bh = rng.uniform(6, 9), rng.uniform(8, 13)
                x, y0 = side * (hw + bw / 2 + rng.uniform(0, 3)), y + rng.uniform(10, 28)
                poly = np.array([[x - bw / 2, y0], [x + bw / 2, y0], [x + bw / 2, y0 + bh],
                                 [x - bw / 2, y0 + bh]])
            objects.append((kind, poly))
    return objects


def render_scene(rng: np.random.Generator, h: int, w: int, max_per_level: int = 3
                 ) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """One image (uint8 H, W, 3) and its visible objects as (class index, uint8 mask)."""
    import cv2

    scale = rng.uniform(0.6, 1.3) * min(h, w) / 256  # camera distance / field of view
    cam = {"scale": scale, "roll": rng.uniform(-0.12, 0.12),
           "cx": rng.uniform(0.3, 0.7) * w, "cy": rng.uniform(0.05, 0.3) * h}
    light = rng.uniform(0, 2 * math.pi)
    img = _background(rng, h, w)
    _mast(img, cam, rng)
    base = {0: (210, 215, 220), 1: (225, 225, 225), 2: (70, 75, 80)}
    drawn: list[tuple[int, np.ndarray]] = []
    ys, xs = np.mgrid[0:h, 0:w]
    for kind, poly in _objects(rng, max_per_level):
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [_transform(poly, cam).round().astype(np.int32)], 1)
        if not mask.any():
            continue
        on = mask.astype(bool)
        cx, cy, r = xs[on].mean(), ys[on].mean(), max(math.sqrt(on.sum()), 1.0)
        shade = 0.75 + 0.25 * np.clip(((xs[on] - cx) * math.cos(light)
                                       + (ys[on] - cy) * math.sin(light)) / r * 2, -1, 1)
        color = np.array(base[kind]) * rng.uniform(0.85, 1.1)
        img[on] = color[None] * shade[:, None]
        for _, earlier in drawn:  # what this object covers is no longer visible behind it
            earlier[on] = 0
        drawn.append((kind, mask))
    img += rng.normal(0, 2, img.shape)
    objects = [(k, m) for k, m in drawn if m.sum() >= MIN_AREA]
    return np.clip(img, 0, 255).astype(np.uint8), objects


def make_instances_dataset(out_dir: str | Path, images: int, hw: tuple[int, int], seed: int,
                           val_fraction: float, max_per_level: int = 3, force: bool = False
                           ) -> dict[str, Any]:
    """Write OUT/images/*.png, train.json, val.json, labels.txt and spec.yaml; returns counts."""
    from PIL import Image

    from graft.data.masks import mask_bbox, polygons
    from graft.fsutil import atomic_dir, check_fresh_dir

    out = check_fresh_dir(out_dir, force)
    rng = np.random.default_rng(seed)
    order = rng.permutation(images)  # shuffled before the split
    n_val = max(1, int(round(images * val_fraction)))
    splits = {"val": sorted(order[:n_val].tolist()), "train": sorted(order[n_val:].tolist())}
    h, w = hw
    cats = [{"id": k + 1, "name": n, "supercategory": "telecom"} for k, n in enumerate(CLASSES)]
    datasets = {s: {"images": [], "annotations": [], "categories": cats} for s in splits}
    split_of = {i: s for s, ids in splits.items() for i in ids}
    with atomic_dir(out, replace=force) as tmp:
        (tmp / "images").mkdir()
        ann_id = 1
        for i in range(images):
            img, objects = render_scene(np.random.default_rng([seed, i]), h, w, max_per_level)
            name = f"images/{i:05d}.png"
            Image.fromarray(img).save(tmp / name)
            d = datasets[split_of[i]]
            d["images"].append({"id": i + 1, "file_name": name, "height": h, "width": w})
            for kind, mask in objects:
                polys = polygons(mask)
                if not polys:
                    continue
                d["annotations"].append({"id": ann_id, "image_id": i + 1, "category_id": kind + 1,
                                         "segmentation": polys, "bbox": mask_bbox(mask),
                                         "area": float(mask.sum()), "iscrowd": 0})
                ann_id += 1
        for s, d in datasets.items():
            (tmp / f"{s}.json").write_text(json.dumps(d), encoding="utf-8")
        (tmp / "labels.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
        (tmp / "spec.yaml").write_text(_spec_text(hw), encoding="utf-8")
    return {s: {"images": len(d["images"]), "objects": len(d["annotations"])}
            for s, d in datasets.items()}


def _spec_text(hw: tuple[int, int]) -> str:
    side = min(hw)
    return f"""# graft mask_rcnn train -e spec.yaml -r results  (a CPU-sized recipe)
maskrcnn_config:
  arch: efficientnet_lite0
  pretrained_weights: efficientnet_lite0
  freeze_blocks: [0]
  fast_rcnn_mlp_head_dim: 256
  anchor_scale: 4
  rpn_pre_nms_topn_train: 600
  rpn_post_nms_topn_train: 300
  rpn_pre_nms_topn_test: 300
  rpn_post_nms_topn_test: 150
  batch_size_per_im: 128
data_config:
  train_annotations: train.json
  train_images: .
  val_annotations: val.json
  val_images: .
  image_size: [{side}, {max(hw)}]
  batch_size: 4
  eval_batch_size: 4
  num_workers: 0
lr_schedule:
  name: soft_anneal
  learning_rate: 0.01
  soft_start: 0.1
  annealing_points: [0.7, 0.9]
trainer:
  epochs: 12
  precision: "32"
  gradient_clip_val: 5.0
"""
