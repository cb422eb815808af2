"""The registry entry: export names and hooks, the Python API, and the retraining path
(prune -> load_graph -> QAT -> INT8 export with its DeepStream config)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import graft
from graft import tasks
from graft.api import GraftModel
from graft.cli import main
from graft.spec import load_spec
from graft.tasks.detectnet_v2.spec import DetectNetSpec
from graft.tasks.detectnet_v2.train import build_network, manifest_for
from tests.tasks.detectnet_v2.conftest import write_spec


def _model(root: Path) -> tuple[GraftModel, Path]:
    spec_file = write_spec(root)
    spec = load_spec(spec_file, DetectNetSpec)
    net, arch = build_network(spec)
    return GraftModel(net, manifest_for(spec, arch, {})), spec_file


def test_hooks_name_tlt_tensors_and_keep_the_heads(kitti: Path) -> None:
    task = tasks.get("detectnet_v2")
    model, _ = _model(kitti)
    m = model.manifest
    assert task.input_names(m) == ["input_1"]
    assert task.output_names(m) == ["output_cov/Sigmoid", "output_bbox/BiasAdd"]
    assert task.dynamic_axes(m)["output_cov/Sigmoid"] == {0: "batch"}
    assert task.output_layers(model.module, m) == [model.module.output_cov,
                                                   model.module.output_bbox]
    assert task.input_shape(m) == (3, 64, 64)
    meta = task.export_metadata(m)
    assert meta["stride"] == 16 and meta["box_encoding"] == {"scale": 35.0, "offset": 0.5}


def test_predict_takes_paths_arrays_and_tensors(kitti: Path) -> None:
    model, spec_file = _model(kitti)
    with torch.no_grad():  # a network that sees one car filling the image
        model.module.output_cov.bias[0] = 8.0
        model.module.output_bbox.bias[:4] = 3.0
    path = kitti / "images" / "000.png"
    array = np.zeros((40, 80, 3), np.uint8)
    out = model.predict([path, array, torch.zeros(3, 64, 64, dtype=torch.uint8)],
                        threshold=0.0, spec=spec_file)
    assert len(out) == 3 and all(d["class"] == "car" for d in out[0])
    assert [len(d) for d in out] == [1, 1, 1]
    assert out[1][0]["box"] == pytest.approx([0, 0, 80, 40])  # in the array's own pixels
    model.save(kitti / "m.graft")
    again = graft.load(kitti / "m.graft").predict(path)
    assert [d["class"] for d in again[0]] == [d["class"] for d in out[0]]


@pytest.mark.slow
def test_prune_retrain_with_load_graph_and_qat_then_int8(kitti: Path) -> None:
    spec = write_spec(kitti, training_config={"num_epochs": 1})
    assert main(["detectnet_v2", "train", "-e", str(spec), "-r", str(kitti / "run")]) == 0
    pruned = kitti / "pruned.graft"
    assert main(["detectnet_v2", "prune", "-m", str(kitti / "run" / "model.graft"), "-o",
                 str(pruned), "-pth", "0.9", "-nf", "8"]) == 0
    retrain = write_spec(kitti, "retrain.yaml", training_config={"num_epochs": 1,
                                                                 "enable_qat": True},
                         model_config={"arch": "resnet10", "pretrained_weights": "pruned.graft",
                                       "load_graph": True})
    assert main(["detectnet_v2", "train", "-e", str(retrain), "-r", str(kitti / "qat")]) == 0
    retrained = graft.load(kitti / "qat" / "model.graft")
    assert retrained.manifest["architecture"]["qat"] is True
    assert retrained.num_params == graft.load(pruned).num_params
    onnx = kitti / "det.int8.onnx"
    assert main(["detectnet_v2", "export", "-m", str(kitti / "qat" / "model.graft"), "-o",
                 str(onnx), "--data_type", "int8"]) == 0
    assert "network-mode=1" in (kitti / "det.int8_nvinfer_config.txt").read_text()
    report = json.loads((kitti / "det.int8.parity.json").read_text())
    assert report["qat"] is True


def test_pretrained_backbone_weights_load_by_name(kitti: Path) -> None:
    import torchvision
    from safetensors.torch import save_file

    source = torchvision.models.resnet18().state_dict()
    save_file(source, str(kitti / "resnet18.safetensors"))
    spec = load_spec(write_spec(kitti, model_config={
        "arch": "resnet18", "pretrained_weights": "resnet18.safetensors",
        "freeze_blocks": [0]}), DetectNetSpec)
    net, _ = build_network(spec)
    assert torch.equal(net.backbone.layer3[1].conv2.weight, source["layer3.1.conv2.weight"])
    assert not net.backbone.conv1.weight.requires_grad
    assert net.backbone.layer1[0].conv1.weight.requires_grad
