from pathlib import Path

import pytest
import yaml

from graft.errors import UserError
from graft.spec import apply_overrides, load_spec
from graft.tasks.classification.spec import ClassificationSpec


def write(tmp_path: Path, data: dict | str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def test_unknown_key_suggests_closest(tmp_path, spec_file):
    data = yaml.safe_load(spec_file.read_text())
    data["trainer"]["epocs"] = 3
    with pytest.raises(
        UserError, match=r"unknown key 'trainer.epocs' \(did you mean 'trainer.epochs'\?\)"
    ):
        load_spec(write(tmp_path, data), ClassificationSpec)


def test_unknown_section_suggests_closest(tmp_path, spec_file):
    data = yaml.safe_load(spec_file.read_text())
    data["optimiser"] = data.pop("optimizer")
    with pytest.raises(UserError, match="did you mean 'optimizer'"):
        load_spec(write(tmp_path, data), ClassificationSpec)


def test_wrong_type_names_field(tmp_path, spec_file):
    data = yaml.safe_load(spec_file.read_text())
    data["data"]["batch_size"] = "many"
    with pytest.raises(UserError, match=r"data.batch_size: .*integer.*'many'"):
        load_spec(write(tmp_path, data), ClassificationSpec)


def test_missing_required_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="required key 'data' is missing"):
        load_spec(write(tmp_path, {"trainer": {"epochs": 1}}), ClassificationSpec)
    with pytest.raises(UserError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml", ClassificationSpec)


def test_yaml_syntax_error_has_position(tmp_path):
    with pytest.raises(UserError, match=r"not valid YAML at line \d+, column \d+"):
        load_spec(write(tmp_path, "trainer:\n  epochs: [1\n"), ClassificationSpec)


def test_overrides_are_typed_and_validated(spec_file):
    spec = load_spec(
        spec_file,
        ClassificationSpec,
        ["trainer.epochs=7", "model.arch=resnet18", "data.augmentation.horizontal_flip=0.0"],
    )
    assert spec.trainer.epochs == 7 and spec.model.arch == "resnet18"
    assert spec.data.augmentation.horizontal_flip == 0.0
    with pytest.raises(UserError, match="trainer.epochs"):
        load_spec(spec_file, ClassificationSpec, ["trainer.epochs=-1"])
    with pytest.raises(UserError, match="did you mean 'model.arch'"):
        load_spec(spec_file, ClassificationSpec, ["model.archh=resnet18"])
    with pytest.raises(UserError, match="key.path=value"):
        apply_overrides({}, ["trainer.epochs"])


def test_unknown_arch_suggests(spec_file):
    with pytest.raises(UserError, match="did you mean 'resnet18'"):
        load_spec(spec_file, ClassificationSpec, ["model.arch=resnet81"])
