from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import Field, model_validator

from graft.errors import UserError
from graft.spec import SpecPath, StrictModel, apply_overrides, dump_spec, load_spec
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


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path, spec_file):
    text = spec_file.read_text() + "trainer:\n  epochs: 1\n  seed: 2\n  epochs: 3\n"
    # the appended trainer section duplicates the file's own 'trainer' first
    with pytest.raises(UserError, match=r"key 'trainer' appears twice \(lines \d+ and \d+\)"):
        load_spec(write(tmp_path, text), ClassificationSpec)
    data = yaml.safe_load(spec_file.read_text())
    del data["trainer"]
    text = yaml.safe_dump(data) + "trainer:\n  epochs: 1\n  seed: 2\n  epochs: 3\n"
    first = len(text.splitlines()) - 2
    with pytest.raises(UserError, match=rf"key 'epochs' appears twice \(lines {first} and "
                                        rf"{first + 2}\) \(keep one of them\)"):
        load_spec(write(tmp_path, text), ClassificationSpec)
    with pytest.raises(UserError, match=r"key 'epochs' appears twice \(lines 1 and 1\)"):
        load_spec(write(tmp_path, "trainer: {epochs: 1, epochs: 2}\n"), ClassificationSpec)


def test_yaml_merge_keys_still_override(tmp_path, spec_file):
    """A YAML merge (``<<``) is YAML's own way to override keys: not a duplicate."""
    data = yaml.safe_load(spec_file.read_text())
    del data["trainer"]
    text = yaml.safe_dump(data) + "trainer:\n  <<: {epochs: 4, seed: 1}\n  epochs: 5\n"
    assert load_spec(write(tmp_path, text), ClassificationSpec).trainer.epochs == 5


def test_a_tuple_override_with_too_few_values_names_the_override(spec_file):
    with pytest.raises(UserError) as err:
        load_spec(spec_file, ClassificationSpec, ["model.input_size=[64]"])
    message = str(err.value)
    assert message.startswith("--set model.input_size=[64]: model.input_size needs 2 values")
    assert "(height, width)" in message and "missing" not in message


def test_an_override_typo_blames_the_override_not_the_file(spec_file):
    with pytest.raises(UserError) as err:
        load_spec(spec_file, ClassificationSpec, ["trainer.epochs=2", "trainer.epochz=3"])
    message = str(err.value)
    assert message.startswith("--set trainer.epochz=3: unknown key 'trainer.epochz'")
    assert "did you mean 'trainer.epochs'" in message and str(spec_file) not in message


def test_a_file_typo_still_blames_the_file_when_overrides_are_given(tmp_path, spec_file):
    data = yaml.safe_load(spec_file.read_text())
    data["trainer"]["epocs"] = 3
    path = write(tmp_path, data)
    with pytest.raises(UserError, match=rf"^{path}: unknown key 'trainer.epocs'"):
        load_spec(path, ClassificationSpec, ["trainer.epochs=2"])


class _Inner(StrictModel):
    arch: str = "resnet18"
    weights: SpecPath | None = None


class _Aliased(StrictModel):
    """A section whose YAML key pydantic reserves, as DetectNet_v2's ``model_config``."""

    model: _Inner = Field(default_factory=_Inner, alias="model_config")
    epochs: int = 1

    @model_validator(mode="after")
    def _check(self) -> _Aliased:
        if self.epochs > 5:
            raise ValueError("epochs above 5 need model_config.arch resnet50")
        return self


def test_an_aliased_section_is_read_written_and_suggested_by_its_key(tmp_path, monkeypatch):
    spec = load_spec(write(tmp_path, {"model_config": {"arch": "vgg16", "weights": "w.pth"}}),
                     _Aliased)
    assert spec.model.arch == "vgg16" and spec.model.weights == str(tmp_path / "w.pth")
    assert yaml.safe_load(dump_spec(spec))["model_config"]["arch"] == "vgg16"
    with pytest.raises(UserError, match=r"unknown key 'modle_config' \(did you mean "
                       r"'model_config'\?\)"):
        load_spec(write(tmp_path, {"modle_config": {}}), _Aliased)
    with pytest.raises(UserError, match=r"unknown key 'model_config.arc' \(did you mean "
                       r"'model_config.arch'\?\)"):
        load_spec(write(tmp_path, {"model_config": {"arc": "x"}}), _Aliased)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a path given with --set is relative to the working directory
    spec = load_spec(write(tmp_path, {}), _Aliased, ["model_config.weights=w.pth"])
    assert spec.model.weights == str(elsewhere / "w.pth")


def test_a_validators_message_reads_without_pydantics_prefix(tmp_path):
    with pytest.raises(UserError) as info:
        load_spec(write(tmp_path, {"epochs": 6}), _Aliased)
    assert str(info.value) == (f"{tmp_path / 's.yaml'}: epochs above 5 need model_config.arch "
                               "resnet50")
