from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from graft.errors import UserError
from graft.tasks.bpnet.convert import dataset_convert
from graft.tasks.bpnet.synth import (
    make_pose_dataset,
    parse_range,
    parse_size,
    rle_uncompressed,
)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    summary = make_pose_dataset(out, images=12, size=(96, 128), max_persons=3, seed=4,
                                progress=False)
    return out, summary


def load(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_output_loads_with_pycocotools(synth):
    out, summary = synth
    assert summary["train"]["images"] + summary["val"]["images"] == 12
    kinds = set()
    for split in ("train", "val"):
        coco = load(out / "annotations" / f"person_keypoints_{split}.json")
        assert len(coco.imgs) == summary[split]["images"]
        assert coco.cats[1]["name"] == "person" and len(coco.cats[1]["keypoints"]) == 17
        for img in coco.imgs.values():
            image = cv2.imread(str(out / "images" / split / img["file_name"]))
            assert image.shape == (96, 128, 3)
        for ann in coco.anns.values():
            mask = coco.annToMask(ann)  # polygons and both RLE forms decode
            assert mask.shape == (96, 128) and mask.sum() > 0
            kps = np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)
            assert ann["num_keypoints"] == int((kps[:, 2] > 0).sum())
            seg = ann["segmentation"]
            kinds.add("crowd" if ann["iscrowd"] else "polygon" if isinstance(seg, list)
                      else "rle")
    assert {"polygon", "rle"} <= kinds


def test_visibility_is_consistent(synth):
    out, _ = synth
    flags = []
    for split in ("train", "val"):
        data = json.loads((out / "annotations" / f"person_keypoints_{split}.json").read_text())
        sizes = {im["id"]: (im["height"], im["width"]) for im in data["images"]}
        for ann in data["annotations"]:
            h, w = sizes[ann["image_id"]]
            kps = np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)
            missing = kps[:, 2] == 0
            assert (kps[missing, :2] == 0).all()  # COCO: unlabeled joints are (0, 0, 0)
            x, y = kps[~missing, 0], kps[~missing, 1]
            assert ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).all()
            flags += kps[:, 2].tolist()
    assert {0.0, 1.0, 2.0} <= set(flags)  # out of the image, hidden and visible joints


def test_dataset_spec_converts_directly(synth, tmp_path):
    out, summary = synth
    s = dataset_convert(out / "dataset_spec.json", "train", tmp_path / "train",
                        generate_masks=True, progress=False)
    assert s["persons"] == summary["train"]["persons_with_keypoints"]
    s = dataset_convert(out / "dataset_spec.json", "test", tmp_path / "val", progress=False)
    assert s["images"] == summary["val"]["images"]


def test_crowds_and_determinism(tmp_path):
    a = make_pose_dataset(tmp_path / "a", images=30, size=(64, 64), seed=11, progress=False)
    make_pose_dataset(tmp_path / "b", images=30, size=(64, 64), seed=11, progress=False)
    ann_a = (tmp_path / "a" / "annotations" / "person_keypoints_train.json").read_text()
    ann_b = (tmp_path / "b" / "annotations" / "person_keypoints_train.json").read_text()
    assert ann_a == ann_b
    data = json.loads(ann_a)
    crowds = [x for x in data["annotations"] if x["iscrowd"]]
    assert crowds and all(isinstance(x["segmentation"]["counts"], list) for x in crowds)
    assert any(x["num_keypoints"] == 0 and not x["iscrowd"] for x in data["annotations"])
    assert a["train"]["images"] == 24


def test_rle_and_sizes():
    mask = np.zeros((4, 3), dtype=bool)
    mask[1:3, 1] = True
    assert rle_uncompressed(mask) == {"size": [4, 3], "counts": [5, 2, 5]}
    full = np.ones((2, 2), dtype=bool)
    assert rle_uncompressed(full)["counts"] == [0, 4]
    assert parse_size("256x320") == (256, 320)
    with pytest.raises(UserError):
        parse_size("big")
    with pytest.raises(UserError):
        make_pose_dataset("unused", images=1)
    assert parse_range("0.5,0.9", "--person_height") == (0.5, 0.9)
    with pytest.raises(UserError, match="MIN,MAX"):
        parse_range("0.5", "--person_height")
    with pytest.raises(UserError, match="person_height"):
        make_pose_dataset("unused", images=4, person_height=(0.9, 0.5))


def test_person_height_bounds_the_labeled_figures(tmp_path: Path) -> None:
    make_pose_dataset(tmp_path, images=30, size=(96, 96), max_persons=2, crowd=False,
                      person_height=(0.7, 0.9), seed=2, progress=False)
    coco = json.loads((tmp_path / "annotations/person_keypoints_train.json").read_text())
    checked = 0
    for ann in coco["annotations"]:
        k = np.asarray(ann["keypoints"]).reshape(-1, 3)
        if (k[:, 2] > 0).all():  # eyes to hips is about 0.54 of a figure's height
            eyes_to_hips = np.linalg.norm(k[[1, 2], :2].mean(0) - k[[11, 12], :2].mean(0))
            assert 0.33 * 96 < eyes_to_hips < 0.52 * 96
            checked += 1
    assert checked >= 3
