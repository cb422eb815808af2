"""COCO <-> KITTI conversion, both ways and round trip, on files the tests make."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graft.cli import main
from graft.data.coco import load_coco
from graft.data.convert import coco_to_kitti, kitti_name, kitti_to_coco
from graft.data.kitti import ClassMap, read_labels
from graft.errors import UserError


def line(kind: str, x1: float, y1: float, x2: float, y2: float) -> str:
    return f"{kind} 0.00 0 0.00 {x1} {y1} {x2} {y2} 0.00 0.00 0.00 0.00 0.00 0.00 0.00\n"


@pytest.fixture
def kitti(tmp_path) -> tuple[Path, Path]:
    images, labels = tmp_path / "kitti" / "images", tmp_path / "kitti" / "labels"
    (images / "seq").mkdir(parents=True)
    (labels / "seq").mkdir(parents=True)
    Image.new("RGB", (64, 48)).save(images / "000001.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 64x48, shown 48x64: labels refer to what is shown
    Image.new("RGB", (64, 48)).save(images / "seq" / "000002.jpg", exif=exif.tobytes())
    Image.new("RGB", (64, 48)).save(images / "000003.png")
    (labels / "000001.txt").write_text(
        line("Car", 1.5, 2.25, 30, 40) + line("Pedestrian", 40, 5, 50.75, 45)
        + line("DontCare", 0, 0, 10, 10) + line("Van", 20, 20, 30, 30)
        + line("Car", 10.2, 5, 10.9, 20))  # no area in whole pixels: skipped
    (labels / "seq" / "000002.txt").write_text(line("CAR", 3, 4, 20, 60))
    (labels / "000003.txt").write_text("")  # an image without objects
    return images, labels


MAPPING = {"car": "car", "pedestrian": "person", "van": "dontcare"}


def test_kitti_to_coco(kitti, tmp_path):
    images, labels = kitti
    out = tmp_path / "coco.json"
    r = kitti_to_coco(images, labels, out, ClassMap(MAPPING), progress=False)
    assert r["objects"] == {"car": 2, "dontcare": 2, "person": 1}
    assert len(r["warnings"]) == 1 and r["warnings"][0].startswith(f"{labels / '000001.txt'}:5")
    coco = load_coco(out)  # valid by graft's own checks
    data = json.loads(out.read_text())
    assert [c["name"] for c in data["categories"]] == ["car", "person"]
    assert [(i["file_name"], i["width"], i["height"]) for i in data["images"]] == [
        ("000001.png", 64, 48), ("000003.png", 64, 48), ("seq/000002.jpg", 48, 64)]
    anns = coco.imgToAnns[1]
    objects = [(coco.cats[a["category_id"]]["name"], a["bbox"]) for a in anns if not a["iscrowd"]]
    assert objects == [("car", [1.5, 2.25, 28.5, 37.75]), ("person", [40.0, 5.0, 10.75, 40.0])]
    crowd = [a for a in anns if a["iscrowd"]]
    # two ignore regions (DontCare, Van), each a crowd region of every category
    assert len(crowd) == 4 and {a["category_id"] for a in crowd} == {1, 2}
    assert coco.annToMask(crowd[0]).sum() > 0  # crowd regions carry a polygon


def test_kitti_round_trip(kitti, tmp_path):
    images, labels = kitti
    kitti_to_coco(images, labels, tmp_path / "coco.json", ClassMap(MAPPING), progress=False)
    r = coco_to_kitti(tmp_path / "coco.json", tmp_path / "back", images, "link", progress=False)
    assert r["objects"] == {"DontCare": 2, "car": 2, "person": 1}
    back = read_labels(tmp_path / "back" / "labels" / "000001.txt").objects
    original, ignored = ClassMap(MAPPING).apply(read_labels(labels / "000001.txt"))
    assert [(o.type, o.box) for o in back if not o.is_dontcare] == [
        (o.type, o.box) for o in original]
    assert sorted(o.box for o in back if o.is_dontcare) == sorted(o.box for o in ignored)
    assert read_labels(tmp_path / "back" / "labels" / "seq" / "000002.txt").objects[0].box == (
        3, 4, 20, 60)
    assert (tmp_path / "back" / "labels" / "000003.txt").read_text() == ""
    assert (tmp_path / "back" / "images" / "seq" / "000002.jpg").read_bytes() == (
        images / "seq" / "000002.jpg").read_bytes()


def coco_file(tmp_path: Path) -> Path:
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "height": 50, "width": 80},
                   {"id": 9, "file_name": "b.jpg", "height": 50, "width": 80}],
        "categories": [{"id": 1, "name": "Traffic Light"}, {"id": 2, "name": "person"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "bbox": [10.25, 5.5, 20, 30],
             "iscrowd": 0, "area": 600},
            {"id": 2, "image_id": 7, "category_id": 2, "bbox": [40, 10, 12, 25], "iscrowd": 1,
             "area": 300, "segmentation": [[40, 10, 52, 10, 52, 35, 40, 35]]},
            {"id": 3, "image_id": 9, "category_id": 2, "bbox": [1, 1, 5, 6], "iscrowd": 0,
             "area": 30},
        ],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_to_kitti_and_back(tmp_path):
    assert kitti_name("Traffic Light") == "trafficlight"
    r = coco_to_kitti(coco_file(tmp_path), tmp_path / "kitti", progress=False)
    assert r["objects"] == {"DontCare": 1, "person": 1, "trafficlight": 1}
    first = read_labels(tmp_path / "kitti" / "labels" / "a.txt").objects
    assert [(o.type, o.box) for o in first] == [("trafficlight", (10.25, 5.5, 30.25, 35.5)),
                                                ("DontCare", (40, 10, 52, 35))]
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (80, 50)).save(images / name)
    kitti_to_coco(images, tmp_path / "kitti" / "labels", tmp_path / "again.json",
                  progress=False)
    again = json.loads((tmp_path / "again.json").read_text())
    assert [c["name"] for c in again["categories"]] == ["person", "trafficlight"]
    boxes = sorted((a["bbox"], a["iscrowd"]) for a in again["annotations"])
    assert boxes == sorted([([10.25, 5.5, 20.0, 30.0], 0), ([1.0, 1.0, 5.0, 6.0], 0),
                            ([40.0, 10.0, 12.0, 25.0], 1), ([40.0, 10.0, 12.0, 25.0], 1)])


def test_conversion_errors(tmp_path, kitti):
    images, labels = kitti
    with pytest.raises(UserError, match="class 'Pedestrian' is not in target_class_mapping"):
        kitti_to_coco(images, labels, tmp_path / "x.json", ClassMap({"car": "car"}),
                      progress=False)
    assert not (tmp_path / "x.json").exists()
    data = json.loads(coco_file(tmp_path).read_text())
    data["categories"].append({"id": 3, "name": "traffic light"})
    (tmp_path / "clash.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="both become KITTI class 'trafficlight'"):
        coco_to_kitti(tmp_path / "clash.json", tmp_path / "k", progress=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.txt").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        coco_to_kitti(coco_file(tmp_path), tmp_path / "full", progress=False)
    with pytest.raises(UserError, match=r"image file not found: .*a\.jpg \(image id 7\)"):
        coco_to_kitti(coco_file(tmp_path), tmp_path / "k2", tmp_path, "copy", progress=False)
    assert not (tmp_path / "k2").exists()  # nothing half-written


def test_cli(kitti, tmp_path, capsys):
    images, labels = kitti
    out = tmp_path / "cli.json"
    args = ["convert", "kitti2coco", "-i", str(images), "-l", str(labels), "-o", str(out),
            "--map", "Car=car", "--map", "pedestrian=person", "--map", "VAN=dontcare"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "3 images, 2 car, 2 dontcare, 1 person" in printed and "1 boxes skipped" in printed
    warnings = out.with_name("cli.json.warnings.txt").read_text().splitlines()
    assert len(warnings) == 1 and "000001.txt:5" in warnings[0]
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
    assert main([*args[:-2], "--force"]) == 2
    err = capsys.readouterr().err
    assert "class 'Van' is not in target_class_mapping" in err and len(err.splitlines()) == 1
    assert main(["convert", "coco2kitti", "-a", str(out), "-o", str(tmp_path / "k")]) == 0
    assert len(list((tmp_path / "k" / "labels").rglob("*.txt"))) == 3
    assert np.isclose(read_labels(tmp_path / "k" / "labels" / "000001.txt").objects[0].box[0],
                      1.5)
