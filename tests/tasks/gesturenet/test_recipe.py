"""The demo recipe: a spec GestureSpec accepts, written beside the split lists, that trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from graft.api import load
from graft.spec import load_spec
from graft.tasks.gesturenet.recipe import DEMO_INPUT, demo_spec, write_demo_spec
from graft.tasks.gesturenet.spec import GestureSpec
from graft.tasks.gesturenet.train import train


def test_the_recipe_is_a_valid_spec_with_imagenet_lite0_at_64():
    spec = GestureSpec.model_validate(demo_spec())
    assert spec.model.arch == "efficientnet_lite0" and DEMO_INPUT == 64
    assert spec.model.pretrained_weights == "efficientnet_lite0"
    assert spec.model.input_size == (64, 64) and spec.model.freeze_blocks == [0, 1, 2]
    assert spec.data.preprocess_mode == "tf"  # how the packaged weights were trained
    assert spec.data.augmentation.occlusion_probability < 0.5  # milder than TAO's default


def test_from_scratch_and_other_archs_drop_the_packaged_weights():
    scratch = demo_spec(pretrained=False)["model"]
    assert "pretrained_weights" not in scratch and "freeze_blocks" not in scratch
    plain = GestureSpec.model_validate(demo_spec(arch="resnet18", input_size=64))
    assert plain.model.pretrained_weights is None and plain.data.preprocess_mode == "torch"
    unfrozen = GestureSpec.model_validate(demo_spec(freeze_blocks=()))
    assert unfrozen.model.freeze_blocks == []


def test_written_spec_names_the_split_lists_beside_it(splits_dir, tmp_path):
    path = write_demo_spec(splits_dir, name="recipe_check.yaml")
    assert path.parent == splits_dir
    spec = load_spec(path, GestureSpec)
    assert Path(spec.data.train_file).resolve() == (splits_dir / "train.json").resolve()
    assert Path(spec.data.val_file).resolve() == (splits_dir / "val.json").resolve()
    assert not (tmp_path / "gesturenet_spec.yaml").exists()
    no_val = tmp_path / "only_train"
    no_val.mkdir()
    (no_val / "train.json").write_text((splits_dir / "train.json").read_text())
    assert load_spec(write_demo_spec(no_val), GestureSpec).data.val_file is None


@pytest.mark.slow
def test_the_recipe_trains_a_step_from_the_imagenet_weights(splits_dir, tmp_path):
    path = write_demo_spec(splits_dir, name="recipe_tiny.yaml", input_size=32, epochs=1,
                           batch_size=8, workers=0)
    summary = train(path, tmp_path / "r", accelerator="cpu", progress=False)
    manifest = load(summary.model).manifest
    assert manifest.task == "gesturenet" and manifest.architecture["arch"] == "efficientnet_lite0"
    assert manifest.input.normalization.mode == "tf"
    assert manifest.input.to_dict()["crop"]["ratio"] == 1.1
