"""``bpnet train`` through the engine's driver: seeded runs are identical, and a dataset without
test data (no validation) still ends with its model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from graft.api import load
from graft.cli import main
from graft.tasks.bpnet.module import train
from tests.conftest import assert_seeded_runs_match


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bpnet_train")
    assert main(["synth", "pose", "-o", str(root), "--images", "6", "--size", "64x64",
                 "--max_persons", "1", "--seed", "5"]) == 0
    return root


def write_spec(folder: Path, dataset_spec: Path) -> Path:
    spec = {
        "trainer": {"epochs": 1, "precision": "32", "channels_last": False, "seed": 11},
        "dataloader": {"batch_size": 3, "workers": 0,
                       "image_config": {"image_dims": {"height": 64, "width": 64}},
                       "dataset_config": {"dataset_spec": str(dataset_spec)}},
        "model": {"backbone": "mobilenet_v2", "stages": 2},
        "optimizer": {"name": "sgd", "momentum": 0.9},
        "lr_schedule": {"name": "constant", "learning_rate": 1e-4},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.yaml").write_text(yaml.safe_dump(spec))
    return folder / "train.yaml"


def test_the_same_seed_gives_the_same_model(tmp_path: Path, data: Path) -> None:
    spec = write_spec(tmp_path, data / "dataset_spec.json")
    assert_seeded_runs_match(train, spec, tmp_path)


def test_a_run_without_test_data_ends_with_its_last_model(tmp_path: Path, data: Path) -> None:
    dataset = json.loads((data / "dataset_spec.json").read_text())
    del dataset["test_data"]
    dataset["root_directory_path"] = str(data)
    (tmp_path / "train_only.json").write_text(json.dumps(dataset))
    spec = write_spec(tmp_path, tmp_path / "train_only.json")
    summary = train(spec, tmp_path / "r", accelerator="cpu", progress=False)
    assert summary.written and summary.monitor is None
    state = json.loads((tmp_path / "r" / "run.json").read_text())
    assert state["status"] == "finished" and state["model_checkpoint"] == "last.ckpt"
    assert not (tmp_path / "r" / "checkpoints" / "best.ckpt").exists()
    assert load(tmp_path / "r" / "model.graft").manifest["metrics"] == {"epochs": 1}
