"""A classification model written without training (inference only needs a network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graft import archive
from graft.data.preprocess import normalization_for
from graft.tasks.classification.model import build_network
from graft.tasks.classification.spec import ClassificationSpec
from graft.tasks.classification.train import manifest_for
from tests.conftest import classification_spec_dict


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory, shapes_dir) -> Path:
    spec = ClassificationSpec.model_validate(classification_spec_dict(shapes_dir))
    classes = ["circle", "square", "triangle"]
    net, arch = build_network(spec.model, classes)
    path = tmp_path_factory.mktemp("model") / "model.graft"
    archive.save(path, net.state_dict(),
                 manifest_for(spec, arch, classes, normalization_for("torch"), {}))
    return path
