"""COCO instance targets: polygons, compressed and uncompressed RLE, crowds, tiny boxes, flips."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from graft.data.masks import rle_compressed, rle_uncompressed
from graft.errors import UserError
from graft.tasks.mask_rcnn.data import CocoInstances, collate, hflip


def _square(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


@pytest.fixture
def coco_dir(tmp_path: Path) -> Path:
    h, w = 40, 60
    Image.fromarray(np.full((h, w, 3), 100, np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((h, w, 3), 50, np.uint8)).save(tmp_path / "b.png")
    rle = _square(h, w, 20, 30, 30, 50)
    crowd = _square(h, w, 0, 10, 0, 60)
    data = {
        "images": [{"id": 7, "file_name": "a.png", "height": h, "width": w},
                   {"id": 8, "file_name": "b.png", "height": h, "width": w}],
        "categories": [{"id": 5, "name": "panel"}, {"id": 9, "name": "dish"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 9, "iscrowd": 0, "bbox": [10, 5, 10, 10],
             "segmentation": [[10, 5, 20, 5, 20, 15, 10, 15]]},
            {"id": 2, "image_id": 7, "category_id": 5, "iscrowd": 0, "bbox": [30, 20, 20, 10],
             "segmentation": rle_compressed(rle)},
            {"id": 3, "image_id": 7, "category_id": 5, "iscrowd": 1, "bbox": [0, 0, 60, 10],
             "segmentation": rle_uncompressed(crowd)},
            {"id": 4, "image_id": 7, "category_id": 5, "iscrowd": 0, "bbox": [5, 5, 0.5, 3],
             "segmentation": [[5, 5, 5.5, 5, 5.5, 8]]},
        ],
    }
    (tmp_path / "ann.json").write_text(json.dumps(data))
    return tmp_path


def test_polygon_rle_crowd_and_tiny_boxes(coco_dir: Path):
    ds = CocoInstances(coco_dir / "ann.json", coco_dir)
    assert ds.class_names == ["panel", "dish"]
    t = ds.target(7)
    # the crowd region and the half-pixel-wide box are not training targets
    assert t["labels"].tolist() == [2, 1]  # category 9 -> label 2, category 5 -> label 1
    assert t["boxes"].tolist() == [[10, 5, 20, 15], [30, 20, 50, 30]]
    masks = t["masks"].numpy()
    assert masks.shape == (2, 40, 60) and masks.dtype == np.uint8
    assert np.array_equal(masks[1], _square(40, 60, 20, 30, 30, 50))  # the RLE, exactly
    assert masks[0][10, 15] == 1 and masks[0][30, 40] == 0  # the polygon's inside
    image, target = ds[0]
    assert image.shape == (3, 40, 60) and image.dtype == torch.float32
    assert float(image.max()) == pytest.approx(100 / 255)


def test_image_without_objects_has_empty_targets(coco_dir: Path):
    ds = CocoInstances(coco_dir / "ann.json", coco_dir)
    _, t = ds[1]
    assert t["boxes"].shape == (0, 4) and t["labels"].shape == (0,)
    assert t["masks"].shape == (0, 40, 60)
    images, targets = collate([ds[0], ds[1]])
    assert len(images) == 2 and [len(x["labels"]) for x in targets] == [2, 0]


def test_hflip_mirrors_boxes_and_masks(coco_dir: Path):
    ds = CocoInstances(coco_dir / "ann.json", coco_dir)
    image, target = ds[0]
    flipped, ft = hflip(image, target)
    assert ft["boxes"][1].tolist() == [10, 20, 30, 30]  # x 30..50 in a 60-wide image
    assert torch.equal(ft["masks"], target["masks"].flip(-1))
    ys, xs = torch.nonzero(ft["masks"][1], as_tuple=True)
    assert int(xs.min()) == 10 and int(xs.max()) == 29
    assert torch.equal(hflip(flipped, ft)[1]["boxes"], target["boxes"])


def test_image_size_mismatch_is_a_user_error(coco_dir: Path):
    data = json.loads((coco_dir / "ann.json").read_text())
    data["images"][0]["width"] = 61
    data["annotations"] = []
    (coco_dir / "bad.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="says 61x40"):
        CocoInstances(coco_dir / "bad.json", coco_dir)[0]
