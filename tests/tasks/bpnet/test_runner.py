"""Loading bpnet models of every kind; the end-to-end ONNX run is in ``test_cli.py``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from graft.errors import UserError
from graft.tasks.bpnet.inference import fit_to_network
from graft.tasks.bpnet.runner import RuntimePoseNet, load_pose_model
from graft.tasks.bpnet.spec import InferenceSpec


def test_missing_and_foreign_exports_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="model file not found"):
        load_pose_model(tmp_path / "missing.onnx")
    plain = tmp_path / "plain.onnx"  # an ONNX file without graft's metadata
    torch.onnx.export(nn.Conv2d(3, 2, 1), (torch.rand(1, 3, 8, 8),), str(plain), dynamo=False,
                      input_names=["input"], output_names=["out"])
    with pytest.raises(UserError, match="not a bpnet export"):
        load_pose_model(plain)


def test_runtime_net_needs_both_maps_and_its_input_size() -> None:
    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        n = len(batch)
        return {"paf": np.ones((n, 4, 2, 2), np.float32),
                "heatmap": np.zeros((n, 3, 2, 2), np.float32)}

    net = RuntimePoseNet(SimpleNamespace(output_names=["paf", "heatmap"], path="m.onnx"),
                         (16, 16))
    net.runtime = run  # a plain function stands in for the onnxruntime session
    paf, heat = net(torch.rand(2, 3, 16, 16))
    assert paf.shape == (2, 4, 2, 2) and heat.shape == (2, 3, 2, 2) and paf.sum() == 32
    with pytest.raises(UserError, match="takes \\(16, 16\\) inputs"):
        net(torch.rand(1, 3, 24, 16))
    with pytest.raises(UserError, match="paf and heatmap"):
        RuntimePoseNet(SimpleNamespace(output_names=["paf_upsampled", "heatmap"], path="x"),
                       (16, 16))


def test_fixed_size_networks_run_padded_at_their_size() -> None:
    fixed = SimpleNamespace(fixed_input_size=(96, 128))
    spec = fit_to_network(InferenceSpec(input_shape=(368, 368)), fixed)
    assert spec.input_shape == (96, 128) and spec.keep_aspect_ratio_mode == "pad_image_input"
    assert fit_to_network(InferenceSpec(), SimpleNamespace()) == InferenceSpec()
    with pytest.raises(UserError, match="multi_scale_inference"):
        fit_to_network(InferenceSpec(multi_scale_inference=True), fixed)
    with pytest.raises(UserError, match="output_stage_to_use"):
        fit_to_network(InferenceSpec(output_stage_to_use=1), fixed)
