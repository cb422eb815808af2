"""KITTI label files: the 15/16-field format, bad lines, TLT's skipped boxes, class mapping."""

from __future__ import annotations

import pytest
from PIL import Image

from graft.data.kitti import (
    ClassMap,
    KittiObject,
    pair_images_and_labels,
    parse_line,
    read_labels,
    write_labels,
)
from graft.errors import UserError

CAR = "Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59"


def error(fn, *args, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        fn(*args, **kwargs)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_reads_fields_and_scores(tmp_path):
    path = tmp_path / "000001.txt"
    path.write_text(f"{CAR}\n\nDontCare -1 -1 -10 1 2 30 40 -1 -1 -1 -1000 -1000 -1000 -10\n")
    labels = read_labels(path)
    car, region = labels.objects
    assert car.type == "Car" and car.box == (587.01, 173.33, 614.12, 200.12)
    assert car.dimensions == (1.65, 1.67, 3.64) and car.location == (-0.65, 1.71, 46.7)
    assert car.rotation_y == -1.59 and car.occluded == 0 and car.score is None
    assert car.line == 1 and region.line == 3 and region.is_dontcare
    scored = parse_line(CAR + " 0.87", path, 1, scores=True)
    assert scored.score == pytest.approx(0.87)
    assert "16" in error(parse_line, CAR, path, 4, scores=True)
    assert "15" in error(parse_line, CAR + " 0.87", path, 4, scores=False)


@pytest.mark.parametrize(("line", "expected"), [
    ("Car 0 0 0 1 2 3", "7 fields"),
    ("Traffic Light 0.00 0 0 1 2 30 40 0 0 0 0 0 0 0", "cannot contain spaces"),
    ("Car 0.00 0 0 1 2 abc 40 0 0 0 0 0 0 0", "field 7 (x2) is 'abc'"),
    ("Car 0.00 0 0 1 2 nan 40 0 0 0 0 0 0 0", "field 7 (x2) is 'nan'"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, line, expected):
    path = tmp_path / "000007.txt"
    path.write_text(f"{CAR}\n{line}\n")
    message = error(read_labels, path)
    assert f"{path}:2" in message and expected in message


def test_boxes_without_area_are_skipped_with_a_warning(tmp_path):
    path = tmp_path / "a.txt"
    flat = "Car 0 0 0 10.2 5 10.9 50 0 0 0 0 0 0 0"  # int(x1) == int(x2): TLT skips it
    upside_down = "Car 0 0 0 10 50 40 20 0 0 0 0 0 0 0"
    path.write_text(f"{flat}\n{CAR}\n{upside_down}\n")
    labels = read_labels(path)
    assert [o.line for o in labels.objects] == [2]
    assert len(labels.warnings) == 2
    assert labels.warnings[0].startswith(f"{path}:1: Car box") and "skipped" in labels.warnings[0]
    assert labels.warnings[1].startswith(f"{path}:3:")


def test_write_then_read_round_trip(tmp_path):
    objects = [KittiObject("car", (1.5, 2.25, 30.0, 40.75)),
               KittiObject("DontCare", (0.0, 0.0, 5.0, 5.0)),
               KittiObject("person", (3.0, 4.0, 9.0, 19.0), truncated=0.5, occluded=2,
                           alpha=-1.25, score=0.9125)]
    path = tmp_path / "out" / "x.txt"
    write_labels(path, objects)
    again = read_labels(path).objects
    assert [(o.type, o.box, o.truncated, o.occluded, o.alpha, o.score) for o in again] == [
        (o.type, o.box, o.truncated, o.occluded, o.alpha, o.score) for o in objects]
    write_labels(tmp_path / "empty.txt", [])
    assert (tmp_path / "empty.txt").read_text() == ""
    assert read_labels(tmp_path / "empty.txt").objects == []


def labels_with(tmp_path, *types: str):
    path = tmp_path / "l.txt"
    path.write_text("".join(f"{t} 0 0 0 1 2 30 40 0 0 0 0 0 0 0\n" for t in types))
    return read_labels(path)


def test_class_mapping_is_case_insensitive(tmp_path):
    labels = labels_with(tmp_path, "Car", "CAR", "car", "Pedestrian", "DontCare", "dontcare")
    objects, ignored = ClassMap({"car": "vehicle", "PEDESTRIAN": "person"}).apply(labels)
    assert [o.type for o in objects] == ["vehicle"] * 3 + ["person"]
    assert len(ignored) == 2  # DontCare in any case is an ignore region


def test_unmapped_class_is_an_error_not_a_silent_drop(tmp_path):
    labels = labels_with(tmp_path, "Car", "Van")
    message = error(ClassMap({"car": "car"}).apply, labels)
    assert "class 'Van'" in message and f"{labels.path}:2" in message
    assert "dontcare" in message  # the fix names both ways out


def test_dontcare_target_and_ignore_list(tmp_path):
    labels = labels_with(tmp_path, "Car", "Van", "Misc")
    objects, ignored = ClassMap({"car": "car", "van": "DontCare"}, ignore=["MISC"]).apply(labels)
    assert [o.type for o in objects] == ["car"]
    assert [o.type for o in ignored] == ["Van"]  # kept as an ignore region, box and all
    assert ClassMap({"car": "car", "van": "dontcare"}).targets == ["car"]


def test_identity_mapping_lowercases_and_conflicting_keys_fail(tmp_path):
    objects, _ = ClassMap().apply(labels_with(tmp_path, "Car", "Pedestrian"))
    assert [o.type for o in objects] == ["car", "pedestrian"]
    assert "maps 'CAR' twice" in error(ClassMap, {"car": "car", "CAR": "truck"})


def test_pairing_images_and_labels(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    (images / "seq1").mkdir(parents=True)
    labels.mkdir()
    for name in ("seq1/000001.png", "000002.jpg"):
        Image.new("RGB", (8, 8)).save(images / name)
    (labels / "seq1").mkdir()
    (labels / "seq1" / "000001.txt").write_text(CAR + "\n")
    assert "has no label file" in error(pair_images_and_labels, images, labels)
    (labels / "000002.txt").write_text("")
    pairs = pair_images_and_labels(images, labels)
    assert [(i.name, lb.name) for i, lb in pairs] == [("000002.jpg", "000002.txt"),
                                                      ("000001.png", "000001.txt")]
    (labels / "000003.txt").write_text("")
    assert "has no image" in error(pair_images_and_labels, images, labels)
