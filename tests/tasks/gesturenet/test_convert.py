"""dataset_convert and the generator: labels readable, every user in exactly one part."""

from __future__ import annotations

import json

import pytest

from graft.errors import UserError
from graft.tasks.gesturenet.convert import dataset_convert
from graft.tasks.gesturenet.crop import CLASSES
from graft.tasks.gesturenet.labels import read_split, scan_labels


def test_generator_writes_kitti_hands_and_one_json_per_hand(hands_dir):
    labels = scan_labels(hands_dir / "gesturenet")
    kitti = sorted((hands_dir / "detector").glob("*/labels/*.txt"))
    assert len(kitti) == 16
    lines = [ln for f in kitti for ln in f.read_text().splitlines()]
    assert len(lines) == len(labels) and all(ln.split()[0] == "hand" for ln in lines)
    assert {lab.label for lab in labels} <= set(CLASSES)
    assert len({lab.user_id for lab in labels}) == 4
    for lab in labels:  # boxes lie in the image (percent)
        assert 0 <= lab.box[0] < lab.box[2] <= 100 and 0 <= lab.box[1] < lab.box[3] <= 100
    val_users = json.loads((hands_dir / "summary.json").read_text())["val_users"]
    for lab in labels:  # detector val frames are the val users' frames
        assert (lab.image.parts[-3] == "val") == (lab.user_id in val_users)


def test_split_keeps_each_user_in_one_part_and_kpi_users_in_test(splits_dir):
    parts = {p: read_split(splits_dir / f"{p}.json") for p in ("train", "val", "test")}
    users = {p: {lab.user_id for lab in labs} for p, labs in parts.items()}
    assert users["test"] == {"user03"}
    assert not users["train"] & users["val"]
    assert not (users["train"] | users["val"]) & users["test"]
    assert all(lab.image.is_file() for labs in parts.values() for lab in labs)


def test_unknown_kpi_user_and_bad_label_are_one_line_errors(hands_dir, tmp_path):
    with pytest.raises(UserError, match="kpi user"):
        dataset_convert(hands_dir / "gesturenet", tmp_path / "a", kpi_users=["nobody"])
    bad = tmp_path / "labels" / "u1"
    bad.mkdir(parents=True)
    (bad / "x.json").write_text(json.dumps({"image": "x.png", "class": "wave",
                                            "box": [1, 1, 5, 5]}))
    with pytest.raises(UserError, match="unknown class 'wave'"):
        dataset_convert(tmp_path / "labels", tmp_path / "b")
    assert not (tmp_path / "b").exists()  # nothing half-written
