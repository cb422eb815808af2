"""check_labels: the round trip scores near 1 on good data, resized as training resizes it;
empty classes and class mismatches are loud."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from graft.cli import main
from graft.errors import UserError
from graft.spec import load_spec
from graft.tasks.detectnet_v2.check_labels import check_labels, report_lines
from graft.tasks.detectnet_v2.spec import DetectNetSpec
from tests.tasks.detectnet_v2.conftest import CLASSES, write_spec


def test_good_labels_round_trip_near_one_through_the_cli(kitti: Path, capsys) -> None:
    spec = write_spec(kitti, augmentation_config={"preprocessing": {
        "output_image_width": 96, "output_image_height": 64}})
    out = kitti / "check"
    assert main(["detectnet_v2", "check_labels", "-d", str(spec), "-e", str(spec), "-r",
                 str(out), "--num_images", "3"]) == 0
    report = json.loads((out / "check_labels.json").read_text())
    assert report["mAP"] >= 0.95 and report["images"] == 8 and report["empty_classes"] == []
    assert report["counts"]["car"]["objects"] == 8
    assert len(list((out / "images").glob("*.png"))) == 3
    assert "round-trip mAP" in capsys.readouterr().out


def test_boxes_below_the_minimum_height_lower_the_score(kitti: Path) -> None:
    spec = load_spec(write_spec(kitti, postprocessing_config={"target_class_config": {
        c: {"clustering_config": {"minimum_bounding_box_height": 22}} for c in CLASSES}}),
        DetectNetSpec)
    report = check_labels(kitti / "spec.yaml", spec, kitti / "check", num_images=0,
                          progress=False)
    by_class = {r["class"]: r["AP"] for r in report["per_class"]}
    assert by_class["car"] == 0.0 and by_class["person"] > 0.95  # cars are 20 px tall
    assert any("below 0.95" in line for _, line in report_lines(report))


def test_a_class_without_objects_is_reported_loudly(kitti: Path, capsys) -> None:
    mapping = {"car": "car", "person": "person", "truck": "truck"}
    spec = write_spec(kitti, dataset_config={"target_class_mapping": mapping},
                      postprocessing_config={"target_class_config": {}})
    assert main(["detectnet_v2", "check_labels", "-d", str(spec), "-e", str(spec), "-r",
                 str(kitti / "check"), "--num_images", "0"]) == 0
    assert "class 'truck' has no object in the 8 images" in capsys.readouterr().err


def test_dataset_and_training_classes_must_agree(kitti: Path) -> None:
    spec = load_spec(write_spec(kitti), DetectNetSpec)
    data = kitti / "data.yaml"
    data.write_text(yaml.safe_dump({"dataset_config": {
        "data_sources": [{"image_directory_path": "images", "label_directory_path": "labels"}],
        "target_class_mapping": {"car": "vehicle", "person": "person"}}}))
    with pytest.raises(UserError, match="differ from the training spec"):
        check_labels(data, spec, kitti / "check", progress=False)
