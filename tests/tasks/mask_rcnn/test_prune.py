"""Pruning Mask R-CNN: frozen batch norm, predictors kept, reload, retrain and export."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from graft.api import GraftModel, load, read_manifest
from graft.cli import main
from graft.optimize.prune import PruneOptions
from graft.spec import load_spec
from graft.tasks.mask_rcnn.prune import (
    predictor_layers,
    prune_detector,
    refreeze_bn,
    thaw_frozen_bn,
)
from graft.tasks.mask_rcnn.spec import MaskRCNNSpec
from graft.tasks.mask_rcnn.train import build_network, manifest_for
from tests.tasks.mask_rcnn.conftest import tiny_spec

CONVS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def _model(root: Path, towers: Path, **model) -> tuple[nn.Module, dict, MaskRCNNSpec]:
    (root / "spec.yaml").write_text(yaml.safe_dump(tiny_spec(towers, **model)))
    spec = load_spec(root / "spec.yaml", MaskRCNNSpec)
    torch.manual_seed(0)
    net, arch = build_network(spec, ["panel_antenna", "dish", "radio_unit"], [1, 2, 3])
    return net.eval(), arch, spec


def _halve_odd_filters(net: nn.Module, granularity: int = 8, nf: int = 8) -> dict[str, int]:
    """Every prunable layer's odd output filters shrink to 1 % of their norm, so that TLT's
    rule at -pth 0.5 keeps the even half of each layer (at least ``nf``, rounded up to
    ``granularity``); returns the expected widths."""
    keep = {id(m) for m in predictor_layers(net)}
    expected = {}
    with torch.no_grad():
        for name, m in net.named_modules():
            if isinstance(m, CONVS) and id(m) not in keep:
                w = m.weight.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else m.weight
                w[1::2] *= 0.01
                out = m.out_features if isinstance(m, nn.Linear) else m.out_channels
                expected[name] = min(out, math.ceil(max(out // 2, nf) / granularity)
                                     * granularity)
    return expected


def _widths(net: nn.Module) -> dict[str, int]:
    return {n: (m.out_features if isinstance(m, nn.Linear) else m.out_channels)
            for n, m in net.named_modules() if isinstance(m, CONVS)}


def test_frozen_bn_thaws_and_refreezes_to_the_same_outputs(tmp_path: Path, towers: Path):
    body = _model(tmp_path, towers)[0].backbone.body
    with torch.no_grad():  # statistics far from 0 and 1, so that a wrong copy shows
        for m in body.modules():
            if isinstance(m, FrozenBatchNorm2d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-1, 1)
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want = body(image)
    names = thaw_frozen_bn(body)
    assert names and not any(isinstance(m, FrozenBatchNorm2d) for m in body.modules())
    with torch.no_grad():
        thawed = body(image)
    refreeze_bn(body, names)
    assert sum(isinstance(m, FrozenBatchNorm2d) for m in body.modules()) == len(names)
    with torch.no_grad():
        again = body(image)
    for out in (thawed, again):
        for k in want:
            torch.testing.assert_close(out[k], want[k])


@pytest.mark.slow
@pytest.mark.parametrize("model", [{}, {"arch": "efficientnet_lite0", "head_version": "v2"}],
                         ids=["resnet18_v1", "lite0_v2"])
def test_prune_keeps_predictors_and_reloads_from_the_manifest(tmp_path: Path, towers: Path,
                                                              model: dict):
    net, arch, spec = _model(tmp_path, towers, **model)
    expected = _halve_odd_filters(net)
    predictors = {n: w for n, w in _widths(net).items() if n not in expected}
    frozen_before = {n: m.weight.numel() for n, m in net.named_modules()
                     if isinstance(m, FrozenBatchNorm2d)}
    assert frozen_before  # the trunk's norms are frozen, as torchvision builds it

    result = prune_detector(net, PruneOptions(threshold=0.5, granularity=8, min_num_filters=8),
                            64, 64)
    widths = _widths(net)
    assert {n: widths[n] for n in expected} == expected
    assert {n: widths[n] for n in predictors} == predictors  # classes, anchors, masks kept
    assert result.params_after <= 0.6 * result.params_before
    frozen_after = {n: m.weight.numel() for n, m in net.named_modules()
                    if isinstance(m, FrozenBatchNorm2d)}
    assert set(frozen_after) == set(frozen_before)
    assert any(frozen_after[n] < frozen_before[n] for n in frozen_after)

    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = net([image])[0]
    assert want["masks"].shape[1:] == (1, 64, 64)
    GraftModel(net, manifest_for(spec, arch, {})).save(tmp_path / "pruned.graft")
    back = load(tmp_path / "pruned.graft").module.eval()
    assert _widths(back) == widths
    assert {n: m.weight.numel() for n, m in back.named_modules()
            if isinstance(m, FrozenBatchNorm2d)} == frozen_after
    with torch.no_grad():
        got = back([image])[0]
    for k in ("boxes", "scores", "labels", "masks"):
        torch.testing.assert_close(got[k], want[k])


@pytest.fixture(scope="module")
def pruned_file(towers: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A ResNet-18 model pruned through the CLI (-pth 0.5 on half-shrunk filters)."""
    root = tmp_path_factory.mktemp("mr_prune")
    net, arch, spec = _model(root, towers)
    _halve_odd_filters(net)
    GraftModel(net, manifest_for(spec, arch, {})).save(root / "model.graft")
    assert main(["mask_rcnn", "prune", "-m", str(root / "model.graft"), "-o",
                 str(root / "pruned.graft"), "-pth", "0.5", "-pg", "8", "-nf", "8",
                 "-eq", "union"]) == 0
    return root, root / "pruned.graft"


@pytest.mark.slow
def test_cli_prune_writes_the_table_and_retrains_from_the_pruned_graph(
        pruned_file: tuple[Path, Path], towers: Path):
    root, pruned = pruned_file
    manifest = read_manifest(pruned)
    assert manifest.pruning["params_after"] <= 0.6 * manifest.pruning["params_before"]
    assert (root / "pruned.prune.csv").is_file()
    data = tiny_spec(towers, epochs=1, pretrained_weights=str(pruned), load_graph=True)
    (root / "retrain.yaml").write_text(yaml.safe_dump(data))
    assert main(["mask_rcnn", "train", "-e", str(root / "retrain.yaml"), "-r",
                 str(root / "retrain"), "--accelerator", "cpu"]) == 0
    retrained = load(root / "retrain" / "model.graft").module
    assert _widths(retrained) == _widths(load(pruned).module)
    assert sum(p.numel() for p in retrained.parameters()) == manifest.pruning["params_after"]


def test_load_graph_refuses_another_backbone(pruned_file: tuple[Path, Path], towers: Path,
                                            capsys):
    root, pruned = pruned_file
    data = tiny_spec(towers, pretrained_weights=str(pruned), load_graph=True, nlayers=34)
    (root / "other.yaml").write_text(yaml.safe_dump(data))
    assert main(["mask_rcnn", "train", "-e", str(root / "other.yaml"), "-r",
                 str(root / "other")]) == 2
    assert "backbone" in capsys.readouterr().err
    assert not (root / "other" / "model.graft").exists()


@pytest.mark.slow
def test_pruned_export_matches_on_onnxruntime_with_and_without_detections(
        pruned_file: tuple[Path, Path], tmp_path: Path):
    import onnxruntime as ort

    from graft.tasks.mask_rcnn.export import export_model

    _, pruned = pruned_file
    model = load(pruned)
    image = torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(3))
    report = export_model(model, tmp_path / "p.onnx", image)
    assert report.passed
    with torch.no_grad():
        want = model.module([image.float().div(255)])[0]
    got = ort.InferenceSession(str(tmp_path / "p.onnx")).run(
        None, {"image": image.float().div(255).numpy()})
    assert len(got[2]) == len(want["scores"]) > 0
    np.testing.assert_allclose(got[2], want["scores"].numpy(), atol=1e-4)

    model.module.roi_heads.score_thresh = 0.999  # nothing reaches it: zero detections
    report = export_model(model, tmp_path / "none.onnx")
    assert report.passed
    outs = ort.InferenceSession(str(tmp_path / "none.onnx")).run(
        None, {"image": np.full((3, 64, 64), 0.5, np.float32)})
    assert [o.shape[0] for o in outs] == [0, 0, 0, 0]

    # Triton serves the fixed-size export without batching (one image per request)
    pytest.importorskip("tritonclient.grpc.model_config_pb2")
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    from graft.deploy.triton import write_repository
    from graft.errors import UserError

    with pytest.raises(UserError, match="no batch axis"):
        write_repository(tmp_path / "p.onnx", tmp_path / "repo0", "mask_rcnn", max_batch_size=4)
    model_dir = write_repository(tmp_path / "p.onnx", tmp_path / "repo", "mask_rcnn")  # 0
    cfg = text_format.Parse((model_dir / "config.pbtxt").read_text(), pb.ModelConfig())
    assert cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 0
    assert [(i.name, list(i.dims)) for i in cfg.input] == [("image", [3, 64, 64])]
    assert [(o.name, list(o.dims)) for o in cfg.output] == [
        ("boxes", [-1, 4]), ("labels", [-1]), ("scores", [-1]), ("masks", [-1] * 4)]
    assert [o.data_type for o in cfg.output] == [pb.TYPE_FP32, pb.TYPE_INT64, pb.TYPE_FP32,
                                                 pb.TYPE_FP32]
    assert not (model_dir / "labels.txt").exists()  # four outputs: no classification labels
