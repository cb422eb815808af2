from __future__ import annotations

import json

import pytest

from graft.errors import UserError
from graft.tasks.bpnet.dataset_spec import (
    DatasetSpec,
    VisibilityFlags,
    load_dataset_spec,
    normalize_joint_name,
    normalize_mode,
)

MODE = {"images_root_dir_path": "img", "mask_root_dir_path": "masks",
        "annotation_root_dir_path": "ann/train.json"}


def write(tmp_path, data, name="spec.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else data)
    return path


def test_paths_are_relative_to_the_spec_file(tmp_path):
    (tmp_path / "sub").mkdir()
    spec = load_dataset_spec(write(tmp_path / "sub", {"root_directory_path": "../data",
                                                      "train_data": MODE}))
    assert spec.image_dir("train").resolve() == (tmp_path / "data" / "img").resolve()
    assert spec.annotation_file("train").name == "train.json"
    assert spec.mask_dir("train").name == "masks"


def test_yaml_spec_with_tlt_keys(tmp_path):
    text = """
dataset: coco
root_directory_path: /data/coco
train_data: {images_root_dir_path: train2017, mask_root_dir_path: m,
             annotation_root_dir_path: a.json}
categories:
  - {name: person, id: 1, num_joints: 17, keypoints: [nose, left_eye, right_eye, left_ear,
     right_ear, left_shoulder, right_shoulder, left_elbow, right_elbow, left_wrist,
     right_wrist, left_hip, right_hip, left_knee, right_knee, left_ankle, right_ankle]}
visibility_flags:
  value: {visible: 2, occluded: 1, not_labeled: 0}
  mapping: {visible: visible, occluded: occluded, not_labeled: not_labeled}
data_filtering_params: {min_acceptable_kpts: 3}
duplicate_data_with_each_person_as_center: false
"""
    spec = load_dataset_spec(write(tmp_path, text, "spec.yaml"))
    assert str(spec.image_dir("train")) == "/data/coco/train2017"
    pose = spec.load_pose_config()
    assert pose.source_joints[1] == "l_eye" and pose.num_joints == 18
    assert spec.data_filtering_params.min_acceptable_kpts == 3


def test_unknown_key_suggests_the_right_one(tmp_path):
    with pytest.raises(UserError, match="did you mean 'train_data'"):
        load_dataset_spec(write(tmp_path, {"trian_data": MODE}))


def test_missing_spec_file(tmp_path):
    with pytest.raises(UserError, match="dataset spec not found"):
        load_dataset_spec(tmp_path / "nope.json")


def test_inline_pose_config_and_missing_mode(tmp_path):
    pose = {"joints": ["a", "b"], "limbs": [[0, 1]], "source_joints": ["a", "b"],
            "synthesized": []}
    spec = load_dataset_spec(write(tmp_path, {"train_data": MODE, "pose_config": pose}))
    assert spec.load_pose_config().joints == ["a", "b"]
    with pytest.raises(UserError, match="no test_data section"):
        spec.image_dir("test")
    with pytest.raises(UserError, match="not both"):
        load_dataset_spec(write(tmp_path, {"train_data": MODE, "pose_config": pose,
                                           "pose_config_path": "p.json"}))


def test_pose_config_path_relative_to_spec(tmp_path):
    (tmp_path / "p.yaml").write_text("joints: [head, tail]\nlimbs: [[0, 1]]\n"
                                     "source_joints: [head, tail]\nsynthesized: []\n")
    spec = load_dataset_spec(write(tmp_path, {"train_data": MODE, "pose_config_path": "p.yaml"}))
    assert spec.load_pose_config().source_joints == ["head", "tail"]


def test_visibility_convention():
    flags = VisibilityFlags(value={"vis": 1, "missing": 0},
                            mapping={"vis": "visible", "missing": "not_labeled"})
    assert flags.code_of() == {1: 2, 0: 0}
    assert VisibilityFlags().code_of() == {2: 2, 1: 1, 0: 0}
    with pytest.raises(ValueError, match="needs an entry in mapping"):
        VisibilityFlags(value={"seen": 1})


def test_modes_and_names():
    assert normalize_mode("val") == "test" and normalize_mode("TRAIN") == "train"
    with pytest.raises(UserError, match="unknown mode"):
        normalize_mode("dev")
    assert normalize_joint_name("left_knee") == "l_knee"
    assert normalize_joint_name("right_ear") == "r_ear"
    assert normalize_joint_name("neck") == "neck"
    with pytest.raises(ValueError):
        DatasetSpec()
