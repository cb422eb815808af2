"""Fixtures for the bpnet data tests: COCO-format datasets written into tmp folders.

The annotation files live in ``fixtures/`` (see ``fixtures/make_fixtures.py``); the images are
made here (noise plus the annotated skeletons), so nothing binary is checked in.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def write_images(coco: dict, image_dir: Path, seed: int = 0) -> None:
    """Noise images of the annotated sizes with each labeled person's joints drawn in."""
    rng = np.random.default_rng(seed)
    image_dir.mkdir(parents=True, exist_ok=True)
    by_image: dict[int, list[dict]] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    for image in coco["images"]:
        h, w = image["height"], image["width"]
        img = rng.integers(60, 200, (h, w, 3), dtype=np.uint8)
        for ann in by_image.get(image["id"], []):
            kps = np.asarray(ann.get("keypoints") or [], dtype=float).reshape(-1, 3)
            for x, y, v in kps:
                if v > 0:
                    cv2.circle(img, (int(x), int(y)), 4, (255, 255, 255), -1)
        path = image_dir / image["file_name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), img)


def make_dataset(root: Path, annotation: Path | dict, spec_extra: dict | None = None,
                 write: bool = True) -> Path:
    """A dataset folder (images/, annotations/, dataset_spec.json); returns the spec path."""
    root.mkdir(parents=True, exist_ok=True)
    coco = json.loads(annotation.read_text()) if isinstance(annotation, Path) else annotation
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / "person_keypoints.json").write_text(json.dumps(coco))
    if write:
        write_images(coco, root / "images")
    mode_data = {"images_root_dir_path": "images", "mask_root_dir_path": "masks",
                 "annotation_root_dir_path": "annotations/person_keypoints.json"}
    spec = {"root_directory_path": ".", "train_data": mode_data, "test_data": mode_data,
            **(spec_extra or {})}
    path = root / "dataset_spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture(scope="session")
def coco_small_json() -> dict:
    return json.loads((FIXTURES / "coco_small" / "person_keypoints.json").read_text())


@pytest.fixture(scope="session")
def coco_small(tmp_path_factory) -> Path:
    """Dataset spec of the five-image COCO fixture (read-only: copy before changing it)."""
    return make_dataset(tmp_path_factory.mktemp("coco_small"),
                        FIXTURES / "coco_small" / "person_keypoints.json")


@pytest.fixture
def dataset_factory(tmp_path) -> Callable[..., Path]:
    """Build a dataset from an edited copy of an annotation dict."""
    counter = iter(range(1000))

    def build(coco: dict, spec_extra: dict | None = None, write: bool = True) -> Path:
        return make_dataset(tmp_path / f"ds{next(counter)}", coco, spec_extra, write)

    return build


@pytest.fixture(scope="session")
def custom5(tmp_path_factory) -> Path:
    """Dataset spec of the 5-joint custom skeleton fixture (pose config given by path)."""
    root = tmp_path_factory.mktemp("custom5")
    shutil.copy(FIXTURES / "custom5" / "pose_config.json", root / "pose_config.json")
    return make_dataset(root, FIXTURES / "custom5" / "person_keypoints.json",
                        {"pose_config_path": "pose_config.json"})
