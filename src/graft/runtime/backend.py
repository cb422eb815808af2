"""What every inference backend provides, so that one :class:`~graft.runtime.runner.Runner`
names, batches and converts for all of them alike.

A backend runs one batch it can take (``run``) and describes itself: its named inputs and outputs
(:class:`TensorInfo`, with whether axis 0 is the batch), the largest batch one run takes and
whether that batch is fixed, the device it computes on, and the model's graft metadata. PyTorch,
onnxruntime and TensorRT backends live beside this module; a remote one (a Triton client) only
has to fill the same fields (``device`` CPU, ``max_batch`` the server's ``max_batch_size``) and
return numpy arrays, and is used as ``Runner(TritonBackend(...), batch_size=N)``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graft.errors import UserError

BATCH = "batch"  # the label of a batch axis in dynamic-axes declarations
Axes = dict[str, dict[int, str]]  # tensor name -> {axis: label} of the axes that vary


@dataclass(frozen=True)
class TensorInfo:
    """One named input or output: element type, shape (an int per static axis, a label or None
    per dynamic one) and whether axis 0 is the batch axis the runner may split and pad."""

    name: str
    dtype: np.dtype
    shape: tuple[int | str | None, ...]
    batched: bool = True


class Backend(ABC):
    """One loaded model on one device. Subclasses set the attributes in ``__init__``."""

    kind: str  # "pytorch", "onnx", "tensorrt" (a results file records it as the backend)
    path: Path | None = None
    device: torch.device
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    metadata: dict[str, Any]  # graft metadata: task, input, classes, manifest, ... (decoded)
    max_batch: int | None = None  # the largest batch one run takes; None: any
    fixed_batch: bool = False  # every run takes exactly max_batch samples (a static batch axis)

    @abstractmethod
    def run(self, feed: dict[str, Any]) -> dict[str, Any]:
        """One batch of named inputs (numpy arrays or torch tensors, on any device) -> named
        outputs as numpy arrays or torch tensors on :attr:`device`."""


def complete_axes(input_names: list[str], output_names: list[str],
                  declared: Axes | None = None) -> Axes:
    """Every tensor's dynamic axes: as declared, else the batch axis 0.

    A task declares only what differs: ``{}`` for a static tensor, ``{0: "detections"}`` for an
    output whose length depends on the image (no batch axis), ``{0: "batch", 2: "height"}``.
    """
    declared = declared or {}
    unknown = sorted(set(declared) - set(input_names) - set(output_names))
    if unknown:
        raise UserError(f"dynamic axes are declared for {', '.join(map(repr, unknown))}, which "
                        f"is neither an input ({', '.join(input_names)}) nor an output "
                        f"({', '.join(output_names)})", "use the model's tensor names")
    return {n: {int(a): str(label) for a, label in declared.get(n, {0: BATCH}).items()}
            for n in [*input_names, *output_names]}


def is_batched(axes: dict[int, str]) -> bool:
    return axes.get(0) == BATCH


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (CUDA when there is a GPU), ``cpu``, ``cuda`` or ``cuda:N`` as a torch device;
    asking for a GPU that is not there is a one-line error, not a crash later."""
    if isinstance(device, torch.device):
        device = str(device)
    text = (device or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda", torch.cuda.current_device()) \
            if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if match is None:
        raise UserError(f"unknown device {device!r}", "use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise UserError(f"device {device!r} needs a CUDA GPU and none is available here",
                        "use --device cpu (or auto)")
    index = int(match.group(1)) if match.group(1) else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise UserError(f"device {device!r}: this machine has {torch.cuda.device_count()} "
                        "CUDA device(s)", f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    return torch.device("cuda", index)


def to_numpy(value: Any, dtype: np.dtype | None = None) -> np.ndarray:
    """A contiguous numpy array (from a tensor on any device), cast to ``dtype`` if given."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(value, dtype=dtype)


def to_torch(value: Any, device: torch.device, dtype: torch.dtype | None = None
             ) -> torch.Tensor:
    """A tensor on ``device`` (numpy arrays are wrapped without a copy where possible)."""
    tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
    return tensor.to(device=device, dtype=dtype)
