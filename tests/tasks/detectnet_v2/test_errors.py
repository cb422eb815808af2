"""Bad input to ``graft detectnet_v2`` is one line on stderr and exit code 2, before training."""

from __future__ import annotations

from pathlib import Path

import pytest

from graft.cli import main
from tests.tasks.detectnet_v2.conftest import write_spec


def _fails(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
    return err


def _train(kitti: Path, capsys, **sections) -> str:
    spec = write_spec(kitti, **sections)
    err = _fails(["detectnet_v2", "train", "-e", str(spec), "-r", str(kitti / "run")], capsys)
    assert not (kitti / "run" / "model.graft").exists()
    return err


def test_unmapped_classes(kitti: Path, capsys) -> None:
    err = _train(kitti, capsys, dataset_config={"target_class_mapping": {"car": "car"}},
                 postprocessing_config={"target_class_config": {}})
    assert "class 'Person' is not in target_class_mapping" in err and "000.txt:2" in err


def test_keys_equal_but_for_case_must_agree(kitti: Path, capsys) -> None:
    err = _train(kitti, capsys, dataset_config={"target_class_mapping": {
        "car": "car", "CAR": "truck", "person": "person"}},
        postprocessing_config={"target_class_config": {}})
    assert "'car' is mapped twice (keys are matched ignoring case)" in err.lower()


def test_a_mapping_that_drops_everything(kitti: Path, capsys) -> None:
    err = _train(kitti, capsys, dataset_config={
        "target_class_mapping": {"bus": "bus"}, "ignore_classes": ["car", "person"]},
        postprocessing_config={"target_class_config": {}})
    assert "maps every labelled object away" in err


def test_malformed_kitti_lines(kitti: Path, capsys) -> None:
    (kitti / "labels" / "001.txt").write_text("Car 0 0 0 1 2 x 4 0 0 0 0 0 0 0\n")
    err = _train(kitti, capsys)
    assert "001.txt:1: field 7 (x2) is 'x', not a number" in err


def test_boxes_outside_images(kitti: Path, capsys) -> None:
    (kitti / "labels" / "001.txt").write_text("Car 0 0 0 10 10 20 99 0 0 0 0 0 0 0\n")
    err = _train(kitti, capsys)
    assert "001.txt:1: box (10, 10, 20, 99) lies outside its 64x64 image" in err


@pytest.mark.parametrize("override, expected", [
    ("augmentation_config.preprocessing.output_image_width=100",
     "100 is not a multiple of 16"),
    ("bbox_rasterizer_config.target_class_config={truck: {}}",
     "names 'truck', which is not a target class"),
])
def test_spec_errors(kitti: Path, capsys, override: str, expected: str) -> None:
    spec = write_spec(kitti)
    err = _fails(["detectnet_v2", "train", "-e", str(spec), "-r", str(kitti / "run"), "--set",
                  override], capsys)
    assert expected in err


def test_a_class_missing_from_a_section(kitti: Path, capsys) -> None:
    err = _train(kitti, capsys, postprocessing_config={"target_class_config": {
        "car": {"clustering_config": {}}}})
    assert "postprocessing_config.target_class_config has no 'person'" in err


def test_empty_datasets(tmp_path: Path, capsys) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    err = _train(tmp_path, capsys)
    assert "no images in" in err


def test_evaluate_without_validation_data(kitti: Path, capsys) -> None:
    spec = write_spec(kitti, dataset_config={"validation_split": None})
    from graft.api import GraftModel
    from graft.spec import load_spec
    from graft.tasks.detectnet_v2.spec import DetectNetSpec
    from graft.tasks.detectnet_v2.train import build_network, manifest_for

    loaded = load_spec(spec, DetectNetSpec)
    net, arch = build_network(loaded)
    GraftModel(net, manifest_for(loaded, arch, {})).save(kitti / "m.graft")
    err = _fails(["detectnet_v2", "evaluate", "-e", str(spec), "-m", str(kitti / "m.graft")],
                 capsys)
    assert "has no validation data to evaluate on" in err
