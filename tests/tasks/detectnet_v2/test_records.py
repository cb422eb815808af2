"""Reading a dataset_config: class mapping, checks, one-line errors, validation folds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from graft.errors import UserError
from graft.spec import validate
from graft.tasks.detectnet_v2.data_spec import DatasetConfig
from graft.tasks.detectnet_v2.records import check_boxes, load_dataset, load_dataset_spec
from tests.tasks.detectnet_v2.conftest import make_kitti, spec_dict


def _config(root: Path, **changes) -> DatasetConfig:
    data = spec_dict()["dataset_config"]
    data["data_sources"] = [{"image_directory_path": str(root / "images"),
                             "label_directory_path": str(root / "labels")}]
    data.update(changes)
    return validate(DatasetConfig, data)


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        fn(*args, **kwargs)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_kitti_labels_map_ignoring_case_with_dontcare_regions(kitti: Path) -> None:
    data = load_dataset(_config(kitti, target_class_mapping={"CAR": "car", "Person": "person"}))
    assert data.classes == ["car", "person"]
    assert len(data.train) + len(data.val) == 8 and len(data.val) == 2
    counts = data.counts(data.train + data.val)
    assert counts["car"] == {"objects": 8, "ignored": 0, "images": 8}
    assert counts["person"]["objects"] == 8 and counts["dontcare"]["objects"] == 4
    record = next(r for r in data.train + data.val if r.image.name == "001.png")
    assert record.labels.tolist() == [0, 1] and record.regions.shape == (1, 4)
    assert record.where[0].endswith("001.txt:1") and record.weight == 1.0


def test_unmapped_and_malformed_labels_are_one_line_errors(kitti: Path) -> None:
    text = _error(load_dataset, _config(kitti, target_class_mapping={"car": "car"}))
    assert "'Person'" in text and "000.txt:2" in text and "target_class_mapping" in text
    (kitti / "labels" / "003.txt").write_text("Car 0 0 0 1 2 3\n")
    text = _error(load_dataset, _config(kitti))
    assert "003.txt:1" in text and "7 fields" in text


def test_a_mapping_that_leaves_no_object_is_refused(kitti: Path) -> None:
    config = _config(kitti, target_class_mapping={"truck": "truck", "car": "dontcare",
                                                  "person": "dontcare"})
    text = _error(load_dataset, config)
    assert "no object of the target classes truck" in text


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    assert "no images in" in _error(load_dataset, _config(tmp_path))
    shutil.rmtree(tmp_path / "labels")
    assert "label folder not found" in _error(load_dataset, _config(tmp_path))


def test_boxes_outside_the_image_name_the_line(kitti: Path) -> None:
    record = load_dataset(_config(kitti, validation_split=None)).train[0]
    check_boxes(record, 64, 64)  # inside: fine
    record.boxes[1, 2] = 64.6  # less than a pixel past the border: clipped
    check_boxes(record, 64, 64)
    assert record.boxes[1, 2] == 64
    record.boxes[1] = [10, 10, 90, 30]
    text = _error(check_boxes, record, 64, 64)
    assert "000.txt:2" in text and "outside its 64x64 image" in text


def test_validation_split_is_seeded_and_keeps_groups_whole(tmp_path: Path) -> None:
    root = make_kitti(tmp_path / "d", images=12, dontcare=False)
    for n in range(12):  # three "videos" of four frames
        for sub in ("images", "labels"):
            ext = ".png" if sub == "images" else ".txt"
            (root / sub / f"{n:03d}{ext}").rename(root / sub / f"seq{n // 4}_{n:03d}{ext}")
    names = [sorted(r.image.name for r in load_dataset(_config(root, validation_split={
        "fraction": 0.25, "seed": seed})).val) for seed in (0, 0, 1)]
    assert names[0] == names[1] and len(names[0]) == 3 and names[0] != names[2]
    grouped = load_dataset(_config(root, validation_split={
        "fraction": 0.3, "seed": 0, "group_by": r"regex:seq(\d)"})).val
    assert len({r.image.name[:4] for r in grouped}) == 1 and len(grouped) == 4


def test_a_separate_validation_source(tmp_path: Path) -> None:
    train, val = make_kitti(tmp_path / "t", 4), make_kitti(tmp_path / "v", 3, seed=1)
    config = _config(train, validation_split=None, validation_data_source={
        "image_directory_path": str(val / "images"), "label_directory_path": str(val / "labels")})
    data = load_dataset(config)
    assert len(data.train) == 4 and len(data.val) == 3


def test_coco_sources_crowds_and_tlt_category_names(tmp_path: Path) -> None:
    root = make_kitti(tmp_path, images=2, dontcare=False)
    coco = {"images": [{"id": 1, "file_name": "000.png", "width": 64, "height": 64},
                       {"id": 2, "file_name": "001.png", "width": 64, "height": 64}],
            "categories": [{"id": 1, "name": "Race Car"}, {"id": 2, "name": "person"}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 20, 30], "iscrowd": 0},
                {"id": 2, "image_id": 1, "category_id": 2, "bbox": [30, 3, 10, 30],
                 "iscrowd": 1},
                {"id": 3, "image_id": 2, "category_id": 2, "bbox": [5, 5, 0.5, 20]}]}
    (root / "ann.json").write_text(json.dumps(coco))
    config = validate(DatasetConfig, {
        "data_sources": [{"image_directory_path": str(root / "images"),
                          "annotation_file": str(root / "ann.json")}],
        "target_class_mapping": {"racecar": "car", "person": "person"}})
    data = load_dataset(config)
    first, second = data.train
    assert first.labels.tolist() == [0, 1] and first.ignored.tolist() == [False, True]
    assert np.allclose(first.boxes[0], [2, 3, 22, 33]) and first.size == (64, 64)
    assert len(second.boxes) == 0 and len(data.warnings) == 1 and "annotation 3" in \
        data.warnings[0]


def test_dataset_specs_alone_or_inside_a_training_spec(kitti: Path) -> None:
    (kitti / "full.yaml").write_text(yaml.safe_dump(spec_dict()))
    (kitti / "data.yaml").write_text(yaml.safe_dump(spec_dict()["dataset_config"]))
    for name in ("full.yaml", "data.yaml"):
        config = load_dataset_spec(kitti / name)
        assert Path(config.data_sources[0].image_directory_path) == kitti / "images"
    (kitti / "bad.yaml").write_text("dataset_config: {data_sources: []}\n")
    assert "bad.yaml" in _error(load_dataset_spec, kitti / "bad.yaml")
