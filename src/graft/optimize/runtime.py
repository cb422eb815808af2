"""Run exported models: ``load_runtime("model.onnx" | "model.engine")``.

Both runtimes take a preprocessed ``(N, C, H, W)`` float array and return ``{output_name:
array}``; ``metadata`` gives back what the export recorded (task, input size and normalization,
classes, output names, data type, and the model's ``manifest``), so a task evaluates an exported
model with the same preprocessing, post-processing and metrics as its PyTorch model. ONNX runs on
onnxruntime (CUDA when available), engines on TensorRT (``graft[tensorrt]``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from graft.errors import UserError, require_file

Device = Literal["auto", "cpu", "cuda"]
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
              "tensor(double)": np.float64, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
              "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


class OnnxRuntime:
    """An ONNX model on onnxruntime."""

    kind = "onnx"

    def __init__(self, path: str | Path, device: Device = "auto",
                 threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = require_file(path, "ONNX model")
        available = ort.get_available_providers()
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise UserError("onnxruntime has no CUDA provider here",
                            "install onnxruntime-gpu, or run with the CPU")
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        try:
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                                providers=providers)
        except Exception as exc:  # onnxruntime raises its own types for invalid graphs
            raise UserError(f"onnxruntime cannot load {self.path}: {str(exc).splitlines()[0]}",
                            "re-export the model with `graft TASK export`") from None
        from graft.optimize.export import read_metadata

        self.metadata: dict[str, Any] = read_metadata(
            dict(self.session.get_modelmeta().custom_metadata_map))
        self.inputs = [{"name": i.name, "dtype": _ORT_TYPES.get(i.type, np.float32),
                        "shape": list(i.shape)} for i in self.session.get_inputs()]
        self.outputs = [{"name": o.name, "dtype": _ORT_TYPES.get(o.type, np.float32),
                         "shape": list(o.shape)} for o in self.session.get_outputs()]
        self.providers = self.session.get_providers()

    @property
    def input_names(self) -> list[str]:
        return [i["name"] for i in self.inputs]

    @property
    def input_name(self) -> str:
        return self.inputs[0]["name"]

    @property
    def output_names(self) -> list[str]:
        return [o["name"] for o in self.outputs]

    @property
    def manifest(self) -> dict[str, Any]:
        """The exported model's manifest (input section at the exported size)."""
        return self.metadata.get("manifest", {})

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=self.inputs[0]["dtype"])}
        return dict(zip(self.output_names, self.session.run(self.output_names, feed), strict=True))


class TensorRTRuntime:
    """A serialized TensorRT engine; metadata comes from the ``ENGINE.json`` written beside it."""

    kind = "tensorrt"

    def __init__(self, path: str | Path) -> None:
        import torch

        from graft.optimize.export import sidecar_path
        from graft.optimize.tensorrt import import_tensorrt

        self.path = require_file(path, "TensorRT engine")
        trt = import_tensorrt()
        if not torch.cuda.is_available():
            raise UserError("running a TensorRT engine needs a CUDA GPU", "run on a GPU machine")
        self._trt, self._torch = trt, torch
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise UserError(f"TensorRT cannot load {self.path}",
                            "engines only run on the GPU and TensorRT version that built them")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        self.max_batch = int(self.engine.get_tensor_profile_shape(self.input_names[0], 0)[2][0])
        side = sidecar_path(self.path)
        self.metadata = json.loads(side.read_text(encoding="utf-8")).get("metadata", {}) \
            if side.is_file() else {}

    @property
    def input_name(self) -> str:
        return self.input_names[0]

    @property
    def manifest(self) -> dict[str, Any]:
        return self.metadata.get("manifest", {})

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        step = self.max_batch
        parts = [self._run(batch[i:i + step]) for i in range(0, len(batch), step)]
        return {n: np.concatenate([p[n] for p in parts]) for n in self.output_names}

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        torch, trt = self._torch, self._trt
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).cuda()
        self.context.set_input_shape(self.input_name, tuple(x.shape))
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        outs = {}
        for n in self.output_names:
            dtype = torch.from_numpy(np.zeros(0, trt.nptype(self.engine.get_tensor_dtype(n)))).dtype
            shape = tuple(self.context.get_tensor_shape(n))
            outs[n] = torch.empty(shape, dtype=dtype, device="cuda")
            self.context.set_tensor_address(n, outs[n].data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return {n: t.float().cpu().numpy() for n, t in outs.items()}


def is_exported(path: str | Path) -> bool:
    """True for files :func:`load_runtime` handles (evaluate/inference branch on it)."""
    return Path(path).suffix.lower() in (".onnx", ".engine", ".plan", ".trt")


def load_runtime(path: str | Path, device: Device = "auto",
                 threads: int | None = None) -> OnnxRuntime | TensorRTRuntime:
    """An ONNX model or a TensorRT engine, ready to run preprocessed batches.

    ``threads`` caps onnxruntime's CPU threads (default: one per core).
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        return OnnxRuntime(path, device, threads)
    if suffix in (".engine", ".plan", ".trt"):
        return TensorRTRuntime(path)
    raise UserError(f"{path} is neither an ONNX model nor a TensorRT engine",
                    "pass a .onnx or .engine file (a .graft model loads with graft.load)")
