"""A tiny generated hand dataset and its user split, shared by the GestureNet tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from graft.tasks.gesturenet.convert import dataset_convert
from graft.tasks.gesturenet.synth import make_hands_dataset


@pytest.fixture(scope="package")
def hands_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hands") / "hands"
    make_hands_dataset(out, frames=16, users=4, val_users=1, size=(160, 120), max_hands=3,
                       seed=3)
    return out


@pytest.fixture(scope="package")
def splits_dir(hands_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("splits") / "splits"
    dataset_convert(hands_dir / "gesturenet", out, val_fraction=0.3, kpi_users=["user03"])
    return out


def spec_dict(epochs: int = 1) -> dict:
    return {"model": {"arch": "resnet18", "input_size": [32, 32]},
            "data": {"train_file": "train.json", "val_file": "val.json", "batch_size": 16,
                     "workers": 0},
            "optimizer": {"name": "adamw"}, "lr_schedule": {"learning_rate": 0.001},
            "trainer": {"epochs": epochs, "seed": 0}}
