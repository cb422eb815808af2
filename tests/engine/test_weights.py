"""Every pretrained_weights source, with local files only (no download)."""

from pathlib import Path

import pytest
import torch
import torchvision

from graft.api import GraftModel
from graft.engine.weights import Pretrained, load_matching, pruned_graph, resolve_pretrained
from graft.errors import UserError
from graft.nn.backbones import build_classifier, feature_trunk


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
    pretrained = resolve_pretrained(str(tmp_path / "x.pth"))
    with pytest.raises(UserError, match="fill only 0 of the 60 tensors"):
        load_matching(build_classifier("resnet10", 3), pretrained.state_dict, head="fc",
                      source=pretrained.source)


def _torchvision_resnet18() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return torchvision.models.resnet18().state_dict()


def test_under_90_percent_filled_fails_with_one_line_naming_the_tensors():
    source = {k: v for k, v in _torchvision_resnet18().items() if not k.startswith("layer4.")}
    with pytest.raises(UserError) as err:
        load_matching(build_classifier("resnet18", 3), source, head="fc", source="r18.pth")
    message = str(err.value)
    assert "\n" not in message
    assert ("pretrained weights r18.pth fill only 75 of the 100 tensors of the network "
            "(its fc aside)") in message
    assert "nothing fits layer4.0.conv1.weight, layer4.0.bn1.weight, layer4.0.bn1.bias" in message


def test_over_90_percent_loads_and_reports_what_is_left():
    source = _torchvision_resnet18()
    del source["layer4.1.conv2.weight"]  # 99 of 100: enough
    net = build_classifier("resnet18", 3)
    report = load_matching(net, source, head="fc")
    assert report.missing == ["layer4.1.conv2.weight"]
    assert report.skipped_shape == ["fc.weight", "fc.bias"]
    assert len(report.filled) == 99 and len(report.required) == 100
    assert "filled 99 of 100 backbone tensors" in report.summary()
    assert "left at initialization (e.g. layer4.1.conv2.weight)" in report.summary()


def test_weight_files_without_bn_batch_counters_fill_the_network():
    """torchvision's published ResNet/VGG files predate BatchNorm's num_batches_tracked."""
    source = {k: v for k, v in _torchvision_resnet18().items()
              if not k.endswith("num_batches_tracked")}
    net = build_classifier("resnet18", 3)
    report = load_matching(net, source, head="fc")
    assert report.filled == report.required
    assert torch.equal(net.layer4[1].bn2.running_var, source["layer4.1.bn2.running_var"])


class _Dense(torch.nn.Module):
    """A dense-task network as graft builds them: a backbone with a head on top."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone, channels = feature_trunk("resnet18", 32)
        self.head = torch.nn.Conv2d(channels, 4, 1)


def test_names_line_up_between_bare_classifiers_and_backbones():
    classifier = _torchvision_resnet18()
    dense = _Dense()
    report = load_matching(dense, classifier, backbone="backbone")
    assert report.renamed == "source * -> backbone.*"
    assert report.filled == report.required and report.missing == ["head.weight", "head.bias"]
    assert report.unused == ["fc.weight", "fc.bias"]
    assert torch.equal(dense.backbone.layer4[1].conv2.weight, classifier["layer4.1.conv2.weight"])
    # ... and back: a dense model's backbone into a classifier
    net = build_classifier("resnet18", 3)
    report = load_matching(net, dense.state_dict(), head="fc")
    assert report.renamed == "source backbone.* -> *"
    assert report.filled == report.required
    assert torch.equal(net.layer4[1].conv2.weight, classifier["layer4.1.conv2.weight"])
    # ... and a dense model into one like it: names as they are, the head included
    twin = _Dense()
    report = load_matching(twin, dense.state_dict(), backbone="backbone")
    assert report.renamed == "names as they are" and not report.missing
    assert torch.equal(twin.head.weight, dense.head.weight)


def _pruned_record() -> tuple[Pretrained, dict]:
    """A two-conv network whose first conv was pruned to 3 filters, as a .graft records it."""
    from graft.manifest import Manifest
    from graft.nn.surgery import record_layer_shapes

    def build(arch: dict) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Conv2d(3, arch["width"], 3),
                                   torch.nn.Conv2d(arch["width"], 2, 1))

    pruned = build({"width": 8})
    pruned[0] = torch.nn.Conv2d(3, 3, 3)
    pruned[1] = torch.nn.Conv2d(3, 2, 1)
    arch = {"width": 8, "num_classes": 2, "qat": True,
            "layer_shapes": record_layer_shapes(pruned)}
    manifest = Manifest(task="toy", architecture=arch, classes=["a", "b"])
    return Pretrained(pruned.state_dict(), manifest, "pruned.graft"), build


def test_pruned_graph_rebuilds_the_recorded_shapes_and_drops_what_it_is_told():
    pretrained, build = _pruned_record()
    net, arch = pruned_graph(pretrained, build, field="model.pretrained_weights", task="toy",
                             drop=("qat",))
    assert net[0].out_channels == 3 and net[1].in_channels == 3
    assert "qat" not in arch and arch["layer_shapes"] == pretrained.manifest.architecture[
        "layer_shapes"]
    net.load_state_dict(pretrained.state_dict)  # the weights fit the rebuilt graph exactly


def test_pruned_graph_refuses_raw_weights_other_tasks_and_failed_checks():
    pretrained, build = _pruned_record()
    with pytest.raises(UserError, match="model.load_graph: true needs"):
        pruned_graph(Pretrained({}, None, "w.pth"), build, field="model.pretrained_weights")
    with pytest.raises(UserError, match="'toy' model; load_graph needs a bpnet model"):
        pruned_graph(pretrained, build, field="model.pretrained_weights", task="bpnet")

    def other_classes(recorded: dict) -> None:
        raise UserError(f"the pruned model has {recorded['num_classes']} classes")

    with pytest.raises(UserError, match="has 2 classes"):
        pruned_graph(pretrained, build, field="pretrained_weights", check=other_classes)
