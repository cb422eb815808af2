"""Every pretrained_weights source, with local files only (no download)."""

from pathlib import Path

import pytest
import torch
import torchvision

from graft.api import GraftModel
from graft.engine.weights import load_matching, resolve_pretrained
from graft.errors import UserError
from graft.nn.backbones import build_classifier


def test_torchvision_reference_uses_the_local_cache(tmp_path: Path, monkeypatch):
    """torchvision:NAME goes through torchvision's real loader, which finds the cached file."""
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    source = torchvision.models.resnet18().state_dict()
    torch.save(source, cache / Path(weights.url).name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    pre = resolve_pretrained("torchvision:ResNet18_Weights.IMAGENET1K_V1")
    assert torch.equal(pre.state_dict["conv1.weight"], source["conv1.weight"])
    net = build_classifier("resnet18", 3)
    report = load_matching(net, pre.state_dict)
    assert report.skipped_shape == ["fc.weight", "fc.bias"]
    assert torch.equal(net.conv1.weight, source["conv1.weight"])
    # the short form resolves to the default weights of that model
    assert resolve_pretrained("torchvision:resnet18").state_dict.keys() == source.keys()


def test_unknown_torchvision_name():
    with pytest.raises(UserError, match="unknown torchvision weights"):
        resolve_pretrained("torchvision:NoSuch_Weights.X")


def test_raw_state_dict_files_and_graft(tmp_path: Path):
    net = build_classifier("resnet10", 3)
    sd = {f"module.{k}": v for k, v in net.state_dict().items()}  # DDP-style prefix is stripped
    torch.save({"state_dict": sd}, tmp_path / "w.pth")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, tmp_path / "w.safetensors")
    manifest = {"task": "classification",
                "architecture": {"arch": "resnet10", "num_classes": 3, "dropout": 0.0}}
    GraftModel(net, manifest).save(tmp_path / "w.graft", key="abc")
    for ref in ("w.pth", "w.safetensors", "w.graft"):
        fresh = build_classifier("resnet10", 3)
        report = load_matching(fresh, resolve_pretrained(str(tmp_path / ref), key="abc").state_dict)
        assert not report.missing and not report.skipped_shape, ref
        assert torch.equal(fresh.conv1.weight, net.conv1.weight)


def test_weights_of_another_architecture_are_refused(tmp_path: Path):
    torch.save({"foo.weight": torch.zeros(2)}, tmp_path / "x.pth")
    with pytest.raises(UserError, match="no pretrained tensor matches"):
        pretrained = resolve_pretrained(str(tmp_path / "x.pth"))
        load_matching(build_classifier("resnet10", 3), pretrained.state_dict)
