"""Tiny generated KITTI data and DetectNet_v2 specs for the task's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

CLASSES = ("car", "person")
COLOURS = {"Car": (220, 40, 40), "Person": (40, 60, 230)}


def make_kitti(root: Path, images: int = 8, size: int = 64, seed: int = 0,
               dontcare: bool = True) -> Path:
    """``root/images/NNN.png`` and ``root/labels/NNN.txt``: a red wide 'Car' and a blue tall
    'Person' rectangle (class names capitalized, as KITTI writes them) on a noisy background,
    and a DontCare line in every other image."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for n in range(images):
        pixels = rng.integers(90, 140, (size, size, 3), dtype=np.uint8)
        lines = []
        for name, (w, h), x in (("Car", (26, 20), int(rng.integers(0, 8))),
                                ("Person", (14, 26), int(rng.integers(34, size - 14)))):
            y = int(rng.integers(0, size - h))
            pixels[y:y + h, x:x + w] = COLOURS[name]
            lines.append(f"{name} 0.00 0 0.00 {x:.2f} {y:.2f} {x + w:.2f} {y + h:.2f} "
                         "0 0 0 0 0 0 0")
        if dontcare and n % 2:
            lines.append("DontCare -1 -1 -10 0.00 58.00 6.00 64.00 -1 -1 -1 -1000 -1000 -1000 -10")
        Image.fromarray(pixels).save(root / "images" / f"{n:03d}.png")
        (root / "labels" / f"{n:03d}.txt").write_text("\n".join(lines) + "\n")
    return root


def spec_dict(**sections: Any) -> dict[str, Any]:
    """A DetectNet_v2 spec for the data of :func:`make_kitti` (paths relative to its root)."""
    spec: dict[str, Any] = {
        "random_seed": 3,
        "dataset_config": {
            "data_sources": [{"image_directory_path": "images",
                              "label_directory_path": "labels"}],
            "target_class_mapping": {"car": "car", "person": "person"},
            "validation_split": {"fraction": 0.25, "seed": 0},
            "num_workers": 0,
        },
        "augmentation_config": {
            "preprocessing": {"output_image_width": 64, "output_image_height": 64},
            "spatial_augmentation": {"translate_max_x": 0, "translate_max_y": 0},
            "color_augmentation": {"hue_rotation_max": 0, "saturation_shift_max": 0,
                                   "contrast_scale_max": 0},
        },
        "model_config": {"arch": "resnet10"},
        "postprocessing_config": {"target_class_config": {
            c: {"clustering_config": {"minimum_bounding_box_height": 4}} for c in CLASSES}},
        "training_config": {"batch_size_per_gpu": 3, "num_epochs": 2,
                            "learning_rate": {"name": "soft_start_annealing",
                                              "learning_rate": 5e-3, "min_lr": 5e-4,
                                              "soft_start": 0.1, "annealing": 0.7},
                            "trainer": {"channels_last": False}},
        "evaluation_config": {"validation_period_during_training": 1},
    }
    for name, value in sections.items():
        spec[name] = {**spec.get(name, {}), **value} if isinstance(value, dict) else value
    return spec


def write_spec(root: Path, name: str = "spec.yaml", **sections: Any) -> Path:
    path = root / name
    path.write_text(yaml.safe_dump(spec_dict(**sections)))
    return path


@pytest.fixture()
def kitti(tmp_path: Path) -> Path:
    return make_kitti(tmp_path / "kitti")


@pytest.fixture(scope="module")
def kitti_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_kitti(tmp_path_factory.mktemp("kitti"), images=8)
