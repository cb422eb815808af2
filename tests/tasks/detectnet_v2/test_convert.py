"""dataset_convert: every label and image checked, a clean KITTI copy with its validation
fold, per-class counts, skipped boxes listed, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from graft.cli import main
from graft.errors import UserError
from graft.tasks.detectnet_v2.convert import dataset_convert
from graft.tasks.detectnet_v2.records import load_dataset, load_dataset_spec
from tests.tasks.detectnet_v2.conftest import spec_dict


def _dataset_spec(root: Path, **changes) -> Path:
    path = root / "dataset.yaml"
    path.write_text(yaml.safe_dump({"dataset_config": {**spec_dict()["dataset_config"],
                                                       **changes}}))
    return path


def test_convert_writes_checked_kitti_with_counts_and_warnings(kitti: Path, capsys) -> None:
    with open(kitti / "labels" / "002.txt", "a") as fh:
        fh.write("car 0 0 0 10.2 10 10.7 20 0 0 0 0 0 0 0\n")  # no area in whole pixels
    out = kitti / "converted"
    assert main(["detectnet_v2", "dataset_convert", "-d", str(_dataset_spec(kitti)), "-o",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    assert "train: 6 images" in printed and "val: 2 images" in printed
    summary = json.loads((out / "summary.json").read_text())
    train, val = summary["splits"]["train"], summary["splits"]["val"]
    assert train["classes"]["car"]["objects"] + val["classes"]["car"]["objects"] == 8
    assert summary["skipped_boxes"] == 1
    assert "002.txt:3" in (out / "warnings.txt").read_text()
    assert len(list((out / "train" / "images").iterdir())) == 6
    labels = (out / "val" / "labels").iterdir()
    assert all(line.split()[0] in ("car", "person", "DontCare")
               for f in labels for line in f.read_text().splitlines())
    converted = load_dataset(load_dataset_spec(out / "dataset_spec.yaml"))
    assert len(converted.train) == 6 and len(converted.val) == 2
    assert converted.counts(converted.train) == {k: v for k, v in train["classes"].items()}


def test_bad_data_leaves_no_output(kitti: Path) -> None:
    spec = _dataset_spec(kitti)
    (kitti / "labels" / "004.txt").write_text("Car 0 0 0 40 10 80 30 0 0 0 0 0 0 0\n")
    out = kitti / "converted"
    with pytest.raises(UserError, match=r"004\.txt:1.*outside its 64x64 image"):
        dataset_convert(spec, out, progress=False)
    assert not out.exists()
    (kitti / "labels" / "004.txt").write_text("")
    (kitti / "images" / "005.png").write_bytes(b"")
    with pytest.raises(UserError, match="005.png"):
        dataset_convert(spec, out, progress=False)
    assert not out.exists()
    out.mkdir()
    (out / "x").write_text("")
    with pytest.raises(UserError, match="not empty"):
        dataset_convert(spec, out, progress=False)


def test_coco_sources_become_kitti(tmp_path: Path) -> None:
    from tests.tasks.detectnet_v2.conftest import make_kitti

    root = make_kitti(tmp_path, images=3, dontcare=False)
    coco = {"images": [{"id": k + 1, "file_name": f"00{k}.png", "width": 64, "height": 64}
                       for k in range(3)],
            "categories": [{"id": 1, "name": "Car"}],
            "annotations": [{"id": k + 1, "image_id": k + 1, "category_id": 1,
                             "bbox": [2, 2, 20, 20], "iscrowd": int(k == 2)}
                            for k in range(3)]}
    (root / "ann.json").write_text(json.dumps(coco))
    spec = _dataset_spec(root, data_sources=[{"image_directory_path": "images",
                                              "annotation_file": "ann.json"}],
                         target_class_mapping={"car": "car"}, validation_split=None)
    summary = dataset_convert(spec, root / "out", images="copy", progress=False)
    assert summary["splits"]["train"]["classes"]["car"] == {"objects": 2, "ignored": 1,
                                                            "images": 2}
    assert (root / "out" / "train" / "labels" / "002.txt").read_text().startswith("DontCare")
