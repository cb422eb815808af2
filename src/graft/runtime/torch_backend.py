"""PyTorch networks: a ``.graft`` file or a module in memory, on the runner's device.

The task names the inputs and outputs (its ``input_names``/``output_names`` hooks, as for
export) and says which axes vary (``dynamic_axes``), so a ``.graft`` model answers with the same
names and batching rules as the ONNX model or engine exported from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from graft.errors import UserError
from graft.runtime.backend import (
    BATCH,
    Axes,
    Backend,
    TensorInfo,
    complete_axes,
    is_batched,
    to_torch,
)
from graft.runtime.metadata import model_metadata

if TYPE_CHECKING:
    from graft.api import GraftModel


def flatten_outputs(out: Any, order: list[str]) -> tuple[torch.Tensor, ...]:
    """A network's outputs as a flat tuple: a dict in ``order`` (its own order for keys not
    named), a list/tuple as is, a single tensor as a 1-tuple."""
    if isinstance(out, dict):
        keys = [k for k in order if k in out] or list(out)
        return tuple(out[k] for k in keys)
    if isinstance(out, list | tuple):
        return tuple(out)
    return (out,)


def check_task(found: str | None, expected: str, path: Any, exported: bool) -> None:
    """A model of another task is a one-line error naming both (and how to make the right one)."""
    if found == expected:
        return
    if exported:
        raise UserError(f"{path} is not a {expected} export (task {found!r})",
                        f"export it with `graft {expected} export`")
    raise UserError(f"{path} is a {found!r} model, not {expected!r}",
                    f"use `graft {found} ...`, or pass a {expected} model")


def load_graft(path: str | Path, key: str | None = None, device: str | torch.device = "cpu",
               task: str | None = None) -> GraftModel:
    """A ``.graft`` model in eval mode on ``device``; with ``task``, refused if it is another
    task's (prune and export use this too)."""
    from graft.api import load

    model = load(path, key=key, device=device)
    if task is not None:
        check_task(model.manifest.task, task, path, exported=False)
    return model


class TorchBackend(Backend):
    """An ``nn.Module`` called as ``module(*inputs)`` under ``torch.inference_mode``.

    ``device`` None keeps the module where it is (a model the caller already placed)."""

    kind = "pytorch"

    def __init__(self, module: nn.Module, input_names: list[str], output_names: list[str], *,
                 dynamic_axes: Axes | None = None, input_shape: tuple[int, ...] | None = None,
                 metadata: dict[str, Any] | None = None, device: torch.device | None = None,
                 path: Path | None = None) -> None:
        param = next(module.parameters(), None)
        if device is None:
            device = param.device if param is not None else torch.device("cpu")
        self.module = module.eval().to(device)
        self.device, self.path = device, path
        self._float = param.dtype if param is not None else torch.float32
        axes = complete_axes(input_names, output_names, dynamic_axes)

        def shape_of(index: int, batched: bool) -> tuple[Any, ...]:
            if index or not input_shape:  # only the first input's size is known
                return ()
            return (BATCH, *input_shape) if batched else tuple(input_shape)

        self.inputs = [TensorInfo(n, np.dtype(np.float32), shape_of(i, is_batched(axes[n])),
                                  is_batched(axes[n])) for i, n in enumerate(input_names)]
        self.outputs = [TensorInfo(n, np.dtype(np.float32), (), is_batched(axes[n]))
                        for n in output_names]
        self.metadata = metadata or {}

    @classmethod
    def from_model(cls, model: GraftModel, device: torch.device | None = None,
                   path: Path | None = None) -> TorchBackend:
        """A loaded model (``module`` and ``manifest``), named and described by the hooks of
        the manifest's task."""
        from graft import tasks
        from graft.manifest import Manifest

        manifest = Manifest.of(model.manifest)
        task = tasks.get(manifest.require_task())
        inputs, outputs = list(task.input_names(manifest)), list(task.output_names(manifest))
        axes = complete_axes(inputs, outputs, task.dynamic_axes(manifest))
        try:  # informational here: the network takes any size its layers allow
            shape: tuple[int, ...] | None = tuple(task.input_shape(manifest))
        except (KeyError, TypeError, ValueError):
            shape = None
        meta = model_metadata(manifest, input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, qat=manifest.qat)
        return cls(model.module, inputs, outputs, dynamic_axes=axes, input_shape=shape,
                   metadata=meta, device=device, path=path)

    def run(self, feed: dict[str, Any]) -> dict[str, torch.Tensor]:
        xs = [to_torch(feed[i.name], self.device) for i in self.inputs]
        xs = [x.to(self._float) if x.is_floating_point() else x for x in xs]
        with torch.inference_mode():
            outs = flatten_outputs(self.module(*xs), [o.name for o in self.outputs])
        if len(outs) != len(self.outputs):
            raise UserError(f"the network returns {len(outs)} outputs but its task names "
                            f"{len(self.outputs)} ({', '.join(o.name for o in self.outputs)})",
                            "fix the task's output_names hook")
        return {o.name: t for o, t in zip(self.outputs, outs, strict=True)}
