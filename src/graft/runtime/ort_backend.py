"""ONNX models on onnxruntime: the CPU provider, or CUDA where onnxruntime-gpu has it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from graft.errors import UserError, require_file
from graft.runtime.backend import (
    Backend,
    TensorInfo,
    complete_axes,
    is_batched,
    resolve_device,
    to_numpy,
)
from graft.runtime.metadata import read_metadata, recorded_axes

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
              "tensor(double)": np.float64, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
              "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}
CUDA = "CUDAExecutionProvider"


def _device(device: str | torch.device | None, available: list[str]) -> torch.device:
    """``auto`` takes the CUDA provider when onnxruntime has it and torch sees a GPU."""
    text = str(device or "auto").lower()
    if text == "auto":
        return resolve_device("auto") if CUDA in available else torch.device("cpu")
    chosen = resolve_device(text)
    if chosen.type == "cuda" and CUDA not in available:
        raise UserError("onnxruntime has no CUDA provider here",
                        "install onnxruntime-gpu, or run with --device cpu")
    return chosen


class OnnxBackend(Backend):
    """An ONNX model in an onnxruntime session. ``threads`` caps its CPU threads."""

    kind = "onnx"

    def __init__(self, path: str | Path, device: str | torch.device | None = "auto",
                 threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = require_file(path, "ONNX model")
        self.device = _device(device, ort.get_available_providers())
        providers: list[Any] = ["CPUExecutionProvider"]
        if self.device.type == "cuda":
            providers.insert(0, (CUDA, {"device_id": self.device.index or 0}))
        try:
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                                providers=providers)
        except Exception as exc:  # onnxruntime raises its own types for invalid graphs
            raise UserError(f"onnxruntime cannot load {self.path}: {str(exc).splitlines()[0]}",
                            "re-export the model with `graft TASK export`") from None
        self.metadata = read_metadata(dict(self.session.get_modelmeta().custom_metadata_map))
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        axes = complete_axes([i.name for i in ins], [o.name for o in outs],
                             recorded_axes(self.metadata))

        def info(t: Any) -> TensorInfo:
            return TensorInfo(t.name, np.dtype(_ORT_TYPES.get(t.type, np.float32)),
                              tuple(t.shape), is_batched(axes[t.name]))

        self.inputs, self.outputs = [info(i) for i in ins], [info(o) for o in outs]
        static = [i.shape[0] for i in self.inputs if i.batched and isinstance(i.shape[0], int)]
        if static:  # an export with a static batch axis (e.g. batch 1) takes exactly that
            self.max_batch, self.fixed_batch = min(static), True

    def run(self, feed: dict[str, Any]) -> dict[str, np.ndarray]:
        arrays = {i.name: to_numpy(feed[i.name], i.dtype) for i in self.inputs}
        names = [o.name for o in self.outputs]
        return dict(zip(names, self.session.run(names, arrays), strict=True))
