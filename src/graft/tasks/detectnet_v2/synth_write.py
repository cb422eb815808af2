"""Files of ``graft synth detection``: images, KITTI and COCO labels, specs, per domain.

:data:`RECOMMENDED` holds the training settings measured in BENCHMARKS.md
(``benchmarks/synth_detection_learnability.py``); ``spec.yaml`` is written from them, so the
demo and users start from settings known to learn this data on a CPU from scratch. They
depart from TLT's KITTI spec where that measurably fails here:

- ``enable_autoweighting: false``: TLT's rule sets each objective's weight inversely to its
  epoch cost; the coverage cost is 15-70x the box cost, so after one epoch the coverage weight
  falls from 1/11 to about 0.005 (later 2e-4) and the coverage head stops learning (mAP50 0.0
  when overfitting 32 images);
- ``coverage_foreground_weight: 0.5`` instead of 0.05: with 0.05 the coverage of object cells
  stays low (about 0.3 after 6 epochs), and DBSCAN, which needs a coverage sum of 1 to seed a
  cluster, drops most objects;
- DBSCAN ``dbscan_eps`` 0.3 (0.13) and ``minimum_bounding_box_height`` 8 px (20): boxes of a
  young model scatter more than 1 - IoU 0.13, and the small aircraft are under 20 px;
- flips only: the benchmark measured no colour or translation augmentation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from graft.data.kitti import KittiObject
from graft.tasks.detectnet_v2.synth_scene import LabeledObject, render_image

RECOMMENDED: dict[str, Any] = {  # BENCHMARKS.md, "graft synth detection: learnability"
    "arch": "resnet18", "epochs": 12, "batch_size": 8, "learning_rate": 2e-3,
    "min_lr": 1e-5, "soft_start": 0.1, "annealing": 0.7, "autoweighting": False,
    "coverage_foreground_weight": 0.5, "min_box_height": 8.0, "coverage_threshold": 0.005,
    "dbscan_eps": 0.3, "dbscan_confidence_threshold": 0.1, "iou": 0.5,
}


def kitti_object(obj: LabeledObject) -> KittiObject:
    """A label line: DontCare with KITTI's placeholder values, or the aircraft."""
    if obj.dontcare:
        return KittiObject("DontCare", obj.box, truncated=-1.0, occluded=-1, alpha=-10.0,
                           dimensions=(-1.0, -1.0, -1.0), location=(-1000.0, -1000.0, -1000.0),
                           rotation_y=-10.0)
    return KittiObject(obj.name, obj.box, truncated=obj.truncation, rotation_y=obj.heading)


def coco_annotation(obj: LabeledObject, ann_id: int, image_id: int) -> dict[str, Any]:
    x1, y1, x2, y2 = obj.box
    return {"id": ann_id, "image_id": image_id, "category_id": obj.label + 1,
            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
            "area": round(obj.area, 1), "iscrowd": int(obj.dontcare),
            "segmentation": [[round(float(v), 2) for v in p.reshape(-1)] for p in obj.polygons],
            "truncation": obj.truncation, "heading": round(obj.heading, 4)}


def dataset_config(classes: Sequence[str]) -> dict[str, Any]:
    """``dataset_config`` of one domain folder (paths relative to it)."""
    return {"data_sources": [{"image_directory_path": "train/images",
                              "label_directory_path": "train/labels"}],
            "target_class_mapping": {c: c for c in classes},
            "validation_data_source": {"image_directory_path": "val/images",
                                       "label_directory_path": "val/labels"}}


def training_spec(classes: Sequence[str], hw: tuple[int, int],
                  settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """A complete DetectNet_v2 spec for one domain folder with the :data:`RECOMMENDED`
    settings (``settings`` overrides some of them)."""
    r = {**RECOMMENDED, **(settings or {})}
    per_class = {c: {"clustering_config": {
        "clustering_algorithm": "dbscan", "coverage_threshold": r["coverage_threshold"],
        "dbscan_eps": r["dbscan_eps"], "dbscan_min_samples": 1.0,
        "dbscan_confidence_threshold": r["dbscan_confidence_threshold"],
        "minimum_bounding_box_height": r["min_box_height"]}} for c in classes}
    return {
        "random_seed": 42,
        "dataset_config": dataset_config(classes),
        "augmentation_config": {
            "preprocessing": {"output_image_width": hw[1], "output_image_height": hw[0]},
            "spatial_augmentation": {"hflip_probability": 0.5, "vflip_probability": 0.5,
                                     "translate_max_x": 0.0, "translate_max_y": 0.0},
            "color_augmentation": {"hue_rotation_max": 0.0, "saturation_shift_max": 0.0,
                                   "contrast_scale_max": 0.0}},
        "model_config": {"arch": r["arch"]},
        "postprocessing_config": {"target_class_config": per_class},
        "cost_function_config": {
            "enable_autoweighting": r["autoweighting"],
            "target_classes": [{"name": c, "coverage_foreground_weight":
                                r["coverage_foreground_weight"]} for c in classes]},
        "training_config": {
            "batch_size_per_gpu": r["batch_size"], "num_epochs": r["epochs"],
            "checkpoint_interval": r["epochs"],
            "learning_rate": {"name": "soft_start_annealing", "learning_rate": r["learning_rate"],
                              "min_lr": r["min_lr"], "soft_start": r["soft_start"],
                              "annealing": r["annealing"]}},
        "evaluation_config": {
            "validation_period_during_training": max(1, r["epochs"] // 4),
            "minimum_detection_ground_truth_overlap": {c: r["iou"] for c in classes},
            "average_precision_mode": "integrate"},
    }


def _write_yaml(path: Path, data: dict[str, Any], header: str) -> None:
    path.write_text(f"# {header}\n" + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def write_domain(root: Path, domain: str, domain_index: int, images: int, n_val: int,
                 hw: tuple[int, int], classes: Sequence[str], seed: int,
                 object_size: tuple[float, float], max_objects: int,
                 quality: tuple[int, int], progress: bool = True) -> dict[str, Any]:
    """Render and write one domain's folder; returns its README.json entry."""
    from rich.progress import track

    from graft.fsutil import write_json
    from graft.tasks.detectnet_v2.spec import DetectNetSpec

    h, w = hw
    summary: dict[str, Any] = {"rendering": _DESCRIPTION[domain]}
    splits = {"train": range(images - n_val), "val": range(images - n_val, images)}
    categories = [{"id": k + 1, "name": c, "supercategory": "aircraft"}
                  for k, c in enumerate(classes)]
    for split, indices in splits.items():
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        coco: dict[str, Any] = {"info": {"description": f"graft synth detection, {domain}"},
                                "images": [], "annotations": [], "categories": categories}
        counts = dict.fromkeys(classes, 0)
        dontcare = 0
        for i in track(indices, description=f"synth {domain} {split}", disable=not progress):
            rng = np.random.default_rng([seed, domain_index, i])
            image, objects = render_image(rng, hw, classes, domain, object_size, max_objects)
            name = f"{domain}_{i:05d}"
            q = int(rng.integers(quality[0], quality[1] + 1))
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, q])
            if not ok:
                raise RuntimeError(f"JPEG encoding of {name} failed")
            (root / split / "images" / f"{name}.jpg").write_bytes(data.tobytes())
            lines = [kitti_object(o).to_line() for o in objects]
            (root / split / "labels" / f"{name}.txt").write_text(
                "".join(f"{line}\n" for line in lines), encoding="utf-8")
            image_id = len(coco["images"]) + 1
            coco["images"].append({"id": image_id, "file_name": f"{name}.jpg", "height": h,
                                   "width": w})
            for o in objects:
                coco["annotations"].append(
                    coco_annotation(o, len(coco["annotations"]) + 1, image_id))
                dontcare += int(o.dontcare)
                counts[o.name] += not o.dontcare
        write_json(root / f"{split}.json", coco)
        summary[split] = {"images": len(indices), "objects": counts, "dontcare": dontcare}
    spec = training_spec(classes, hw)
    DetectNetSpec.model_validate(spec)  # a generator bug, never the user's: fail loudly
    _write_yaml(root / "dataset_spec.yaml", {"dataset_config": dataset_config(classes)},
                f"graft synth detection ({domain}): DetectNet_v2 dataset_config; paths are "
                "relative to this file's folder")
    _write_yaml(root / "spec.yaml", spec, f"graft synth detection ({domain}): DetectNet_v2 "
                "training spec with the settings of BENCHMARKS.md (synth detection "
                "learnability); paths are relative to this file's folder")
    summary["files"] = {"dataset_spec": "dataset_spec.yaml", "spec": "spec.yaml",
                        "coco": {"train": "train.json", "val": "val.json"}}
    return summary


_DESCRIPTION = {
    "synthetic": "clean rendering: saturated colours, sharp edges, no sensor noise, JPEG q95",
    "real": "real-like: desaturated, colour cast, haze, uneven light, Gaussian blur "
            "(sigma 0.6-1.2 px), sensor noise and row banding, weathered aircraft, JPEG q55-80",
}
