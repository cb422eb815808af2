"""Running models: one :class:`~graft.runtime.runner.Runner` for ``.graft`` (PyTorch), ONNX
(onnxruntime), TensorRT engines and models on a Triton server (``grpc://``/``http://`` URLs),
with named inputs and outputs, batching fitted to the backend, the device chosen once, and the
model's metadata.

- :func:`graft.runtime.runner.load_runner` - a runner for a model file;
- :meth:`graft.runtime.runner.Runner.from_model` - a runner for a model in memory;
- :mod:`graft.runtime.backend` - the interface a backend implements (and device choice);
- :mod:`graft.runtime.metadata` - the metadata an export writes and a runner reads.

Backends import their libraries (onnxruntime, TensorRT, tritonclient) only when a model needs them.
"""

from graft.runtime.backend import Backend, TensorInfo, resolve_device
from graft.runtime.metadata import ModelInfo
from graft.runtime.runner import Runner, is_exported, load_runner

__all__ = ["Backend", "ModelInfo", "Runner", "TensorInfo", "is_exported", "load_runner",
           "resolve_device"]
