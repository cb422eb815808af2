"""TensorRT engines from exported ONNX (optional: ``pip install graft[tensorrt]``).

TensorRT 10 builds INT8 engines by explicit quantization: the QDQ nodes already in the ONNX
(from calibration or QAT) fix every int8 scale, so no calibrator runs here. Engines are specific
to a GPU and TensorRT version; build them on the deployment machine.

The optimization profile comes from :func:`profile_shapes`: a batched input gets batches
1..max, an unbatched one (Mask R-CNN's single ``image``) exactly its own shape. The standard
plugins are registered before parsing because ONNX ``RoiAlign`` becomes TensorRT's
``ROIAlign_TRT`` plugin. Building needs a GPU: graft's CPU tests cover the shapes and the
error paths, not a build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from graft.errors import UserError, require_file
from graft.fsutil import write_bytes, write_json
from graft.runtime.backend import Axes, is_batched
from graft.runtime.metadata import sidecar_path
from graft.runtime.trt_backend import import_tensorrt, init_plugins

Shape = tuple[int, ...]


def profile_shapes(name: str, network_shape: Shape, *, batched: bool, input_shape: Shape,
                   opt_batch: int, max_batch: int) -> tuple[Shape, Shape, Shape]:
    """(min, opt, max) of one input's optimization profile.

    ``network_shape`` is the parsed input's shape (-1 on dynamic axes); ``input_shape`` one
    sample at the model's input size, e.g. (C, H, W), which fills dynamic non-batch axes.
    A batched input keeps its sample shape over batches 1..``max_batch``; an unbatched one is
    fixed (min = opt = max), since a profile over a batch axis it lacks would be wrong."""
    dims = tuple(int(d) for d in (network_shape[1:] if batched else network_shape))
    if any(d < 0 for d in dims):  # spatial axes exported dynamic: build for the model's size
        if len(input_shape) != len(dims):
            raise UserError(f"input {name!r} has shape {tuple(network_shape)} and the model's "
                            f"input size {tuple(input_shape)} does not fill its dynamic axes",
                            "export the model at a fixed input size")
        dims = tuple(int(s) if d < 0 else d for d, s in zip(dims, input_shape, strict=True))
    if not batched:
        return dims, dims, dims
    if not 1 <= opt_batch <= max_batch:
        raise UserError(f"--max_batch_size must be >= 1 and the optimized batch within "
                        f"1..{max_batch}, got max {max_batch}, opt {opt_batch}")
    return (1, *dims), (opt_batch, *dims), (max_batch, *dims)


def build_engine(onnx_path: str | Path, engine_path: str | Path, *, data_type: str,
                 input_shape: tuple[int, ...], max_batch_size: int = 16,
                 opt_batch_size: int | None = None, workspace_gib: float = 4.0,
                 axes: Axes | None = None, console: Any = None) -> Path:
    """Serialize a TensorRT engine for batches 1..``max_batch_size`` (optimized for ``opt``).

    ``axes``: the export's dynamic axes; an input whose axis 0 is not the batch (see
    :func:`graft.runtime.backend.is_batched`) is built for its one shape. None: every input
    is batched."""
    trt = import_tensorrt()
    onnx_path = require_file(onnx_path, "ONNX model")
    batched = {n: is_batched(a) for n, a in (axes or {}).items()}
    logger = trt.Logger(trt.Logger.WARNING)
    init_plugins(trt, logger)
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
        profile.set_shape(tensor.name, *profile_shapes(
            tensor.name, tuple(tensor.shape), batched=batched.get(tensor.name, True),
            input_shape=tuple(input_shape), opt_batch=opt, max_batch=max_batch_size))
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
    tensors (-1 for every dynamic axis) for Triton configs. ``max_batch_size`` 0: the engine
    has no batch axis (one sample a run, as Triton's config says it)."""

    def tensors(values: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
        return [{"name": n, "dtype": str(t.detach().cpu().numpy().dtype),
                 "shape": [-1 if a in axes[n] else int(d) for a, d in enumerate(t.shape)]}
                for n, t in values.items()]

    path = sidecar_path(engine_path)
    write_json(path, {"metadata": json.loads(json.dumps(metadata, default=str)),
                      "inputs": tensors(inputs), "outputs": tensors(outputs),
                      "max_batch_size": max_batch_size})
    return path
