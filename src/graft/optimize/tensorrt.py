"""TensorRT engines from exported ONNX (optional: ``pip install graft[tensorrt]``).

TensorRT 10 builds INT8 engines by explicit quantization: the QDQ nodes already in the ONNX
(from calibration or QAT) fix every int8 scale, so no calibrator runs here. Engines are specific
to a GPU and TensorRT version; build them on the deployment machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from graft.errors import UserError, require_file
from graft.fsutil import write_bytes, write_json
from graft.runtime.backend import Axes
from graft.runtime.metadata import sidecar_path
from graft.runtime.trt_backend import import_tensorrt


def build_engine(onnx_path: str | Path, engine_path: str | Path, *, data_type: str,
                 input_shape: tuple[int, int, int], max_batch_size: int = 16,
                 opt_batch_size: int | None = None, workspace_gib: float = 4.0,
                 console: Any = None) -> Path:
    """Serialize a TensorRT engine for batches 1..``max_batch_size`` (optimized for ``opt``)."""
    trt = import_tensorrt()
    onnx_path = require_file(onnx_path, "ONNX model")
    if max_batch_size < 1:
        raise UserError(f"--max_batch_size must be >= 1, got {max_batch_size}")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UserError(f"TensorRT cannot parse {onnx_path}: {errors}",
                        "check the TensorRT version supports the ONNX opset")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if data_type in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # int8: layers without QDQ fall back to fp16
    if data_type == "int8" and hasattr(trt.BuilderFlag, "INT8"):  # QDQ nodes set the scales
        config.set_flag(trt.BuilderFlag.INT8)
    profile = builder.create_optimization_profile()
    opt = opt_batch_size or max_batch_size
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = tuple(tensor.shape)[1:]
        if any(d < 0 for d in dims):  # spatial axes exported dynamic: build for the spec's size
            dims = tuple(input_shape)
        profile.set_shape(tensor.name, (1, *dims), (opt, *dims), (max_batch_size, *dims))
    config.add_optimization_profile(profile)
    if console is not None:
        with console.status(f"building TensorRT {data_type} engine (minutes on a large net)"):
            serialized = builder.build_serialized_network(network, config)
    else:
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UserError(f"TensorRT failed to build an engine from {onnx_path}",
                        "see the TensorRT messages above")
    write_bytes(engine_path, bytes(serialized))
    return Path(engine_path)


def write_engine_description(engine_path: str | Path, metadata: dict[str, Any],
                             inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor],
                             axes: Axes, max_batch_size: int) -> Path:
    """``ENGINE.json`` beside the engine: the graft metadata an engine cannot hold, and its
    tensors (-1 for every dynamic axis) for Triton configs."""

    def tensors(values: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
        return [{"name": n, "dtype": str(t.detach().cpu().numpy().dtype),
                 "shape": [-1 if a in axes[n] else int(d) for a, d in enumerate(t.shape)]}
                for n, t in values.items()]

    path = sidecar_path(engine_path)
    write_json(path, {"metadata": json.loads(json.dumps(metadata, default=str)),
                      "inputs": tensors(inputs), "outputs": tensors(outputs),
                      "max_batch_size": max_batch_size})
    return path
