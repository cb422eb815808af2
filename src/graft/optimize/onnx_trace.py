"""Export step 1: the PyTorch network traced into an FP32 ONNX graph.

The network goes out with the task's input and output names and the declared dynamic axes
(:func:`graft.runtime.backend.complete_axes`: the batch axis 0 unless a tensor declares
otherwise, e.g. a detection list whose length depends on the image). ``torch.onnx.export(
dynamo=True)`` (torch.export based, the maintained exporter) is tried first; QAT models, and
networks torch.export cannot trace when the exporter is ``auto``, go through the TorchScript
exporter, which also turns ModelOpt's fake quantizers into QuantizeLinear/DequantizeLinear.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from graft.console import labeled
from graft.runtime.backend import BATCH, Axes
from graft.runtime.torch_backend import flatten_outputs

TraceExporter = Literal["dynamo", "torchscript"]


class ExportWrapper(nn.Module):
    """The network as exported: outputs as a flat tuple, then the task's optional extra head."""

    def __init__(self, model: nn.Module, output_order: list[str] | None = None,
                 head: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.head = head
        self.output_order = output_order or []

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = flatten_outputs(self.model(*inputs), self.output_order)
        if self.head is not None:
            outs = flatten_outputs(self.head(*outs), [])
        return outs


def _dynamic_shapes(input_names: list[str], axes: Axes) -> tuple[tuple[dict[int, Any], ...]]:
    """torch.export dims for the inputs' declared axes (one Dim per label, shared by inputs),
    shaped like :meth:`ExportWrapper.forward`'s one ``*inputs`` argument."""
    dims: dict[str, Any] = {}
    for name in input_names:
        for label in axes[name].values():
            if label not in dims:
                upper = {"max": 4096} if label == BATCH else {}
                dims[label] = torch.export.Dim(label, min=1, **upper)
    return (tuple({a: dims[label] for a, label in axes[name].items()} for name in input_names),)


def _export(wrapper: nn.Module, examples: tuple[torch.Tensor, ...], path: Path,
            input_names: list[str], output_names: list[str], axes: Axes,
            exporter: TraceExporter, opset: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter chatter; failures still raise
        if exporter == "dynamo":
            program = torch.onnx.export(
                wrapper, examples, None, dynamo=True, input_names=input_names,
                output_names=output_names, opset_version=opset,
                dynamic_shapes=_dynamic_shapes(input_names, axes), optimize=True, verbose=False)
            program.save(str(path))
        else:
            torch.onnx.export(
                wrapper, examples, str(path), dynamo=False, input_names=input_names,
                output_names=output_names, opset_version=opset,
                dynamic_axes={n: a for n, a in axes.items() if a}, do_constant_folding=True)


def name_axes(path: Path, axes: Axes) -> None:
    """Give the graph's dynamic input/output axes their declared labels (the dynamo exporter
    names data-dependent lengths ``u0``, ``u1``...); static axes stay static."""
    import onnx

    model = onnx.load(str(path))
    changed = False
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        for axis, label in axes.get(value.name, {}).items():
            if axis < len(dims) and not dims[axis].HasField("dim_value") \
                    and dims[axis].dim_param != label:
                dims[axis].dim_param = label
                changed = True
    if changed:
        onnx.save(model, str(path))


def trace_to_onnx(wrapper: nn.Module, examples: tuple[torch.Tensor, ...], path: Path, *,
                  input_names: list[str], output_names: list[str], axes: Axes,
                  exporter: TraceExporter, opset: int, fallback: bool, console: Any) -> str:
    """Write the FP32 (or QAT QDQ) graph to ``path``; returns the exporter that succeeded.

    ``fallback``: if torch.export cannot trace the network, say why in one line and use the
    TorchScript exporter (``--exporter auto``)."""
    names = {"input_names": input_names, "output_names": output_names, "axes": axes,
             "opset": opset}
    with console.status(f"exporting ONNX ({exporter})"):
        try:
            _export(wrapper, examples, path, exporter=exporter, **names)
        except Exception as exc:  # torch.export fails in many ways on unusual Python code
            if not (fallback and exporter == "dynamo"):
                raise
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            console.print(labeled("note:", "yellow", "torch.export could not trace the "
                                  f"network ({reason}); using the TorchScript exporter"))
            exporter = "torchscript"
            _export(wrapper, examples, path, exporter=exporter, **names)
    name_axes(path, axes)
    return exporter
