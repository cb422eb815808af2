"""The network: torchvision MaskRCNN on graft backbones, pretrained weights, frozen blocks."""

from pathlib import Path

import pytest
import torch
import yaml

from graft.errors import UserError
from graft.spec import load_spec
from graft.tasks.mask_rcnn.model import architecture_dict, build_model
from graft.tasks.mask_rcnn.spec import MaskRCNNSpec
from graft.tasks.mask_rcnn.train import build_network
from tests.tasks.mask_rcnn.conftest import tiny_spec


def _spec(tmp_path: Path, towers: Path, **model) -> MaskRCNNSpec:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(towers, **model)))
    return load_spec(path, MaskRCNNSpec)


@pytest.mark.parametrize("model", [{"nlayers": 18, "head_version": "v1"},
                                   {"arch": "efficientnet_lite0", "head_version": "v2"}])
def test_train_losses_and_eval_outputs(tmp_path: Path, towers: Path, model: dict):
    spec = _spec(tmp_path, towers, **model)
    net, arch = build_network(spec, ["a", "b"], [1, 2])
    assert arch["num_classes"] == 3
    net.train()
    image = torch.rand(3, 64, 64)
    mask = torch.zeros(1, 64, 64, dtype=torch.uint8)
    mask[0, 10:40, 20:30] = 1
    target = {"boxes": torch.tensor([[20.0, 10, 30, 40]]), "labels": torch.tensor([2]),
              "masks": mask}
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
             "masks": torch.zeros(0, 64, 64, dtype=torch.uint8)}
    losses = net([image, image], [target, empty])
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness",
                           "loss_rpn_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    net.eval()
    with torch.no_grad():
        out = net([torch.rand(3, 48, 80)])[0]
    assert out["masks"].shape[1:] == (1, 48, 80)  # back in the input image's pixels
    assert out["boxes"].shape[0] == out["scores"].shape[0] == out["labels"].shape[0]


def test_pretrained_resnet_from_a_local_file_and_frozen_blocks(tmp_path: Path, towers: Path):
    import torchvision

    source = torchvision.models.resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    spec = _spec(tmp_path, towers, pretrained_weights=str(tmp_path / "r18.pth"),
                 freeze_blocks=[0, 1])
    net, _ = build_network(spec, ["a"], [1])
    body = net.backbone.body
    assert torch.equal(body.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    assert torch.equal(body.bn1.running_var, source.bn1.running_var)  # frozen BN keeps stats
    assert not any(p.requires_grad for p in body.layer1.parameters())
    assert not body.conv1.weight.requires_grad and body.layer2[0].conv1.weight.requires_grad


def test_weights_of_another_network_are_refused(tmp_path: Path, towers: Path):
    import torchvision

    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp_path / "r50.pth")
    spec = _spec(tmp_path, towers, pretrained_weights=str(tmp_path / "r50.pth"))
    with pytest.raises(UserError, match="fill only"):
        build_network(spec, ["a"], [1])


def test_spec_checks_sizes_and_overlaps(tmp_path: Path, towers: Path):
    data = tiny_spec(towers)
    data["data_config"]["image_size"] = [100, 64]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match="multiples of 32"):
        load_spec(tmp_path / "s.yaml", MaskRCNNSpec)
    data = tiny_spec(towers, arch="efficientnet_lite0", freeze_blocks=[8])
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match="0 \\(stem\\) to 7"):
        load_spec(tmp_path / "s.yaml", MaskRCNNSpec)
    data = tiny_spec(towers, rpn_negative_overlap=0.8)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match="rpn_negative_overlap"):
        load_spec(tmp_path / "s.yaml", MaskRCNNSpec)


def test_scale_jitter_sizes_and_anchor_scale(tmp_path: Path, towers: Path):
    data = tiny_spec(towers)
    data["data_config"]["scale_jitter"] = [0.5, 1.5]
    data["data_config"]["image_size"] = [128, 192]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    arch = architecture_dict(load_spec(tmp_path / "s.yaml", MaskRCNNSpec))
    assert arch["train_min_sizes"] == [64, 128, 192] and arch["min_size"] == 128
    assert arch["anchor_sizes"] == [8.0, 16.0, 32.0, 64.0, 128.0]
    arch.update(num_classes=2)
    net = build_model(arch)
    assert net.transform.min_size[-1] == 128  # evaluation uses the nominal size
