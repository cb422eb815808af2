"""The DetectNet_v2 network: output shapes and layout, torchvision names, heads, options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from graft.errors import UserError
from graft.tasks.detectnet_v2.model import (
    ARCHS,
    INPUT_NAME,
    OUTPUT_NAMES,
    DetectNetV2,
    architecture_dict,
    build_model,
)


@pytest.mark.parametrize("arch", ["resnet10", "mobilenet_v2"])
def test_outputs_at_stride_16_with_c_and_4c_channels(arch: str) -> None:
    net = DetectNetV2(arch, num_classes=3).eval()
    with torch.no_grad():
        cov, bbox = net(torch.rand(2, 3, 64, 96))
    assert cov.shape == (2, 3, 4, 6) and bbox.shape == (2, 12, 4, 6)
    assert cov.min() >= 0 and cov.max() < 0.005  # untrained: below the clustering threshold
    assert net.heads() == [net.output_cov, net.output_bbox]
    assert torch.allclose(net.output_cov.bias, torch.full((3,), -6.9068), atol=1e-4)


def test_export_names_are_tlts() -> None:
    assert INPUT_NAME == "input_1"
    assert OUTPUT_NAMES == ("output_cov/Sigmoid", "output_bbox/BiasAdd")


def test_the_backbone_keeps_torchvision_names() -> None:
    import torchvision

    net = DetectNetV2("resnet18", 1)
    with torch.device("meta"):
        reference = torchvision.models.resnet18().state_dict()
    ours = {k.removeprefix("backbone."): v.shape for k, v in net.state_dict().items()
            if k.startswith("backbone.")}
    assert ours and all(reference[k].shape == s for k, s in ours.items())
    assert "layer3.1.conv2.weight" in ours and not any(k.startswith("layer4") for k in ours)


def test_vgg16_with_and_without_batch_norm() -> None:
    plain = DetectNetV2("vgg16", 1, use_batch_norm=False)
    normed = DetectNetV2("vgg16", 1)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in normed.modules())
    with pytest.raises(UserError, match="use_batch_norm: false is not available"):
        DetectNetV2("resnet18", 1, use_batch_norm=False)


def test_all_projections_adds_identity_initialized_shortcuts() -> None:
    plain = DetectNetV2("resnet10", 1).eval()
    projected = DetectNetV2("resnet10", 1, all_projections=True).eval()
    projected.load_state_dict(plain.state_dict(), strict=False)
    new = set(projected.state_dict()) - set(plain.state_dict())
    assert {k.split(".downsample")[0] for k in new} == {"backbone.layer1.0"}
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():  # the new shortcut is the identity (eval-mode BN with fresh stats)
        torch.testing.assert_close(projected(x)[1], plain(x)[1], atol=1e-4, rtol=1e-3)
    with pytest.raises(UserError, match="applies to resnet"):
        DetectNetV2("mobilenet_v2", 1, all_projections=True)


def test_freeze_blocks_of_the_stride_16_backbone() -> None:
    net = DetectNetV2("resnet10", 1)
    assert net.freeze_blocks([0, 3]) == ["conv1", "bn1", "layer3"]
    assert not net.backbone.layer3[0].conv1.weight.requires_grad
    assert net.backbone.layer2[0].conv1.weight.requires_grad
    with pytest.raises(UserError, match=r"index 4 is not a block .* \(use 0..3\)"):
        net.freeze_blocks([4])  # layer4 is cut off at stride 16


def test_rebuilt_from_its_architecture_dict() -> None:
    arch = architecture_dict("resnet10", ["car", "person"], all_projections=True)
    net = build_model(arch)
    assert (net.arch, net.num_classes) == ("resnet10", 2)
    assert net.state_dict().keys() == DetectNetV2("resnet10", 2, all_projections=True
                                                  ).state_dict().keys()
    assert "resnet18" in ARCHS and "vgg16" in ARCHS
    with pytest.raises(UserError, match="unknown DetectNet_v2 arch 'vgg19'"):
        DetectNetV2("vgg19", 1)
