"""``graft TASK prune`` and ``graft TASK export``: TLT's flags on every task's command line.

A task mounts them with :func:`add_optimize_commands`; everything task-specific comes from the
task's hooks (input shape, output names and layers, calibration preprocessing, the optional
``sdk_compatible_head`` for deployment pipelines).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text

from graft.cli_options import KEY
from graft.console import console as stdout_console
from graft.errors import UserError
from graft.fsutil import check_output_file

if TYPE_CHECKING:
    import numpy as np

    from graft.manifest import Manifest
    from graft.tasks.base import Task

CalibrationLoader = Callable[["Manifest", Path, int, int], Iterable["np.ndarray"]]


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (also through links, or before either exists)."""
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_outputs(model: Path, outputs: dict[str, Path | None],
                  force: bool | None = None) -> None:
    """Refuse to write over the input model, or two outputs into one file.

    ``outputs`` maps each option (``-o``, ``--engine_file``, ...) to its path. ``force`` is the
    command's ``--force`` (None: it has none); with it, ``-o`` may replace the model knowingly.
    """
    named = [(flag, Path(p)) for flag, p in outputs.items() if p is not None]
    for flag, path in named:
        if _same_file(Path(model), path) and not (force and flag == "-o"):
            hint = " or pass --force to replace it" if force is not None and flag == "-o" else ""
            raise UserError(f"{flag} {path} is the input model: writing it would destroy "
                            "the model it was made from", f"choose another {flag} path{hint}")
    for i, (flag, path) in enumerate(named):
        for other, path2 in named[i + 1:]:
            if _same_file(path, path2):
                raise UserError(f"{flag} and {other} are the same file ({path})",
                                "give each output its own path")


def _split_names(values: list[str] | None) -> tuple[str, ...]:
    return tuple(n.strip() for v in values or [] for n in v.split(",") if n.strip())


def run_prune(task: Task, model: Path, output: Path, key: str | None, options: Any,
              console: Console | None = None, force: bool = False) -> Any:
    """Prune a ``.graft`` model file into another; returns the :class:`PruneResult`.

    ``output`` may be the input model only with ``force``."""
    from graft.api import GraftModel
    from graft.optimize.prune import print_table, save_report
    from graft.runtime.torch_backend import load_graft

    console = console or stdout_console
    check_outputs(model, {"-o": output}, force=force)
    check_output_file(output, "output (-o)")
    loaded = load_graft(model, key, task=task.name)
    module, manifest = loaded.module, loaded.manifest
    with console.status("tracing the network and pruning"):
        result = task.prune_network(module, manifest, options)
    print_table(result, console)
    pruned = manifest.updated(
        pruning={"source": Path(model).name, "params_before": result.params_before,
                 "params_after": result.params_after, "layers_pruned": result.layers_pruned,
                 **result.summary()["options"]},
        provenance=manifest.provenance.model_copy(
            update={"created": None, "parent": manifest.content_hash}))
    GraftModel(result.module, pruned).save(output, key=key)
    csv_path, json_path = save_report(result, output.with_name(output.stem + ".prune"))
    console.print(f"pruned {result.params_before:,} -> {result.params_after:,} parameters "
                  f"({100 * (1 - result.ratio):.1f} % removed): {output}\n"
                  f"per-layer table: {csv_path}, {json_path}")
    return result


def run_export(task: Task, model: Path, output: Path, key: str | None, *, spec: Path | None = None,
               data_type: str = "fp32", cal_image_dir: Path | None = None, batches: int = 10,
               batch_size: int = 8, cal_cache_file: Path | None = None,
               cal_method: str = "minmax", max_batch_size: int = 16,
               engine_file: Path | None = None, sdk_compatible_model: bool = False,
               dims: str | None = None, calibration_loader: CalibrationLoader | None = None,
               allow_parity_mismatch: bool = False, console: Console | None = None) -> Any:
    """Export a ``.graft`` model file to ONNX (and optionally a TensorRT engine).

    Raises :class:`graft.optimize.parity.ParityError` (exit 3) when an FP32/FP16 export does not
    match PyTorch, unless ``allow_parity_mismatch``."""
    from graft.optimize.calibration import calibration_batches, require_batches
    from graft.optimize.export import (
        Calibration,
        ExportOptions,
        export_onnx,
        parity_path,
        parse_dims,
    )
    from graft.optimize.quantize import is_quantized
    from graft.runtime.metadata import sidecar_path
    from graft.runtime.torch_backend import load_graft
    from graft.runtime.trt_backend import INSTALL_HINT, tensorrt_available

    console = console or stdout_console
    check_outputs(model, {"-o": output, "parity report": parity_path(output),
                          "--engine_file": engine_file,
                          "engine metadata": sidecar_path(engine_file) if engine_file else None,
                          "--cal_cache_file": cal_cache_file})
    for flag, path in (("-o", output), ("--engine_file", engine_file),
                       ("--cal_cache_file", cal_cache_file)):
        if path is not None and not (flag == "--cal_cache_file" and Path(path).is_file()):
            check_output_file(path, f"output ({flag})")
    if engine_file and not tensorrt_available():
        raise UserError("--engine_file needs TensorRT, which is not installed", INSTALL_HINT)
    loaded = load_graft(model, key, task=task.name)
    manifest = loaded.manifest
    if dims:
        input_shape = parse_dims(dims)
        if input_shape[0] != task.input_shape(manifest)[0]:
            raise UserError(f"-d asks for {input_shape[0]} channels but the model takes "
                            f"{task.input_shape(manifest)[0]}", "keep C as trained")
        inp = manifest.require_input().model_copy(update={
            "channels": input_shape[0], "height": input_shape[1], "width": input_shape[2]})
        manifest = manifest.updated(input=inp)
    if spec is not None:
        manifest = _apply_spec(task, manifest, spec, console)

    head, output_names = None, None
    if sdk_compatible_model:
        variant = task.sdk_compatible_head(manifest)
        if variant is None:
            raise UserError(f"task {task.name!r} has no SDK-compatible export variant",
                            "drop --sdk_compatible_model")
        head, output_names = variant

    calibration = None
    int8_ptq = data_type == "int8" and not is_quantized(loaded.module)
    if int8_ptq and cal_image_dir is not None:
        if calibration_loader is not None:
            calibration = require_batches(
                calibration_loader(manifest, Path(cal_image_dir), batches, batch_size),
                str(cal_image_dir))
        else:
            calibration = calibration_batches(task, manifest, cal_image_dir, batches, batch_size)
    elif int8_ptq and not (cal_cache_file and Path(cal_cache_file).is_file()):
        calibration_batches(task, manifest, None, batches, batch_size)  # raises the UserError
    real_inputs = None
    if cal_image_dir is not None and calibration is None:  # real images for the parity check
        real_inputs = next(calibration_batches(task, manifest, cal_image_dir, 1,
                                               min(batch_size, 8)))

    options = ExportOptions(
        data_type=data_type,  # the input shape and examples: the task's hooks on the manifest
        output_names=output_names, head=head, real_inputs=real_inputs,
        calibration=Calibration(calibration, batches, cal_cache_file, cal_method),
        allow_parity_mismatch=allow_parity_mismatch, engine_file=engine_file,
        max_batch_size=max_batch_size)
    report = export_onnx(loaded.module, manifest, output, options, task=task, console=console)
    written = task.deployment_files(manifest, Path(output), data_type,
                                    Path(engine_file) if engine_file else None)
    if written:
        console.print(f"deployment files: {', '.join(str(p) for p in written)}")
    return report


def _apply_spec(task: Task, manifest: Manifest, spec: Path, console: Console) -> Manifest:
    """A task may read export settings from its spec; otherwise the spec is recorded only."""
    from graft.spec import read_yaml

    read = task.export_spec(manifest, spec)
    if read is not None:
        return read
    data = read_yaml(spec)
    console.print(Text(f"note: the model file carries its configuration; {spec.name} is "
                       "recorded in the ONNX metadata only", style="dim"))
    return manifest.updated(export_spec=data)


def add_prune_command(app: typer.Typer, task: Task) -> typer.Typer:
    """Add ``prune`` alone (a task with its own ``export``, e.g. Mask R-CNN's detections)."""
    name = task.name

    @app.command("prune", help=f"""Prune a trained model (TLT semantics): filters whose
normalized kernel L2 norm is below the threshold are removed; coupled layers (residual adds,
concatenations, depthwise convs and their producers) are equalized; output layers are kept.
Writes the pruned .graft model and a per-layer table (OUT.prune.csv/.json); -o may not be the
input model unless --force. Retrain it with pretrained_weights: OUT and load_graph: true.

Example: graft {name} prune -m model.graft -o model.pruned.graft -pth 0.1 -eq union""")
    def prune(
        model: Path = typer.Option(..., "--model", "-m", help="Trained .graft model."),
        output: Path = typer.Option(..., "--output", "-o", help="Pruned .graft model to write."),
        key: str | None = KEY,
        threshold: float = typer.Option(0.1, "--pruning_threshold", "-pth",
                                        help="Keep filters whose score exceeds this."),
        normalizer: str = typer.Option(
            "max", "--normalizer", "-n",
            help="Per layer, norms / max (max), norms / L2 norm of the norms x their count "
            "(L2), or raw norms (off)."),
        equalization: str = typer.Option(
            "union", "--equalization_criterion", "-eq",
            help="Merge coupled layers: union | intersection | arithmetic_mean | geometric_mean."),
        granularity: int = typer.Option(8, "--pruning_granularity", "-pg",
                                        help="Kept filters are a multiple of this."),
        min_filters: int = typer.Option(16, "--min_num_filters", "-nf",
                                        help="Keep at least this many filters per layer."),
        excluded: list[str] | None = typer.Option(
            None, "--excluded_layers", "-el",
            help="Layer names never to prune (repeat -el, or separate with commas)."),
        force: bool = typer.Option(False, "--force",
                                   help="Allow -o to be the input model (replaces it)."),
    ) -> None:
        from graft.optimize.prune import PruneOptions

        options = PruneOptions(threshold, normalizer, equalization, granularity,  # type: ignore[arg-type]
                               min_filters, _split_names(excluded))
        run_prune(task, model, output, key, options, force=force)

    return app


def add_optimize_commands(app: typer.Typer, task: Task,
                          calibration_loader: CalibrationLoader | None = None) -> typer.Typer:
    """Add ``prune`` and ``export`` to a task's typer app (returned for chaining)."""
    name = task.name
    add_prune_command(app, task)

    @app.command("export", help=f"""Export a model to ONNX (fp32, fp16 or int8 QDQ) with a
dynamic batch axis and its preprocessing in the metadata; checks it against PyTorch with
onnxruntime on random inputs and, with --cal_image_dir, on real images (OUT.parity.json).
FP32/FP16 must match PyTorch per output within atol + rtol x max|output| (fp32: 1e-4 + 1e-4,
fp16: 1e-3 + 1e-2); otherwise nothing is written but the report and the command exits with
code 3, unless --allow_parity_mismatch. INT8 is judged by the cosine similarity of its outputs
on the real images (>= 0.99; a warning only). INT8 calibrates on real images from
--cal_image_dir through the inference preprocessing (never random data) and caches the ranges
in --cal_cache_file; QAT models export their learned ranges. --engine_file also builds a
TensorRT engine.

Example: graft {name} export -m model.graft -o model.int8.onnx --data_type int8
--cal_image_dir data/train --batches 10 --batch_size 8 --cal_cache_file cal.json""")
    def export(
        model: Path = typer.Option(..., "--model", "-m", help="Trained .graft model."),
        output: Path = typer.Option(..., "--output", "-o", help="ONNX file to write (.onnx)."),
        key: str | None = KEY,
        spec: Path | None = typer.Option(None, "--experiment_spec", "-e",
                                         help="Spec file (tasks may read export settings)."),
        data_type: str = typer.Option("fp32", "--data_type", help="fp32 | fp16 | int8."),
        cal_image_dir: Path | None = typer.Option(None, "--cal_image_dir",
                                                  help="Real images: INT8 calibration, and "
                                                  "the parity check of every data type."),
        batches: int = typer.Option(10, "--batches", help="Calibration batches."),
        batch_size: int = typer.Option(8, "--batch_size", help="Calibration batch size."),
        cal_cache_file: Path | None = typer.Option(
            None, "--cal_cache_file",
            help="Calibration cache (JSON): written, or reused if it exists."),
        cal_method: str = typer.Option("minmax", "--cal_method",
                                       help="Calibration: minmax | entropy | percentile."),
        max_batch_size: int = typer.Option(16, "--max_batch_size",
                                           help="Largest batch of the TensorRT engine."),
        engine_file: Path | None = typer.Option(None, "--engine_file",
                                                help="Also build this TensorRT engine."),
        sdk_compatible_model: bool = typer.Option(
            False, "--sdk_compatible_model",
            help="Add the task's deployment post-processing layers (bpnet: PAF upsampling; "
            "classification, GestureNet: a softmax, as DeepStream's classifier expects)."),
        dims: str | None = typer.Option(None, "--input_dims", "-d",
                                        help="Export input size H,W,C (fully convolutional nets)."),
        allow_parity_mismatch: bool = typer.Option(
            False, "--allow_parity_mismatch",
            help="Write the model even if it fails the FP32/FP16 parity check (else exit 3)."),
    ) -> None:
        if data_type not in ("fp32", "fp16", "int8"):
            raise UserError(f"--data_type {data_type!r} is not fp32, fp16 or int8")
        run_export(task, model, output, key, spec=spec, data_type=data_type,
                   cal_image_dir=cal_image_dir, batches=batches, batch_size=batch_size,
                   cal_cache_file=cal_cache_file, cal_method=cal_method,
                   max_batch_size=max_batch_size, engine_file=engine_file,
                   sdk_compatible_model=sdk_compatible_model, dims=dims,
                   calibration_loader=calibration_loader,
                   allow_parity_mismatch=allow_parity_mismatch)

    return app
