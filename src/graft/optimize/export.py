"""ONNX export (FP32, FP16, INT8 QDQ), parity with PyTorch, and optional TensorRT engines.

One function, :func:`export_onnx`, serves every task: the network goes out with a dynamic batch
axis, a named input and the task's output names, and the model's preprocessing (input size,
normalization, classes, the manifest) in the ONNX ``metadata_props`` so that
:func:`graft.optimize.runtime.load_runtime` can evaluate it exactly like the PyTorch model.

- FP32: ``torch.onnx.export(dynamo=True)`` (torch.export based, the maintained exporter). QAT
  models go through the TorchScript exporter instead: torch.export cannot trace ModelOpt's
  data-dependent range checks, while the TorchScript exporter turns its fake quantizers into
  QuantizeLinear/DequantizeLinear pairs.
- FP16: onnxconverter-common's float16 conversion, inputs and outputs kept FP32.
- INT8: explicit QDQ by onnxruntime's ``quantize_static`` (symmetric int8 activations and
  per-channel weights: TensorRT's explicit-quantization format) calibrated on real preprocessed
  batches, never random data; the tensor ranges go to a JSON calibration cache for reuse. A QAT
  model needs no calibration: its learned ranges are exported.

Every export is checked with ``onnx.checker`` and run through onnxruntime against PyTorch on
random and (when given) real inputs before it is renamed into place; the per-output comparison
and its verdict (:mod:`graft.optimize.parity`: a gate for FP32/FP16, an agreement warning for
INT8) are printed and written to ``OUT.parity.json`` beside the model.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from graft.console import err_console, labeled
from graft.errors import UserError
from graft.fsutil import atomic_path, write_json
from graft.optimize.int8 import FirstBatch, calibrate
from graft.optimize.parity import (
    OutputParity,
    ParityError,
    criterion,
    describe,
    print_parity,
    run_parity,
    verdict,
    worst,
)

DataType = Literal["fp32", "fp16", "int8"]
Exporter = Literal["auto", "dynamo", "torchscript"]
DATA_TYPES: tuple[str, ...] = ("fp32", "fp16", "int8")
INPUT_NAME = "input"
DEFAULT_OPSET = 18
META_PREFIX = "graft."


@dataclass
class ExportReport:
    path: str
    data_type: str
    exporter: str
    opset: int
    input_name: str
    input_shape: list[Any]
    output_names: list[str]
    qat: bool
    parity: list[OutputParity] = field(default_factory=list)
    criterion: dict[str, Any] | None = None  # how the parity rows were judged (parity.py)
    accepted_mismatch: bool = False  # failed the gate, written anyway (--allow_parity_mismatch)
    notes: list[str] = field(default_factory=list)
    fp16_conversion: dict[str, Any] | None = None  # values clamped to the FP16 range
    calibration: dict[str, Any] | None = None
    engine_file: str | None = None

    @property
    def max_abs_diff(self) -> float:
        return max((p.max_abs_diff for p in self.parity), default=0.0)

    @property
    def passed(self) -> bool | None:
        """Every judged output passed; None when nothing could be judged (INT8 without real
        images)."""
        return verdict(self.parity)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["max_abs_diff"] = self.max_abs_diff
        d["passed"] = self.passed
        return d


# -- small helpers -----------------------------------------------------------------------------


def parse_dims(text: str) -> tuple[int, int, int]:
    """``-d H,W,C`` (TLT order) -> (C, H, W)."""
    try:
        h, w, c = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise UserError(f"-d {text!r} is not H,W,C", "e.g. -d 288,384,3") from None
    if min(h, w, c) < 1:
        raise UserError(f"-d {text!r} has a non-positive size", "e.g. -d 288,384,3")
    return c, h, w


def sidecar_path(path: str | Path) -> Path:
    """Where the metadata of a file that cannot hold it (a TensorRT engine) is kept."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def parity_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.stem + ".parity.json")


class ExportWrapper(nn.Module):
    """The network as exported: outputs as a flat tuple, then the task's optional extra head."""

    def __init__(self, model: nn.Module, output_order: list[str] | None = None,
                 head: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.head = head
        self.output_order = output_order or []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(x)
        if isinstance(out, dict):
            keys = [k for k in self.output_order if k in out] or list(out)
            outs = tuple(out[k] for k in keys)
        elif isinstance(out, list | tuple):
            outs = tuple(out)
        else:
            outs = (out,)
        if self.head is not None:
            outs = self.head(*outs)
            outs = tuple(outs) if isinstance(outs, list | tuple) else (outs,)
        return outs


def export_metadata(manifest: dict[str, Any], data_type: str, input_shape: tuple[int, int, int],
                    input_name: str, output_names: list[str], task: Any = None,
                    qat: bool = False) -> dict[str, str]:
    """``metadata_props``: the manifest (less layer shapes and hashes) plus export facts.

    Values are JSON. ``graft.input`` holds the preprocessing (channels, height, width,
    normalization) at the exported size; a task adds keys with an ``export_metadata`` hook.
    """
    m = {k: v for k, v in manifest.items() if k not in ("content_hash", "encrypted")}
    arch = dict(m.get("architecture") or {})
    arch.pop("layer_shapes", None)
    m["architecture"] = arch
    inp = dict(m.get("input") or {})
    inp.update(channels=input_shape[0], height=input_shape[1], width=input_shape[2])
    m["input"] = inp
    meta: dict[str, Any] = {
        "task": m.get("task"),
        "input": inp,
        "classes": m.get("classes", []),
        "input_name": input_name,
        "output_names": output_names,
        "data_type": data_type,
        "qat": qat,
        "manifest": m,
    }
    hook = getattr(task, "export_metadata", None)
    if hook is not None:
        meta.update(hook(manifest) or {})
    return {META_PREFIX + k: json.dumps(v, default=str) for k, v in meta.items()}


def read_metadata(props: dict[str, str]) -> dict[str, Any]:
    """Decode ``graft.*`` metadata_props back into Python values (keys without the prefix)."""
    out: dict[str, Any] = {}
    for k, v in props.items():
        if k.startswith(META_PREFIX):
            try:
                out[k[len(META_PREFIX):]] = json.loads(v)
            except ValueError:
                out[k[len(META_PREFIX):]] = v
    return out


# -- the steps ---------------------------------------------------------------------------------


def torch_to_onnx(wrapper: nn.Module, example: torch.Tensor, path: Path, output_names: list[str],
                  exporter: Literal["dynamo", "torchscript"], opset: int) -> None:
    """FP32 (or QAT QDQ) ONNX with a dynamic batch axis on the input and every output."""
    axes = {INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in output_names}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter chatter; failures still raise
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=4096)
            program = torch.onnx.export(
                wrapper, (example,), None, dynamo=True, input_names=[INPUT_NAME],
                output_names=output_names, opset_version=opset, dynamic_shapes=({0: batch},),
                optimize=True, verbose=False)
            program.save(str(path))
        else:
            torch.onnx.export(
                wrapper, (example,), str(path), dynamo=False, input_names=[INPUT_NAME],
                output_names=output_names, opset_version=opset, dynamic_axes=axes,
                do_constant_folding=True)


def to_fp16(model: Any) -> tuple[Any, dict[str, Any]]:
    """FP16 weights and compute; FP32 inputs and outputs so callers need not change.

    Returns the model and what the conversion clamped to the FP16 range (count, examples)."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise UserError("FP16 export needs onnxconverter-common",
                        "pip install onnxconverter-common") from None
    with warnings.catch_warnings(record=True) as caught:
        # one "the float32 number X will be truncated to Y" per clamped tensor: a trained net
        # has hundreds (tiny weights go to FP16's smallest subnormal); counted, not printed
        warnings.simplefilter("always")
        converted = float16.convert_float_to_float16(model, keep_io_types=True)
    clamped = [str(w.message) for w in caught if "truncated" in str(w.message)]
    for w in caught:  # anything else the converter says is still shown
        if "truncated" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return converted, {"clamped": len(clamped), "examples": clamped[:5]}


def export_onnx(
    module: nn.Module,
    manifest: dict[str, Any],
    output: str | Path,
    *,
    task: Any = None,
    data_type: DataType = "fp32",
    input_shape: tuple[int, int, int] | None = None,
    output_names: list[str] | None = None,
    head: nn.Module | None = None,
    calibration: Iterable[np.ndarray] | None = None,
    calibration_batches: int | None = None,
    cal_cache_file: str | Path | None = None,
    calibration_method: str = "minmax",
    real_inputs: np.ndarray | None = None,
    opset: int = DEFAULT_OPSET,
    exporter: Exporter = "auto",
    max_batch_size: int = 16,
    engine_file: str | Path | None = None,
    allow_parity_mismatch: bool = False,
    atol: float | None = None,
    rtol: float | None = None,
    console: Any = None,
) -> ExportReport:
    """Export ``module`` to ONNX at ``output`` and return the report (also saved as JSON).

    ``task`` supplies the defaults: ``input_shape(manifest)`` and ``output_names(manifest)``.
    ``head`` is an extra module applied to the network's outputs (a task's deployment variant,
    e.g. bpnet's upsampled PAF); pass ``output_names`` for what it returns. ``calibration``
    yields real preprocessed batches (N, C, H, W) for INT8; ``real_inputs`` (or the first
    calibration batch) is used besides random data for the parity check.

    The parity check is a gate (:mod:`graft.optimize.parity`): an FP32/FP16 export that does
    not match PyTorch within ``atol + rtol * max|output|`` raises :class:`ParityError` and is not
    written (its report is), unless ``allow_parity_mismatch``; ``atol``/``rtol`` override the
    data type's defaults. INT8 gets an agreement verdict on real images, a warning only.
    """
    from graft.optimize.quantize import is_quantized, needs_calibration

    console = console or err_console
    if data_type not in DATA_TYPES:
        raise UserError(f"unknown data type {data_type!r}", "use fp32, fp16 or int8")
    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise UserError(f"export output {output} must end in .onnx", "e.g. -o model.onnx")
    if input_shape is None:
        if task is None:
            raise ValueError("export_onnx needs input_shape or a task")
        input_shape = tuple(task.input_shape(manifest))
    if output_names is None:
        output_names = list(task.output_names(manifest)) if task is not None else ["output"]
    qat = is_quantized(module)
    if qat and needs_calibration(module):
        raise UserError("the QAT model has quantizers that were never calibrated",
                        "train it (the first batch calibrates) or call "
                        "graft.optimize.quantize.calibrate_qat before exporting")
    if qat and data_type == "fp16":
        raise UserError("a QAT model exports as INT8 (its learned ranges are QDQ nodes)",
                        "use --data_type int8, or export the model trained without QAT")
    if qat and data_type == "fp32":
        console.print(labeled("note:", "yellow",
                              "QAT model: exporting its learned INT8 ranges (int8 QDQ)"))
        data_type = "int8"
    ptq = data_type == "int8" and not qat
    have_cache = bool(cal_cache_file) and Path(cal_cache_file).is_file()
    if ptq and calibration is None and not have_cache:
        raise UserError("INT8 calibration needs real images and none were given",
                        "pass --cal_image_dir DIR (training images), or reuse an existing "
                        "calibration cache with --cal_cache_file; graft never calibrates on "
                        "random data")
    auto = exporter == "auto"
    if auto:
        exporter = "torchscript" if qat else "dynamo"

    module = module.eval().cpu().float()
    wrapper = ExportWrapper(module, output_names, head).eval()
    example = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        produced = wrapper(example)
    if len(produced) != len(output_names):
        raise UserError(f"the network returns {len(produced)} outputs but the task names "
                        f"{len(output_names)} ({', '.join(output_names)})",
                        "fix the task's output_names hook")

    import onnx

    report = ExportReport(str(output), data_type, exporter, opset, INPUT_NAME,
                          ["batch", *input_shape], list(output_names), qat,
                          criterion=criterion(data_type, atol, rtol))
    first = FirstBatch(calibration) if calibration is not None else None
    with tempfile.TemporaryDirectory(prefix="graft-export-") as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        with console.status(f"exporting ONNX ({exporter})"):
            try:
                torch_to_onnx(wrapper, example, fp32_path, list(output_names), exporter, opset)
            except Exception as exc:  # torch.export fails in many ways on unusual Python code
                if not (auto and exporter == "dynamo"):
                    raise
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                console.print(labeled("note:", "yellow", "torch.export could not trace the "
                                      f"network ({reason}); using the TorchScript exporter"))
                exporter = report.exporter = "torchscript"
                torch_to_onnx(wrapper, example, fp32_path, list(output_names), exporter, opset)
        final_path = fp32_path
        if data_type == "fp16":
            model16, report.fp16_conversion = to_fp16(onnx.load(str(fp32_path)))
            final_path = Path(tmp) / "fp16.onnx"
            onnx.save(model16, str(final_path))
        elif ptq:
            final_path = Path(tmp) / "int8.onnx"
            report.calibration = calibrate(fp32_path, final_path, first, calibration_batches,
                                           cal_cache_file, calibration_method, console,
                                           INPUT_NAME)
            if report.calibration["reused_cache"]:
                console.print(f"reused the calibration cache {cal_cache_file} "
                              "(delete it to recalibrate)")
        model = onnx.load(str(final_path))
        meta = export_metadata(manifest, data_type, input_shape, INPUT_NAME, list(output_names),
                               task, qat)
        del model.metadata_props[:]
        for k, v in meta.items():
            model.metadata_props.add(key=k, value=v)
        model.producer_name = "graft"
        with atomic_path(output) as tmp_out:
            onnx.save(model, str(tmp_out))
            onnx.checker.check_model(str(tmp_out), full_check=True)
            inputs = {"random": example.numpy()}
            real = real_inputs if real_inputs is not None else (first.first if first else None)
            if real is not None:
                inputs["real"] = np.asarray(real, dtype=np.float32)[: max(1, min(8, len(real)))]
            report.parity = run_parity(wrapper, tmp_out, list(output_names), inputs,
                                       report.criterion, INPUT_NAME)
            _gate(report, allow_parity_mismatch, console)  # raises before the rename

    if engine_file:
        from graft.optimize.tensorrt import build_engine

        build_engine(output, engine_file, data_type=data_type, input_shape=input_shape,
                     max_batch_size=max_batch_size, console=console)
        report.engine_file = str(engine_file)
        write_json(sidecar_path(engine_file), {
            "metadata": {k[len(META_PREFIX):]: json.loads(v) for k, v in meta.items()},
            "inputs": [{"name": INPUT_NAME, "dtype": "float32", "shape": [-1, *input_shape]}],
            "outputs": [{"name": n, "dtype": "float32", "shape": [-1, *t.shape[1:]]}
                        for n, t in zip(output_names, produced, strict=True)],
            "max_batch_size": max_batch_size,
        })
    write_json(parity_path(output), report.to_dict())
    return report


def _gate(report: ExportReport, allow_mismatch: bool, console: Any) -> None:
    """Print the verdict; a failed FP32/FP16 check writes its report and raises unless allowed.

    Runs while the ONNX file is still a temporary file, so a model that fails the gate never
    replaces ``report.path`` (nor leaves a file that looks like a good export)."""
    out = Path(report.path)
    print_parity(report.parity, f"onnxruntime vs PyTorch ({report.data_type}, {out.name})",
                 console)
    if report.fp16_conversion and report.fp16_conversion["clamped"]:
        console.print(f"note: the FP16 conversion clamped values outside the FP16 range "
                      f"{report.fp16_conversion['clamped']} times (details in "
                      f"{parity_path(out).name})")
    rule, passed, bad = report.criterion or {}, report.passed, worst(report.parity)
    if passed is None:
        report.notes.append("no INT8 agreement verdict: it needs real images "
                            "(pass --cal_image_dir)")
        console.print(labeled("note:", "yellow", report.notes[-1]))
    elif passed:
        within = (f"every output within {rule['atol']:g} + {rule['rtol']:g} x max|output|"
                  if rule["kind"] == "tolerance"
                  else f"cosine similarity >= {rule['min_cosine']:g} on real images")
        console.print(labeled("parity ok", "green", f"({within})"))
    elif not rule.get("gate"):
        console.print(labeled("warning:", "yellow", f"INT8 agreement is low: {describe(bad)}; "
                              "evaluate the INT8 model before deploying it"))
    elif allow_mismatch:
        report.accepted_mismatch = True
        console.print(labeled("warning:", "yellow", "parity check failed, written anyway "
                              f"(--allow_parity_mismatch): {describe(bad)}"))
    else:
        write_json(parity_path(out), report.to_dict())
        raise ParityError(
            f"parity check failed: {describe(bad)}, so {out} was not written (report: "
            f"{parity_path(out)})", "pass --allow_parity_mismatch to write it anyway")
