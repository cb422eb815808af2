"""load_runtime: ONNX on onnxruntime; TensorRT engines when TensorRT and a GPU are there."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graft.errors import UserError
from graft.optimize.export import export_onnx
from graft.optimize.runtime import is_exported, load_runtime
from graft.optimize.tensorrt import tensorrt_available

from .conftest import TinyResNet, ToyTask, manifest_for


def test_unknown_files_and_missing_files_are_user_errors(tmp_path) -> None:
    with pytest.raises(UserError, match="neither an ONNX model nor a TensorRT engine"):
        load_runtime(tmp_path / "model.graft")
    with pytest.raises(UserError, match="not found"):
        load_runtime(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(UserError, match="cannot load"):
        load_runtime(tmp_path / "junk.onnx")
    assert is_exported("a.onnx") and is_exported("a.engine") and not is_exported("a.graft")


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed")
def test_engine_without_tensorrt_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "m.engine").write_bytes(b"\0")
    with pytest.raises(UserError, match=r"graft\[tensorrt\]"):
        load_runtime(tmp_path / "m.engine")


@pytest.mark.gpu
@pytest.mark.skipif(not tensorrt_available() or not torch.cuda.is_available(),
                    reason="needs TensorRT (pip install 'graft[tensorrt]') and a CUDA GPU")
@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
def test_tensorrt_engine_matches_onnxruntime(tmp_path, data_type: str) -> None:
    model = TinyResNet().eval()
    onnx_path, engine = tmp_path / "m.onnx", tmp_path / "m.engine"
    export_onnx(model, manifest_for("tiny_resnet"), onnx_path, task=ToyTask(), data_type=data_type,
                engine_file=engine, max_batch_size=8)
    x = np.random.default_rng(0).standard_normal((11, 3, 32, 32)).astype(np.float32)
    trt_out = load_runtime(engine)(x)["logits"]  # 11 > max batch 8: split into two runs
    ort_out = load_runtime(onnx_path, device="cpu")(x)["logits"]
    assert np.abs(trt_out - ort_out).max() < (1e-3 if data_type == "fp32" else 2e-2)
    assert load_runtime(engine).metadata["classes"] == ["a", "b", "c", "d"]
