"""graft.load: a model file whose manifest does not fit its architecture is a one-line error."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import graft
from graft.api import GraftModel
from graft.errors import ArchiveError

CLASSIFIER = {"task": "classification", "classes": ["a", "b"],
              "architecture": {"arch": "resnet18", "num_classes": 2},
              "input": {"channels": 3, "height": 32, "width": 32}}


def _save(tmp_path, module: nn.Module, manifest: dict) -> str:
    path = tmp_path / "m.graft"
    GraftModel(module, manifest).save(path)
    return path


@pytest.mark.parametrize(("manifest", "message"), [
    # the weights and layer shapes of a small Sequential, described as a resnet18
    (CLASSIFIER, "layer '0' of the manifest's layer_shapes is not in the ResNet network"),
    ({**CLASSIFIER, "architecture": {"num_classes": 2}}, "missing 'arch'"),
    ({**CLASSIFIER, "architecture": {"arch": "resnet18", "num_classes": "two"}}, "ValueError"),
    ({k: v for k, v in CLASSIFIER.items() if k != "task"}, "missing 'task'"),
    ({**CLASSIFIER, "task": "segmentation"}, "unknown task 'segmentation'"),
])
def test_a_manifest_that_does_not_fit_its_architecture_is_one_line(tmp_path, manifest,
                                                                   message) -> None:
    path = _save(tmp_path, nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), manifest)
    with pytest.raises(ArchiveError) as err:
        graft.load(path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_a_matching_model_loads(tmp_path) -> None:
    from graft.tasks.classification.model import build_from_architecture

    module = build_from_architecture(CLASSIFIER["architecture"]).eval()
    loaded = graft.load(_save(tmp_path, module, CLASSIFIER))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), module(x))
