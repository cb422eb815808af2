"""One rule for relative paths in every spec: relative to the spec file's folder; ``--set``
overrides relative to the working directory; resolved specs load again from anywhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from graft.cli import main
from graft.errors import UserError
from graft.spec import dump_spec, load_spec
from graft.tasks.bpnet.dataset_spec import load_dataset_spec
from graft.tasks.bpnet.spec import BpnetTrainSpec, InferenceSpec
from graft.tasks.classification.spec import ClassificationSpec, DataSpec


@pytest.fixture()
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory unrelated to the specs."""
    cwd = tmp_path / "somewhere" / "else"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    return cwd


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_classification_paths_are_relative_to_the_spec_folder(tmp_path, elsewhere):
    spec_file = _write(tmp_path / "project" / "specs" / "spec.yaml", {
        "data": {"train_dir": "../data/train", "val_dir": "~/val"},
        "model": {"pretrained_weights": "weights/backbone.safetensors"}})
    spec = load_spec(spec_file, ClassificationSpec)
    assert spec.data.train_dir == str(tmp_path / "project" / "data" / "train")
    assert spec.data.val_dir == str(Path("~/val").expanduser())
    assert spec.model.pretrained_weights == str(
        tmp_path / "project" / "specs" / "weights" / "backbone.safetensors")
    for ref in ("torchvision:ResNet18_Weights.IMAGENET1K_V1", "catalog:shapes:1.0.0"):
        spec = load_spec(spec_file, ClassificationSpec, [f"model.pretrained_weights={ref}"])
        assert spec.model.pretrained_weights == ref  # references, not paths


def test_set_overrides_are_relative_to_the_working_directory(tmp_path, elsewhere):
    spec_file = _write(tmp_path / "specs" / "spec.yaml",
                       {"data": {"train_dir": "train", "val_dir": "val"}})
    spec = load_spec(spec_file, ClassificationSpec, ["data.train_dir=mine/train"])
    assert spec.data.train_dir == str(elsewhere / "mine" / "train")
    assert spec.data.val_dir == str(tmp_path / "specs" / "val")


def test_bpnet_specs_follow_the_same_rule(tmp_path, elsewhere):
    train_file = _write(tmp_path / "specs" / "train.yaml", {"dataloader": {
        "dataset_config": {"dataset_spec": "../data/spec.json",
                           "train_records_folder_path": "converted/train"},
        "pose_config": {"pose_config_path": "pose.yaml"}}})
    spec = load_spec(train_file, BpnetTrainSpec)
    config = spec.dataloader.dataset_config
    assert config.dataset_spec == str(tmp_path / "data" / "spec.json")
    assert config.train_records_folder_path == str(tmp_path / "specs" / "converted" / "train")
    assert spec.dataloader.pose_config.pose_config_path == str(tmp_path / "specs" / "pose.yaml")
    infer_file = _write(tmp_path / "specs" / "infer.yaml", {"model_path": "../models/m.graft"})
    assert load_spec(infer_file, InferenceSpec).model_path == str(
        tmp_path / "models" / "m.graft")
    # the dataset spec's own paths: relative to the dataset spec file
    dataset_file = tmp_path / "data" / "spec.json"
    dataset_file.parent.mkdir()
    dataset_file.write_text(json.dumps({
        "root_directory_path": "coco", "pose_config_path": "joints.json",
        "train_data": {"images_root_dir_path": "images", "mask_root_dir_path": "masks",
                       "annotation_root_dir_path": "ann.json"}}))
    dataset = load_dataset_spec(dataset_file)
    assert dataset.image_dir("train") == tmp_path / "data" / "coco" / "images"
    assert dataset.pose_config_path == str(tmp_path / "data" / "joints.json")


def test_a_missing_relative_path_names_the_base_folder(tmp_path, elsewhere):
    from graft.tasks.classification.data import image_folder

    spec_file = _write(tmp_path / "specs" / "spec.yaml",
                       {"data": {"train_dir": "nope/train", "val_dir": "val"}})
    spec = load_spec(spec_file, ClassificationSpec)
    with pytest.raises(UserError) as err:
        image_folder(spec.data.train_dir, None, "train")
    message = str(err.value)
    assert f"not found: {tmp_path / 'specs' / 'nope' / 'train'}" in message
    assert f"data.train_dir: 'nope/train' in {spec_file} is relative to the spec file's " \
           f"folder {tmp_path / 'specs'}" in message
    spec = load_spec(spec_file, ClassificationSpec, ["data.train_dir=mine"])
    with pytest.raises(UserError, match=f"'mine' from --set is relative to the working "
                                        f"directory {elsewhere}"):
        image_folder(spec.data.train_dir, None, "train")


def test_bpnet_train_names_the_base_folder_of_a_missing_dataset_spec(tmp_path, elsewhere,
                                                                     capsys):
    spec_file = _write(tmp_path / "run" / "train.yaml", {"dataloader": {
        "dataset_config": {"dataset_spec": "data/dataset_spec.json"}}})
    assert main(["bpnet", "train", "-e", str(spec_file), "-r", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err
    assert f"dataset spec not found: {tmp_path / 'run' / 'data' / 'dataset_spec.json'}" in err
    assert f"relative to the spec file's folder {tmp_path / 'run'}" in err


def test_a_spec_built_in_python_dumps_absolute_paths(elsewhere):
    spec = ClassificationSpec(data=DataSpec(train_dir="data/train", val_dir="/abs/val"))
    dumped = yaml.safe_load(dump_spec(spec))
    assert dumped["data"]["train_dir"] == str(elsewhere / "data" / "train")
    assert dumped["data"]["val_dir"] == "/abs/val"


@pytest.mark.slow
def test_classification_runs_from_anywhere_and_its_resolved_spec_reloads(
        tmp_path, shapes_dir, monkeypatch, capsys):
    """A spec next to its data, trained from another folder; the resolved spec.yaml then
    loads (and names the same run) from a third folder."""
    from tests.conftest import classification_spec_dict

    project = tmp_path / "project"
    shutil.copytree(shapes_dir, project / "data")
    data = classification_spec_dict(shapes_dir, epochs=1)
    data["data"].update({"train_dir": "data/train", "val_dir": "data/val"})
    spec_file = _write(project / "spec.yaml", data)
    first = tmp_path / "first"
    first.mkdir()
    monkeypatch.chdir(first)
    assert main(["classification", "train", "-e", "../project/spec.yaml", "-r", "results"]) == 0
    resolved = first / "results" / "spec.yaml"
    assert yaml.safe_load(resolved.read_text())["data"]["train_dir"] == str(
        project / "data" / "train")
    monkeypatch.chdir(tmp_path)
    spec = load_spec(resolved, ClassificationSpec)
    assert Path(spec.data.val_dir).is_dir()
    capsys.readouterr()
    assert main(["classification", "train", "-e", str(resolved), "-r", str(resolved.parent)]) == 0
    assert "already holds a finished run" in capsys.readouterr().out
    assert spec_file.is_file()
