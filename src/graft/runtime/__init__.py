"""Running models: one :class:`~graft.runtime.runner.Runner` for ``.graft`` (PyTorch), ONNX
(onnxruntime), TensorRT engines and models on a Triton server (``grpc://``/``http://`` URLs),
with named inputs and outputs, batching fitted to the backend, the device chosen once, and the
model's metadata.

- :func:`graft.runtime.runner.load_runner` - a runner for a model file;
- :meth:`graft.runtime.runner.Runner.from_model` - a runner for a model in memory;
- :mod:`graft.runtime.backend` - the interface a backend implements (and device choice);
- :mod:`graft.runtime.metadata` - the metadata an export writes and a runner reads.

Backends import their libraries (onnxruntime, TensorRT, tritonclient) only when a model needs them,
and this package imports torch only when one of the names below is used: a torch-free module in
it (:mod:`graft.runtime.model_url`) stays cheap to import for command-line parsing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graft.runtime.backend import Backend, TensorInfo, resolve_device
    from graft.runtime.metadata import ModelInfo
    from graft.runtime.runner import Runner, is_exported, load_runner

_HOMES = {"Backend": "backend", "TensorInfo": "backend", "resolve_device": "backend",
          "ModelInfo": "metadata", "Runner": "runner", "is_exported": "runner",
          "load_runner": "runner"}
__all__ = ["Backend", "ModelInfo", "Runner", "TensorInfo", "is_exported", "load_runner",
           "resolve_device"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
