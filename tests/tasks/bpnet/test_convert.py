from __future__ import annotations

import copy
import json
import shutil

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from graft.errors import UserError
from graft.tasks.bpnet.convert import (
    PoseIndex,
    build_index,
    dataset_convert,
    map_keypoints,
    select_main_persons,
)
from graft.tasks.bpnet.dataset_spec import DataFilteringParams, load_dataset_spec
from graft.tasks.bpnet.pose_config import PoseConfig


def seg_mask(ann, h, w):
    seg = ann["segmentation"]
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    elif isinstance(seg["counts"], list):
        rle = mask_utils.frPyObjects(seg, h, w)
    else:
        rle = seg
    return mask_utils.decode(rle).astype(bool)


def one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- conversion of the COCO fixture -----------------------------------------------------------
def test_convert_train_and_test(coco_small, tmp_path):
    train = dataset_convert(coco_small, "train", tmp_path / "train", generate_masks=True,
                            progress=False)
    assert train["images"] == 4  # the image without people is not a training image
    assert train["persons"] == 7 and train["crowd_annotations"] == 1
    assert train["unlabeled_persons"] == 1 and train["masks_written"] == 2
    saved = json.loads((tmp_path / "train" / "summary.json").read_text())
    assert saved["persons"] == 7
    test = dataset_convert(coco_small, "test", tmp_path / "val", progress=False)
    assert test["images"] == 5 and test["masks_reused"] == 2  # masks from the train run


def test_masks_cover_crowds_and_unlabeled_people(coco_small, coco_small_json, tmp_path):
    index = build_index(load_dataset_spec(coco_small), "train", generate_masks=True,
                        progress=False)
    anns = coco_small_json["annotations"]
    images = {im["id"]: im for im in coco_small_json["images"]}
    kinds = {"polygon": 0, "rle": 0, "crowd": 0}
    for i, image_id in enumerate(index.image_ids):
        image = images[int(image_id)]
        h, w = image["height"], image["width"]
        own = [a for a in anns if a["image_id"] == image_id]
        crowd = [seg_mask(a, h, w) for a in own if a["iscrowd"]]
        unlabeled = [seg_mask(a, h, w) for a in own if not a["iscrowd"] and
                     a["num_keypoints"] == 0]
        labeled = [seg_mask(a, h, w) for a in own if a["num_keypoints"] > 0]
        for a in own:
            seg = a["segmentation"]
            kinds["polygon" if isinstance(seg, list) else
                  "crowd" if isinstance(seg["counts"], list) else "rle"] += 1
        path = index.mask_path(i)
        if not crowd and not unlabeled:
            assert path is None
            continue
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        assert mask.shape == (h, w) and set(np.unique(mask)) <= {0, 255}
        people = np.any(labeled, axis=0)
        for region in crowd:  # crowds are ignored except where a labeled person stands
            assert (mask[region & ~people] == 0).all()
            assert (mask[region & people] == 255).all()
            assert (region & people).any()
        for region in unlabeled:
            assert region.any() and (mask[region] == 0).all()
        ignored = np.any(crowd + unlabeled, axis=0)
        assert (mask[~ignored] == 255).all()
    assert all(kinds.values()), kinds  # polygons, compressed RLE and crowd RLE all decoded


def test_index_keypoints_are_mapped_with_neck(coco_small, coco_small_json):
    index = build_index(load_dataset_spec(coco_small), "test", progress=False)
    pose = index.pose_config
    neck, ls, rs = (pose.joints.index(n) for n in ("neck", "l_shoulder", "r_shoulder"))
    first = next(a for a in coco_small_json["annotations"] if a["num_keypoints"] == 17)
    src = np.asarray(first["keypoints"], dtype=np.float32).reshape(17, 3)
    i = int(np.flatnonzero(index.image_ids == first["image_id"])[0])
    persons = index.keypoints[index.persons(i)]
    match = [p for p in persons if np.allclose(p[pose.joints.index("nose"), :2], src[0, :2])]
    assert len(match) == 1
    person = match[0]
    np.testing.assert_allclose(person[neck, :2], (person[ls, :2] + person[rs, :2]) / 2)
    assert person[neck, 2] == min(person[ls, 2], person[rs, 2]) > 0
    np.testing.assert_allclose(person[pose.joints.index("l_wrist")], src[9])


def test_index_save_load_and_move(coco_small, tmp_path):
    shutil.copytree(coco_small.parent, tmp_path / "data")
    spec = tmp_path / "data" / "dataset_spec.json"
    dataset_convert(spec, "train", tmp_path / "data" / "out", generate_masks=True, progress=False)
    moved = tmp_path / "moved"
    shutil.move(tmp_path / "data", moved)
    index = PoseIndex.load(moved / "out")
    assert index.image_dir == (moved / "images").resolve()
    assert index.image_path(0).is_file()
    assert all(index.mask_path(i) is None or index.mask_path(i).is_file()
               for i in range(len(index)))
    assert index.keypoints.dtype == np.float32 and index.keypoints.shape[1:] == (18, 3)
    assert index.person_start[-1] == len(index.keypoints) == len(index.main)
    with pytest.raises(UserError, match="dataset_convert"):
        PoseIndex.load(tmp_path / "nothing")


# -- keypoint mapping -------------------------------------------------------------------------
def test_neck_only_from_two_labeled_shoulders():
    pose = PoseConfig()
    src = np.zeros((3, 17, 3), dtype=np.float32)
    ls, rs = pose.source_joints.index("l_shoulder"), pose.source_joints.index("r_shoulder")
    src[:, ls] = (10, 20, 2)
    src[:, rs] = (30, 40, 1)
    src[1, rs, 2] = 0  # right shoulder has coordinates but is not labeled
    src[2, ls, 2] = 0
    out = map_keypoints(src, pose)
    neck = pose.joints.index("neck")
    np.testing.assert_allclose(out[0, neck], (20, 30, 1))  # mean; weakest visibility
    np.testing.assert_allclose(out[1, neck], 0)
    np.testing.assert_allclose(out[2, neck], 0)
    np.testing.assert_allclose(out[1, pose.joints.index("r_shoulder")], 0)


def test_main_persons_filter():
    params = DataFilteringParams(min_acceptable_kpts=5, min_acceptable_interperson_dist_ratio=0.3)
    boxes = np.array([[0, 0, 100, 200], [5, 5, 100, 200], [300, 0, 100, 200],
                      [600, 0, 10, 10], [800, 0, 100, 200]], dtype=float)
    areas = boxes[:, 2] * boxes[:, 3]
    nkp = np.array([10, 10, 10, 10, 4])
    # second: too close to the first; fourth: too small; fifth: too few keypoints
    assert select_main_persons(boxes, areas, nkp, params).tolist() == [
        True, False, True, False, False]


# -- errors -----------------------------------------------------------------------------------
def test_missing_image_file(coco_small_json, dataset_factory):
    spec = dataset_factory(coco_small_json)
    (spec.parent / "images" / "crowd.jpg").unlink()
    message = one_line_error(build_index, load_dataset_spec(spec), "train", progress=False)
    assert "image file not found" in message and "crowd.jpg" in message
    assert "image id 2" in message


def test_joint_outside_the_image(coco_small_json, dataset_factory):
    coco = copy.deepcopy(coco_small_json)
    ann = next(a for a in coco["annotations"] if a["num_keypoints"] == 17)
    ann["keypoints"][9 * 3] = 5000.0  # left wrist far right of the image
    spec = dataset_factory(coco, write=False)
    message = one_line_error(build_index, load_dataset_spec(spec), "train", progress=False)
    image = next(im for im in coco["images"] if im["id"] == ann["image_id"])
    assert f"annotation {ann['id']}" in message and f"image {ann['image_id']}" in message
    assert image["file_name"] in message and "'l_wrist'" in message and "outside" in message


def test_empty_datasets(coco_small_json, dataset_factory):
    no_images = {**copy.deepcopy(coco_small_json), "images": [], "annotations": []}
    message = one_line_error(build_index, load_dataset_spec(dataset_factory(no_images)), "train",
                             progress=False)
    assert "empty dataset" in message
    no_keypoints = copy.deepcopy(coco_small_json)
    for ann in no_keypoints["annotations"]:
        ann["keypoints"] = [0] * 51
        ann["num_keypoints"] = 0
    spec = dataset_factory(no_keypoints, write=False)
    message = one_line_error(build_index, load_dataset_spec(spec), "train", progress=False)
    assert "empty dataset" in message and "labeled keypoints" in message


def test_wrong_joint_count_for_custom_config(coco_small_json, dataset_factory):
    pose = {"joints": ["head", "l_hand", "r_hand", "l_foot", "r_foot"],
            "limbs": [[0, 1], [0, 2], [0, 3], [0, 4]],
            "source_joints": ["head", "l_hand", "r_hand", "l_foot", "r_foot"],
            "synthesized": []}
    spec = dataset_factory(coco_small_json, {"pose_config": pose}, write=False)
    message = one_line_error(build_index, load_dataset_spec(spec), "train", progress=False)
    assert "17 keypoints" in message and "5 source_joints" in message
    coco = copy.deepcopy(coco_small_json)
    del coco["categories"][0]["keypoints"]  # now each annotation is checked
    spec = dataset_factory(coco, {"pose_config": pose}, write=False)
    message = one_line_error(build_index, load_dataset_spec(spec), "train", progress=False)
    first = coco["annotations"][0]
    assert f"annotation {first['id']} (image {first['image_id']}" in message
    assert "has 17 keypoints" in message and "5 source_joints" in message


def test_unknown_visibility_flag_and_category(coco_small_json, dataset_factory):
    coco = copy.deepcopy(coco_small_json)
    ann = next(a for a in coco["annotations"] if a["num_keypoints"] == 17)
    ann["keypoints"][2] = 3
    spec = dataset_factory(coco, write=False)
    assert "visibility flag 3" in one_line_error(build_index, load_dataset_spec(spec), "train",
                                                 progress=False)
    spec = dataset_factory(coco_small_json, {"category": "hand"}, write=False)
    assert "no category 'hand'" in one_line_error(build_index, load_dataset_spec(spec), "train",
                                                  progress=False)


def test_custom_visibility_convention(coco_small_json, dataset_factory):
    coco = copy.deepcopy(coco_small_json)
    for ann in coco["annotations"]:  # relabel: 5 = seen, 7 = hidden, 0 = none
        flags = ann["keypoints"][2::3]
        ann["keypoints"][2::3] = [{2: 5, 1: 7, 0: 0}[int(v)] for v in flags]
    flags = {"value": {"seen": 5, "hidden": 7, "none": 0},
             "mapping": {"seen": "visible", "hidden": "occluded", "none": "not_labeled"}}
    spec = dataset_factory(coco, {"visibility_flags": flags})
    custom = build_index(load_dataset_spec(spec), "train", progress=False)
    plain = build_index(load_dataset_spec(dataset_factory(coco_small_json)), "train",
                        progress=False)
    np.testing.assert_array_equal(custom.keypoints, plain.keypoints)
    assert set(np.unique(custom.keypoints[..., 2])) == {0.0, 1.0, 2.0}
