"""ONNX export (FP32, FP16, INT8 QDQ), parity with PyTorch, and optional TensorRT engines.

One function, :func:`export_onnx`, serves every task; :class:`ExportOptions` says how (data
type, input size and names, dynamic axes, calibration, tolerances, engine), and what it leaves
unset comes from the task's hooks. The steps, each in its own module:

1. trace (:mod:`graft.optimize.onnx_trace`): FP32 ONNX with named inputs/outputs and the
   declared dynamic axes;
2. precision: FP16 (:mod:`graft.optimize.fp16`) or INT8 explicit QDQ calibrated on real
   preprocessed batches, never random data (:mod:`graft.optimize.int8`); a QAT model exports
   its learned ranges;
3. metadata (:mod:`graft.runtime.metadata`): the preprocessing (input size, normalization,
   classes, the manifest) and the tensor layout in ``metadata_props``, so that
   :func:`graft.runtime.load_runner` runs the export exactly like the PyTorch model;
4. parity (:mod:`graft.optimize.parity`): ``onnx.checker``, then onnxruntime against PyTorch on
   random and (when given) real inputs, judged by the task's comparator, while the file is still
   temporary: a gate for FP32/FP16, an agreement warning for INT8; the verdict is printed and
   written to ``OUT.parity.json`` beside the model;
5. engine (:mod:`graft.optimize.tensorrt`), where TensorRT is installed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from graft.console import err_console, labeled
from graft.errors import UserError
from graft.fsutil import atomic_path, write_json
from graft.optimize.int8 import FirstBatch, calibrate
from graft.optimize.parity import (
    Comparator,
    OutputParity,
    ParityError,
    criterion,
    describe,
    print_parity,
    run_parity,
    verdict,
    worst,
)
from graft.runtime.backend import Axes, complete_axes, is_batched
from graft.runtime.metadata import encode_metadata, model_metadata

if TYPE_CHECKING:
    from collections.abc import Mapping

    from graft.manifest import Manifest
    from graft.tasks.base import Task

DataType = Literal["fp32", "fp16", "int8"]
Exporter = Literal["auto", "dynamo", "torchscript"]
DATA_TYPES: tuple[str, ...] = ("fp32", "fp16", "int8")
DEFAULT_OPSET = 18


@dataclass
class Calibration:
    """INT8 post-training calibration: real preprocessed batches (N, C, H, W), or a cache of
    their ranges from an earlier export of the same graph."""

    batches: Iterable[np.ndarray] | None = None
    max_batches: int | None = None
    cache_file: str | Path | None = None
    method: str = "minmax"  # minmax | entropy | percentile


@dataclass
class ExportOptions:
    """How to export. Fields left None take the task's hook (``input_shape``, ``example_inputs``,
    ``input_names``, ``output_names``, ``dynamic_axes``, ``parity_comparator``) or graft's
    default."""

    data_type: DataType = "fp32"
    input_shape: tuple[int, ...] | None = None  # one sample of the first input, e.g. (C, H, W)
    input_names: list[str] | None = None  # default ["input"]
    output_names: list[str] | None = None  # default ["output"]
    dynamic_axes: Axes | None = None  # per tensor {axis: label}; undeclared: batch axis 0
    head: nn.Module | None = None  # extra layers on the outputs (a deployment variant)
    example_inputs: tuple[Any, ...] | None = None  # traced with; default: the task's hook
    calibration: Calibration = field(default_factory=Calibration)
    real_inputs: np.ndarray | None = None  # real preprocessed inputs for the parity check
    atol: float | None = None  # parity tolerances; None: the data type's default
    rtol: float | None = None
    comparator: Comparator | None = None  # default: every output element by element
    metadata: dict[str, Any] | None = None  # facts of this export for the ONNX / ENGINE.json
    allow_parity_mismatch: bool = False  # write an FP32/FP16 export that fails the gate
    engine_file: str | Path | None = None  # also build this TensorRT engine
    engine_data_type: DataType | None = None  # the engine's precision (default: data_type)
    max_batch_size: int = 16  # the engine's largest batch
    opset: int = DEFAULT_OPSET
    exporter: Exporter = "auto"


@dataclass
class ExportReport:
    path: str
    data_type: str
    exporter: str
    opset: int
    input_names: list[str]
    input_shape: list[Any]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
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


def parse_dims(text: str) -> tuple[int, int, int]:
    """``-d H,W,C`` (TLT order) -> (C, H, W)."""
    try:
        h, w, c = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise UserError(f"-d {text!r} is not H,W,C", "e.g. -d 288,384,3") from None
    if min(h, w, c) < 1:
        raise UserError(f"-d {text!r} has a non-positive size", "e.g. -d 288,384,3")
    return c, h, w


def parity_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.stem + ".parity.json")


def resolve_options(options: ExportOptions, manifest: Manifest | Mapping[str, Any],
                    task: Task | None, qat: bool, console: Any) -> ExportOptions:
    """The options with every default filled in from the task, checked, and the data type a QAT
    model exports as."""
    o = replace(options)
    if o.data_type not in DATA_TYPES:
        raise UserError(f"unknown data type {o.data_type!r}", "use fp32, fp16 or int8")
    if o.engine_data_type not in (None, *DATA_TYPES):
        raise UserError(f"unknown engine data type {o.engine_data_type!r}",
                        "use fp32, fp16 or int8")
    if o.engine_data_type == "int8" and o.data_type != "int8":
        raise UserError("an INT8 engine takes its scales from the QDQ nodes of an INT8 export",
                        "export with data type int8 (calibrated), or build an fp16 engine")
    from_task = o.input_shape is None and o.example_inputs is None
    if from_task:
        if task is None:
            raise ValueError("export_onnx needs an input_shape, example_inputs or a task")
        o.input_shape = tuple(task.input_shape(manifest))
    o.input_names = list(o.input_names or (task.input_names(manifest) if task else ["input"]))
    o.output_names = list(o.output_names or (task.output_names(manifest) if task
                                             else ["output"]))
    if o.dynamic_axes is None and task is not None and o.head is None:
        o.dynamic_axes = task.dynamic_axes(manifest)
    o.dynamic_axes = complete_axes(o.input_names, o.output_names, o.dynamic_axes)
    if from_task and task is not None and is_batched(o.dynamic_axes[o.input_names[0]]):
        o.example_inputs = tuple(task.example_inputs(manifest, batch=2))
    if o.comparator is None and task is not None:
        o.comparator = task.parity_comparator(manifest)
    if qat and o.data_type == "fp16":
        raise UserError("a QAT model exports as INT8 (its learned ranges are QDQ nodes)",
                        "use --data_type int8, or export the model trained without QAT")
    if qat and o.data_type == "fp32":
        console.print(labeled("note:", "yellow",
                              "QAT model: exporting its learned INT8 ranges (int8 QDQ)"))
        o.data_type = "int8"
    cal = o.calibration
    if o.data_type == "int8" and not qat:
        if cal.batches is None and not (cal.cache_file and Path(cal.cache_file).is_file()):
            raise UserError("INT8 calibration needs real images and none were given",
                            "pass --cal_image_dir DIR (training images), or reuse an existing "
                            "calibration cache with --cal_cache_file; graft never calibrates "
                            "on random data")
        if len(o.input_names) != 1:
            raise UserError("INT8 calibration takes one network input, this network has "
                            f"{len(o.input_names)}", "export it as fp32 or fp16")
    if o.exporter == "auto" and qat:
        o.exporter = "torchscript"
    return o


def _examples(o: ExportOptions) -> tuple[torch.Tensor, ...]:
    """Two random samples of a batched input (one of an unbatched one), unless given."""
    if o.example_inputs is not None:
        return tuple(o.example_inputs)
    if len(o.input_names or []) != 1:
        raise ValueError("a network with several inputs needs ExportOptions.example_inputs")
    batch = (2,) if is_batched(o.dynamic_axes[o.input_names[0]]) else ()
    return (torch.randn(*batch, *o.input_shape, generator=torch.Generator().manual_seed(0)),)


def export_onnx(module: nn.Module, manifest: Manifest | Mapping[str, Any], output: str | Path,
                options: ExportOptions | None = None, *, task: Task | None = None,
                console: Any = None) -> ExportReport:
    """Export ``module`` to ONNX at ``output`` and return the report (also saved as JSON).

    An FP32/FP16 export that does not match PyTorch (``atol + rtol * max|output|`` per output by
    default) raises :class:`ParityError` and is not written (its report is), unless
    ``options.allow_parity_mismatch``. INT8 gets an agreement verdict on real images, a warning.
    """
    from graft.optimize.onnx_trace import ExportWrapper, trace_to_onnx
    from graft.optimize.quantize import is_quantized, needs_calibration
    from graft.runtime.ort_backend import OnnxBackend
    from graft.runtime.runner import Runner
    from graft.runtime.torch_backend import TorchBackend

    console = console or err_console
    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise UserError(f"export output {output} must end in .onnx", "e.g. -o model.onnx")
    qat = is_quantized(module)
    if qat and needs_calibration(module):
        raise UserError("the QAT model has quantizers that were never calibrated",
                        "train it (the first batch calibrates) or call "
                        "graft.optimize.quantize.calibrate_qat before exporting")
    o = resolve_options(options or ExportOptions(), manifest, task, qat, console)
    if o.engine_file:  # fail before anything is traced or written, not after the ONNX
        from graft.runtime.trt_backend import import_tensorrt

        import_tensorrt()
    names = {"input_names": o.input_names, "output_names": o.output_names}

    module = module.eval().cpu().float()
    wrapper = ExportWrapper(module, o.output_names, o.head).eval()
    reference = Runner(TorchBackend(wrapper, **names, dynamic_axes=o.dynamic_axes,
                                    device=torch.device("cpu")))
    examples = _examples(o)
    with torch.no_grad():
        produced = wrapper(*examples)
    if len(produced) != len(o.output_names):
        raise UserError(f"the network returns {len(produced)} outputs but the task names "
                        f"{len(o.output_names)} ({', '.join(o.output_names)})",
                        "fix the task's output_names hook")
    batched = is_batched(o.dynamic_axes[o.input_names[0]])
    shape = list(o.input_shape or examples[0].shape[1 if batched else 0:])
    report = ExportReport(str(output), o.data_type, o.exporter, o.opset, o.input_names,
                          ["batch", *shape] if batched else shape, o.output_names,
                          o.dynamic_axes, qat,
                          criterion=criterion(o.data_type, o.atol, o.rtol))
    cal = o.calibration
    first = FirstBatch(cal.batches) if cal.batches is not None else None

    import onnx

    with tempfile.TemporaryDirectory(prefix="graft-export-") as tmp:
        final_path = Path(tmp) / "fp32.onnx"
        report.exporter = trace_to_onnx(
            wrapper, examples, final_path, **names, axes=o.dynamic_axes,
            exporter="dynamo" if o.exporter == "auto" else o.exporter, opset=o.opset,
            fallback=o.exporter == "auto", console=console)
        if o.data_type == "fp16":
            from graft.optimize.fp16 import to_fp16

            model16, report.fp16_conversion = to_fp16(onnx.load(str(final_path)))
            final_path = Path(tmp) / "fp16.onnx"
            onnx.save(model16, str(final_path))
        elif o.data_type == "int8" and not qat:
            int8_path = Path(tmp) / "int8.onnx"
            report.calibration = calibrate(final_path, int8_path, first, cal.max_batches,
                                           cal.cache_file, cal.method, console,
                                           o.input_names[0])
            final_path = int8_path
            if report.calibration["reused_cache"]:
                console.print(f"reused the calibration cache {cal.cache_file} "
                              "(delete it to recalibrate)")
        extra = {**(task.export_metadata(manifest) if task is not None else {}),
                 **(o.metadata or {})}
        meta = model_metadata(manifest, **names, dynamic_axes=o.dynamic_axes,
                              data_type=o.data_type, input_shape=o.input_shape, qat=qat,
                              extra=extra)
        model = onnx.load(str(final_path))
        del model.metadata_props[:]
        for k, v in encode_metadata(meta).items():
            model.metadata_props.add(key=k, value=v)
        model.producer_name = "graft"
        with atomic_path(output) as tmp_out:
            onnx.save(model, str(tmp_out))
            onnx.checker.check_model(str(tmp_out), full_check=True)
            inputs = {"random": dict(zip(o.input_names, (e.numpy() for e in examples),
                                         strict=True))}
            real = o.real_inputs if o.real_inputs is not None else (first.first if first
                                                                    else None)
            if real is not None and len(o.input_names) == 1:
                inputs["real"] = {o.input_names[0]: np.asarray(real, dtype=np.float32)[
                    : max(1, min(8, len(real)))]}
            exported = Runner(OnnxBackend(tmp_out, device="cpu"))
            report.parity = run_parity(reference, exported, inputs, report.criterion,
                                       o.comparator)
            _gate(report, o.allow_parity_mismatch, console)  # raises before the rename

    if o.engine_file:
        from graft.optimize.tensorrt import build_engine, write_engine_description

        engine_type = o.engine_data_type or o.data_type
        build_engine(output, o.engine_file, data_type=engine_type,
                     input_shape=tuple(shape), max_batch_size=o.max_batch_size,
                     axes=o.dynamic_axes, console=console)
        report.engine_file = str(o.engine_file)
        write_engine_description(o.engine_file, {**meta, "data_type": engine_type},
                                 dict(zip(o.input_names, examples, strict=True)),
                                 dict(zip(o.output_names, produced, strict=True)),
                                 o.dynamic_axes, o.max_batch_size if batched else 0)
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

