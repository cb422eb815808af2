"""One way to run any graft model: ``load_runner("model.graft" | ".onnx" | ".engine")``.

A :class:`Runner` takes named inputs and returns named outputs for every backend (PyTorch,
onnxruntime, TensorRT; a Triton client fits the same :class:`~graft.runtime.backend.Backend`).
The device is chosen once, when the runner is made. Batches are fitted to what the backend
takes: split into parts no larger than its largest batch (an engine's profile, the caller's
``batch_size``), and padded up to a static batch axis, with the padding cut from the outputs.
Outputs come back as numpy arrays or torch tensors (on the runner's device), as the caller asks;
by default as the inputs came. The model's metadata (task, classes, input size, normalization)
is :attr:`Runner.info`, so a task pre- and post-processes an exported model exactly like the
PyTorch model it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from graft.errors import UserError, require_file
from graft.manifest import Manifest
from graft.runtime.backend import Backend, to_numpy, to_torch
from graft.runtime.metadata import ModelInfo

if TYPE_CHECKING:
    from graft.api import GraftModel

Returns = Literal["same", "numpy", "torch"]
EXPORTED_SUFFIXES = (".onnx", ".engine", ".plan", ".trt")
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts)
    return np.concatenate(parts)


def _pad(value: Any, size: int) -> Any:
    """``value`` grown to ``size`` samples by repeating its last one (a real input, so the
    padding cannot produce NaNs a zero image might)."""
    extra = size - len(value)
    if isinstance(value, torch.Tensor):
        return torch.cat([value, value[-1:].expand(extra, *value.shape[1:])])
    return np.concatenate([value, np.repeat(value[-1:], extra, axis=0)])


class Runner:
    """A model ready to run batches of named inputs; see the module docstring.

    ``batch_size`` caps how many samples one backend run gets (memory, latency); the backend's
    own limit applies as well.
    """

    def __init__(self, backend: Backend, batch_size: int | None = None) -> None:
        if batch_size is not None and batch_size < 1:
            raise UserError(f"batch size must be >= 1, got {batch_size}")
        self.backend = backend
        self.batch_size = batch_size
        self.info = ModelInfo.from_metadata(backend.metadata)

    @classmethod
    def from_model(cls, model: GraftModel, device: str | torch.device | None = None,
                   batch_size: int | None = None) -> Runner:
        """A runner over a model already in memory; ``device`` None leaves it where it is."""
        from graft.runtime.backend import resolve_device
        from graft.runtime.torch_backend import TorchBackend

        chosen = None if device is None else resolve_device(device)
        return cls(TorchBackend.from_model(model, chosen), batch_size)

    # -- what the model is -----------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.backend.kind

    @property
    def path(self) -> Path | None:
        return self.backend.path

    @property
    def device(self) -> torch.device:
        return self.backend.device

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.backend.inputs]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.backend.outputs]

    @property
    def metadata(self) -> dict[str, Any]:
        return self.backend.metadata

    @property
    def manifest(self) -> Manifest:
        return self.info.manifest

    @property
    def max_batch(self) -> int | None:
        """The most samples one backend run gets (None: the whole call's batch)."""
        limits = [n for n in (self.batch_size, self.backend.max_batch) if n is not None]
        if self.backend.fixed_batch:
            return self.backend.max_batch
        return min(limits) if limits else None

    @property
    def fixed_input_size(self) -> tuple[int, int] | None:
        """(height, width) an exported model is fixed to; None when it takes any size (a
        PyTorch network, or an export with dynamic spatial axes)."""
        if self.kind == "pytorch" or not self.backend.inputs:
            return None
        shape = self.backend.inputs[0].shape
        if len(shape) >= 2 and all(isinstance(d, int) and d > 0 for d in shape[-2:]):
            return int(shape[-2]), int(shape[-1])
        return None

    @property
    def module(self) -> torch.nn.Module | None:
        """The PyTorch network of a ``.graft`` model (None for exported models)."""
        return getattr(self.backend, "module", None)

    # -- running ---------------------------------------------------------------------------
    def __call__(self, inputs: Any, *, outputs: Sequence[str] | None = None,
                 returns: Returns = "same") -> dict[str, Any]:
        """Run ``inputs`` (one array or tensor for a one-input model, a tuple in input order, or
        a mapping by name) and return ``{output name: value}`` (only ``outputs`` if given).

        ``returns``: ``numpy``, ``torch`` (on :attr:`device`) or ``same`` as the inputs."""
        feed = self._feed(inputs)
        wanted = list(outputs) if outputs is not None else self.output_names
        unknown = [n for n in wanted if n not in self.output_names]
        if unknown:
            raise UserError(f"{self._name} has no output {unknown[0]!r}",
                            f"its outputs are {', '.join(self.output_names)}")
        raw = self._run_batched(feed)
        as_torch = returns == "torch" or (
            returns == "same" and isinstance(next(iter(feed.values())), torch.Tensor))
        return {n: to_torch(raw[n], self.device) if as_torch else to_numpy(raw[n])
                for n in wanted}

    run = __call__

    @property
    def _name(self) -> str:
        return str(self.path) if self.path else f"the {self.kind} model"

    def _feed(self, inputs: Any) -> dict[str, Any]:
        names = self.input_names
        if isinstance(inputs, Mapping):
            feed = dict(inputs)
        elif isinstance(inputs, tuple | list):
            if len(inputs) != len(names):
                raise UserError(f"{self._name} takes {len(names)} input(s) "
                                f"({', '.join(names)}), got {len(inputs)}")
            feed = dict(zip(names, inputs, strict=True))
        else:
            feed = {names[0]: inputs} if len(names) == 1 else {}
        missing = [n for n in names if n not in feed]
        if missing or len(feed) != len(names):
            raise UserError(f"{self._name} takes the inputs {', '.join(names)}, got "
                            f"{', '.join(map(str, feed)) or 'one unnamed value'}",
                            "pass a mapping from input name to array")
        return feed

    def _run_batched(self, feed: dict[str, Any]) -> dict[str, Any]:
        batched = {i.name for i in self.backend.inputs if i.batched}
        sizes = {len(feed[n]) for n in batched}
        if len(sizes) > 1:
            raise UserError(f"the batched inputs of {self._name} have different batch sizes "
                            f"({sorted(sizes)})", "give every input the same number of samples")
        total, step = (sizes.pop() if sizes else None), self.max_batch
        fixed = self.backend.fixed_batch
        if total is None or step is None or (total == step or (total < step and not fixed)):
            return self.backend.run(feed)
        loose = [o.name for o in self.backend.outputs if not o.batched]
        if loose:
            raise UserError(f"{self._name} cannot run {total} samples in parts of {step}: its "
                            f"output {loose[0]!r} has no batch axis to put them back together",
                            f"pass {'exactly' if fixed else 'at most'} {step} samples "
                            "per call")
        parts = []
        for start in range(0, total, step):
            chunk = {n: v[start:start + step] if n in batched else v for n, v in feed.items()}
            count = min(step, total - start)
            if fixed and count < step:
                chunk = {n: _pad(v, step) if n in batched else v for n, v in chunk.items()}
            parts.append({n: v[:count] for n, v in self.backend.run(chunk).items()})
        return {n: _concat([p[n] for p in parts]) for n in parts[0]}


def is_exported(path: str | Path) -> bool:
    """True for exported models (ONNX, TensorRT engines, Triton URLs); False for ``.graft``."""
    from graft.runtime.model_url import is_triton_url

    return is_triton_url(path) or Path(path).suffix.lower() in EXPORTED_SUFFIXES


def load_runner(path: str | Path, *, device: str | torch.device | None = "auto",
                key: str | None = None, task: str | None = None, batch_size: int | None = None,
                threads: int | None = None) -> Runner:
    """A runner for a ``.graft`` model, an ONNX model, a TensorRT engine or a model on a Triton
    server (``grpc://HOST:PORT/NAME``, ``http://...``, ``triton://...``; computed there).

    ``device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``. ``task``: refuse another task's model
    with a one-line error. ``key`` decrypts ``.graft`` files; ``threads`` caps onnxruntime's CPU
    threads (default: one per core).
    """
    from graft.runtime.model_url import is_triton_url
    from graft.runtime.triton_backend import TritonBackend

    if is_triton_url(path):
        runner = Runner(TritonBackend(str(path)), batch_size)
        if task is not None:
            from graft.runtime.torch_backend import check_task

            check_task(runner.info.task, task, path, exported=True)
        return runner
    p = require_file(path, "model file")
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        from graft.runtime.ort_backend import OnnxBackend

        backend: Backend = OnnxBackend(p, device, threads)
    elif suffix in ENGINE_SUFFIXES:
        from graft.runtime.trt_backend import TensorRTBackend

        backend = TensorRTBackend(p, device)
    else:
        from graft.runtime.backend import resolve_device
        from graft.runtime.torch_backend import TorchBackend, load_graft

        chosen = resolve_device(device)
        backend = TorchBackend.from_model(load_graft(p, key, chosen, task), chosen, p)
    runner = Runner(backend, batch_size)
    if task is not None and backend.kind != "pytorch":
        from graft.runtime.torch_backend import check_task

        check_task(runner.info.task, task, p, exported=True)
    return runner
