"""Classification networks take torchvision's weight files under their real names.

A freshly built torchvision network's state dict is what its published weights hold (names and
shapes). The VGG and AlexNet files (140 M parameters) are checked by name and shape only, in
tests/nn/test_backbones.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from graft.engine.weights import resolve_pretrained
from graft.errors import UserError
from graft.tasks.classification.model import build_network
from graft.tasks.classification.spec import ModelSpec

# graft arch -> the torchvision network whose weights it takes (resnet10: ResNet-18's)
CASES = {"resnet18": "resnet18", "resnet10": "resnet18", "mobilenet_v2": "mobilenet_v2",
         "efficientnet_b0": "efficientnet_b0", "googlenet": "googlenet"}


@pytest.mark.parametrize("arch", list(CASES))
def test_torchvision_weight_files_fill_the_classifier(arch: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    extra = {"init_weights": True} if arch == "googlenet" else {}  # with its aux classifiers
    source = torchvision.models.get_model(CASES[arch], **extra).state_dict()
    save_file({k: v.contiguous() for k, v in source.items()}, tmp_path / "w.safetensors")
    torch.save(source, tmp_path / "w.pth")
    for ref in ("w.safetensors", "w.pth"):
        spec = ModelSpec(arch=arch, pretrained_weights=str(tmp_path / ref))
        net, _ = build_network(spec, ["a", "b", "c"])
        own = net.state_dict()
        body = [k for k in own if not k.startswith(("fc.", "classifier."))]
        assert len(body) > 10
        for name in body:
            assert torch.equal(own[name], source[name]), (ref, name)


def test_torchvision_reference_for_mobilenet_v2(tmp_path: Path, monkeypatch) -> None:
    source = torchvision.models.mobilenet_v2().state_dict()
    url = torchvision.models.MobileNet_V2_Weights.DEFAULT.url
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(source, tmp_path / "hub" / "checkpoints" / Path(url).name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert resolve_pretrained("torchvision:mobilenet_v2").state_dict.keys() == source.keys()
    net, _ = build_network(ModelSpec(arch="mobilenet_v2", pretrained_weights=
                                     "torchvision:mobilenet_v2"), ["a", "b"])
    assert torch.equal(net.features[18][0].weight, source["features.18.0.weight"])


def test_another_networks_weights_are_refused_in_one_line(tmp_path: Path) -> None:
    torch.save(torchvision.models.mobilenet_v2().state_dict(), tmp_path / "m.pth")
    with pytest.raises(UserError, match="fill only 0 of the 100 tensors of the network") as err:
        build_network(ModelSpec(arch="resnet18", pretrained_weights=str(tmp_path / "m.pth")),
                      ["a", "b"])
    assert "\n" not in str(err.value)
