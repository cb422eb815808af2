"""Shared fixtures: tiny generated datasets and specs, so every test runs offline in seconds."""

from __future__ import annotations

import os
from pathlib import Path

# pytest -n 2 on 2 cores: one BLAS/OpenMP thread per worker. Oversubscribed OpenMP threads
# spin against each other and made a ResNet step 10x slower on the CI-sized machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GRAFT_CATALOG", str(Path(__file__).parent / "_no_catalog_configured"))

import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes, 12 images each (9 train / 3 val), 32x32."""
    from graft.data.synthetic import make_classification_dataset

    root = tmp_path_factory.mktemp("shapes")
    make_classification_dataset(root, classes=3, per_class=12, size=32, seed=1, progress=False)
    return root


@pytest.fixture(scope="session")
def imagenet_lite0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """graft's ImageNet EfficientNet-Lite0 classifier (``graft catalog build-pretrained``) from
    its pip package, the pretrained extra; no speed measurement."""
    from graft.catalog.pretrained import build

    return build("efficientnet_lite0", tmp_path_factory.mktemp("imagenet"), bench_seconds=0).path


@pytest.fixture(scope="session")
def labeled_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of real photos (scikit-image's bundled cat and espresso)."""
    from tests.photos import LABELED, copy_photos

    return copy_photos(LABELED, tmp_path_factory.mktemp("photos"))


def classification_spec_dict(shapes_dir: Path, **trainer) -> dict:
    return {
        "model": {"arch": "resnet10", "input_size": [32, 32]},
        "data": {
            "train_dir": str(shapes_dir / "train"),
            "val_dir": str(shapes_dir / "val"),
            "batch_size": 9,
            "workers": 0,
        },
        "optimizer": {"name": "adam"},
        "lr_schedule": {"name": "constant", "learning_rate": 1e-3},
        "trainer": {"epochs": 2, "seed": 3, "channels_last": False, **trainer},
        "eval": {"top_k": 2, "batch_size": 8},
    }


@pytest.fixture()
def spec_file(tmp_path: Path, shapes_dir: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(classification_spec_dict(shapes_dir)))
    return path


def assert_seeded_runs_match(train, spec: Path, root: Path) -> None:
    """Train twice from the same spec on the CPU: the two models must be bit-identical."""
    from graft.api import load

    models = []
    for name in ("a", "b"):
        train(spec, root / name, accelerator="cpu", progress=False)
        models.append(load(root / name / "model.graft").module.state_dict())
    first, second = models
    assert first.keys() == second.keys()
    for key, tensor in first.items():
        assert tensor.equal(second[key]), key
