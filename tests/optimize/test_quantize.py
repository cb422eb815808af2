"""QAT through ModelOpt: fake-quantized training, QDQ export, pickle-free save/load."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
import torch

from graft.errors import UserError
from graft.optimize.export import ExportOptions, export_onnx
from graft.runtime import load_runner

from .conftest import TinyResNet, ToyTask, manifest_for

pytest.importorskip("modelopt.torch.quantization", reason="QAT needs nvidia-modelopt")

from graft.optimize.quantize import is_quantized, needs_calibration, prepare_qat  # noqa: E402


def _train_qat(model: torch.nn.Module, steps: int = 6) -> list[torch.Tensor]:
    torch.manual_seed(0)
    xs = [torch.randn(8, 3, 32, 32) for _ in range(3)]
    ys = [torch.randint(0, 4, (8,)) for _ in range(3)]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    losses = []
    for i in range(steps):
        loss = torch.nn.functional.cross_entropy(model(xs[i % 3]), ys[i % 3])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and min(losses[3:]) < losses[0]  # it trains through the STE
    model.eval()
    return xs


def test_qat_model_exports_learned_ranges_as_qdq_and_runs_in_onnxruntime(tmp_path) -> None:
    model = prepare_qat(TinyResNet())
    assert is_quantized(model) and not is_quantized(TinyResNet())
    assert needs_calibration(model)  # ranges come from the first real batch
    xs = _train_qat(model)
    assert not needs_calibration(model)
    out = tmp_path / "qat.onnx"
    report = export_onnx(model, manifest_for("tiny_resnet"), out,
                         ExportOptions(data_type="int8", real_inputs=xs[0].numpy()),
                         task=ToyTask())
    assert report.qat and report.exporter == "torchscript" and report.calibration is None
    ops = Counter(n.op_type for n in onnx.load(str(out)).graph.node)
    assert ops["QuantizeLinear"] >= 4 and ops["DequantizeLinear"] >= 4
    rt = load_runner(out)
    assert rt.metadata["qat"] is True and rt.metadata["data_type"] == "int8"
    got = rt(xs[1].numpy())["logits"]
    with torch.no_grad():
        want = model(xs[1]).numpy()
    assert got.shape == (8, 4)
    # the same fake quantization on both sides: tiny rounding-edge differences at most
    assert np.abs(got - want).max() < 0.05 * max(np.abs(want).max(), 1.0)


def test_qat_state_dict_reloads_into_a_fresh_network(tmp_path) -> None:
    model = prepare_qat(TinyResNet(), calibration_batches=[torch.randn(4, 3, 32, 32)])
    xs = _train_qat(model)
    fresh = prepare_qat(TinyResNet())  # what loading a QAT .graft does before the weights
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert not needs_calibration(fresh)
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(xs[0]), model(xs[0]))


def test_uncalibrated_qat_model_is_not_exported(tmp_path) -> None:
    with pytest.raises(UserError, match="never calibrated"):
        export_onnx(prepare_qat(TinyResNet()), manifest_for("tiny_resnet"),
                    tmp_path / "q.onnx", ExportOptions(data_type="int8"), task=ToyTask())
