"""Serialized TensorRT engines (optional: ``pip install graft[tensorrt]``, an NVIDIA GPU).

Inputs and outputs live in torch CUDA tensors on the runner's device; the engine's metadata comes
from the ``ENGINE.json`` that ``graft TASK export --engine_file`` writes beside it, and its
largest batch from the engine's optimization profile. Outputs whose shape depends on the data
(-1 once the input shapes are set, e.g. Mask R-CNN's detections) are allocated while the engine
runs through an ``IOutputAllocator`` (:mod:`graft.runtime.trt_outputs`); the others up front.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graft.errors import UserError, require_file
from graft.runtime.backend import Backend, TensorInfo, complete_axes, is_batched, resolve_device
from graft.runtime.metadata import recorded_axes, sidecar_path
from graft.runtime.trt_outputs import DynamicOutputs, tensorrt_allocator

INSTALL_HINT = "install the TensorRT extra: pip install 'graft[tensorrt]' (needs an NVIDIA GPU)"


def tensorrt_available() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError:
        raise UserError("building or running a TensorRT engine needs the `tensorrt` package",
                        INSTALL_HINT) from None
    return trt


def init_plugins(trt: Any, logger: Any) -> None:
    """Register TensorRT's standard plugins once: ONNX ``RoiAlign`` parses into the
    ``ROIAlign_TRT`` plugin, and an engine holding it only deserializes with it registered."""
    global _PLUGINS_READY
    if not _PLUGINS_READY:
        _PLUGINS_READY = bool(trt.init_libnvinfer_plugins(logger, ""))


_PLUGINS_READY = False


def _torch_dtype(trt: Any, dtype: Any) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, trt.nptype(dtype))).dtype


class TensorRTBackend(Backend):
    """A TensorRT engine on one CUDA device (``auto``: the current one)."""

    kind = "tensorrt"

    def __init__(self, path: str | Path, device: str | torch.device | None = "auto") -> None:
        self.path = require_file(path, "TensorRT engine")
        trt = import_tensorrt()
        if str(device).lower() == "cpu" or not torch.cuda.is_available():
            raise UserError("running a TensorRT engine needs a CUDA GPU",
                            "run on a GPU machine with --device auto or cuda[:N]")
        self.device = resolve_device("cuda" if str(device or "auto") == "auto" else device)
        self._trt = trt
        with torch.cuda.device(self.device):
            logger = trt.Logger(trt.Logger.WARNING)
            init_plugins(trt, logger)
            runtime = trt.Runtime(logger)
            self.engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self.engine is None:
                raise UserError(f"TensorRT cannot load {self.path}",
                                "engines only run on the GPU and TensorRT version that built them")
            self.context = self.engine.create_execution_context()
        side = sidecar_path(self.path)
        self.metadata = json.loads(side.read_text(encoding="utf-8")).get("metadata", {}) \
            if side.is_file() else {}
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        in_names = [n for n in names if is_input[n]]
        axes = complete_axes(in_names, [n for n in names if not is_input[n]],
                             recorded_axes(self.metadata))

        def info(n: str) -> TensorInfo:
            return TensorInfo(n, np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))),
                              tuple(self.engine.get_tensor_shape(n)), is_batched(axes[n]))

        self.inputs = [info(n) for n in in_names]
        self.outputs = [info(n) for n in names if not is_input[n]]
        batched = [i for i in self.inputs if i.batched]
        static = [int(i.shape[0]) for i in batched if int(i.shape[0]) > 0]
        if static:  # built for one batch size: every run takes exactly that many
            self.max_batch, self.fixed_batch = min(static), True
        elif batched:  # the optimization profile's largest batch
            self.max_batch = min(int(self.engine.get_tensor_profile_shape(i.name, 0)[2][0])
                                 for i in batched)
        self._dynamic = DynamicOutputs({o.name: _torch_dtype(trt, self.engine.get_tensor_dtype(
            o.name)) for o in self.outputs}, self.device)
        self._allocator = tensorrt_allocator(trt, self._dynamic)

    def run(self, feed: dict[str, Any]) -> dict[str, torch.Tensor]:
        trt, ctx = self._trt, self.context
        with torch.cuda.device(self.device):
            keep = []  # inputs must stay alive until the stream is done
            for i in self.inputs:
                dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(i.name))
                value = feed[i.name]
                x = (value if isinstance(value, torch.Tensor) else torch.from_numpy(
                    np.asarray(value))).to(self.device, dtype).contiguous()
                ctx.set_input_shape(i.name, tuple(x.shape))
                ctx.set_tensor_address(i.name, x.data_ptr())
                keep.append(x)
            outs, dynamic = {}, []
            self._dynamic.start_run()
            for o in self.outputs:
                shape = tuple(ctx.get_tensor_shape(o.name))
                if any(d < 0 for d in shape):  # data dependent: sized while the engine runs
                    if not ctx.set_output_allocator(o.name, self._allocator):
                        raise RuntimeError(f"TensorRT refused an output allocator for {o.name}")
                    dynamic.append(o.name)
                    continue
                dtype = self._dynamic.dtypes[o.name]
                outs[o.name] = torch.empty(shape, dtype=dtype, device=self.device)
                ctx.set_tensor_address(o.name, outs[o.name].data_ptr())
            stream = torch.cuda.current_stream(self.device)
            if not ctx.execute_async_v3(stream.cuda_stream):
                raise RuntimeError(f"TensorRT execution of {self.path} failed"
                                   + "".join(f"; {f}" for f in self._dynamic.failures))
            stream.synchronize()
            if dynamic:  # copies: the next run reuses the allocator's buffers
                views = self._dynamic.views(dynamic)
                outs.update({n: views[n].clone() for n in dynamic})
        return {o.name: outs[o.name] for o in self.outputs}
