"""Device memory for TensorRT outputs whose shape only the run itself decides.

Mask R-CNN's boxes, labels, scores and masks have one row per detection: the engine reports
their shape as -1 until it has run, so they cannot be allocated up front. TensorRT 10 asks an
``IOutputAllocator`` instead: ``reallocate_output(_async)(name, memory, size, alignment, ...)``
for at least ``size`` bytes (an upper bound, requested during ``execute_async_v3``), then
``notify_shape(name, dims)`` with the final shape. :class:`DynamicOutputs` keeps that
bookkeeping in plain torch (a buffer per output, grown only when a run needs more, reused
otherwise) so it is tested without TensorRT; :func:`tensorrt_allocator` wraps it in the
``trt.IOutputAllocator`` subclass TensorRT calls (needs ``tensorrt`` and a GPU: untested here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


class DynamicOutputs:
    """Reusable byte buffers for data-dependent outputs on one device, viewed as the final
    shapes and types a run reports."""

    def __init__(self, dtypes: dict[str, torch.dtype], device: torch.device) -> None:
        self.dtypes = dict(dtypes)
        self.device = device
        self.buffers: dict[str, torch.Tensor] = {}  # uint8, at least the largest size asked
        self.offsets: dict[str, int] = {}  # bytes skipped to honour the alignment asked
        self.shapes: dict[str, tuple[int, ...]] = {}  # reported by the current run
        self.allocations = 0  # buffers created so far (reuse keeps this still)
        self.failures: list[str] = []  # allocations that raised inside TensorRT's callback

    def start_run(self) -> None:
        """Forget the last run's shapes and failures (buffers stay for reuse): a shape the
        next run does not report must not pass for its own."""
        self.shapes.clear()
        self.failures.clear()

    def reallocate(self, name: str, size: int, alignment: int = 1) -> int:
        """The address of at least ``size`` bytes for output ``name``, aligned to
        ``alignment``: the current buffer when it is large enough, else a new one (the old one
        returns to torch's caching allocator). Never 0, which TensorRT reads as failure, even
        for an output with no elements."""
        if name not in self.dtypes:
            raise KeyError(f"TensorRT asked memory for {name!r}, which is not an output")
        alignment = max(1, int(alignment))
        size = max(1, int(size))
        buf = self.buffers.get(name)
        if buf is not None:
            offset = (-buf.data_ptr()) % alignment
            if offset + size <= buf.numel():
                self.offsets[name] = offset
                return buf.data_ptr() + offset
        buf = torch.empty(size + alignment - 1, dtype=torch.uint8, device=self.device)
        self.buffers[name] = buf
        self.offsets[name] = (-buf.data_ptr()) % alignment
        self.allocations += 1
        return buf.data_ptr() + self.offsets[name]

    def notify_shape(self, name: str, shape: tuple[int, ...]) -> None:
        """Record the final shape TensorRT reports for ``name``."""
        self.shapes[name] = tuple(int(d) for d in shape)

    def views(self, names: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """The outputs ``names`` (default: all) as tensors of their reported shapes and types,
        viewing the buffers: valid until the next run reuses them (copy what must outlive
        it)."""
        out = {}
        for name in self.dtypes if names is None else names:
            dtype = self.dtypes[name]
            if name not in self.shapes:
                raise RuntimeError(f"TensorRT did not report the shape of output {name!r}")
            shape = self.shapes[name]
            nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
            if nbytes == 0:  # zero detections: nothing was written, nothing to view
                out[name] = torch.empty(shape, dtype=dtype, device=self.device)
                continue
            buf, offset = self.buffers.get(name), self.offsets.get(name, 0)
            if buf is None or offset + nbytes > buf.numel():
                raise RuntimeError(f"output {name!r} of shape {shape} needs {nbytes} bytes, more "
                                   "than TensorRT asked to allocate")
            out[name] = buf[offset:offset + nbytes].view(dtype).view(shape)
        return out


def tensorrt_allocator(trt: Any, outputs: DynamicOutputs) -> Any:
    """A ``trt.IOutputAllocator`` that serves ``outputs`` (the class is made here because it
    can only subclass TensorRT's once ``tensorrt`` is imported). TensorRT runs on torch's
    current stream (see :class:`~graft.runtime.trt_backend.TensorRTBackend`), so memory from
    torch's allocator on that stream is safe in the async callback too."""

    class _Allocator(trt.IOutputAllocator):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IOutputAllocator.__init__(self)  # TensorRT's bindings require the explicit call

        def reallocate_output(self, tensor_name: str, memory: Any, size: int,
                              alignment: int) -> int | None:
            try:
                return outputs.reallocate(tensor_name, size, alignment)
            except Exception as e:  # noqa: BLE001 - must not unwind through TensorRT
                outputs.failures.append(f"{tensor_name}: {e}")
                return None  # TensorRT's documented answer when memory cannot be allocated

        def reallocate_output_async(self, tensor_name: str, memory: Any, size: int,
                                    alignment: int, stream: Any) -> int | None:
            return self.reallocate_output(tensor_name, memory, size, alignment)

        def notify_shape(self, tensor_name: str, shape: Any) -> None:
            outputs.notify_shape(tensor_name, tuple(shape))

    return _Allocator()
