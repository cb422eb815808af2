"""Triton Inference Server model repositories from exported models.

``REPO/NAME/config.pbtxt`` + ``REPO/NAME/1/model.onnx`` (platform ``onnxruntime_onnx``) or
``REPO/NAME/1/model.plan`` (``tensorrt_plan``). Input and output names, data types and dims
(without the batch axis when the model batches) are read from the model itself: the ONNX graph,
or for an engine the ``ENGINE.json`` that ``graft TASK export --engine_file`` writes beside it.
A classifier with class names also gets ``labels.txt`` so Triton's classification extension
can return names.

graft's metadata of the model (task, classes, input size, normalization, crop rule, training
spec) travels in the config as the parameter ``graft.metadata`` (JSON), so a client needs only
the server's URL: :class:`graft.runtime.triton_backend.TritonBackend` reads it back.

Dynamic batching only merges requests when ``max_batch_size`` > 1 (the blog's repository had
``max_batch_size: 1`` with ``dynamic_batching {}``, which never batches; refused here). It gets
``preferred_batch_size`` (default: half the largest batch and the largest) and
``max_queue_delay_microseconds`` (how long a request may wait for others).

``runtime="python"`` writes the same repository for Triton's Python backend instead: a
``model.py`` (:mod:`graft.deploy.triton_python_model`) that runs ``model.onnx`` with onnxruntime
on the CPU, merging the requests the dynamic batcher hands it into one batch. That serves a
model on Triton builds without the onnxruntime backend, such as the server ``nvidia-pytriton``
bundles (:mod:`graft.deploy.triton_server`).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from graft.errors import UserError, require_file
from graft.fsutil import atomic_path, check_output_dir, write_text

# ONNX TensorProto element types -> Triton data types
_ONNX_TO_TRITON = {1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16",
                   5: "TYPE_INT16", 6: "TYPE_INT32", 7: "TYPE_INT64", 8: "TYPE_STRING",
                   9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64", 12: "TYPE_UINT32",
                   13: "TYPE_UINT64", 16: "TYPE_BF16"}
_NUMPY_TO_TRITON = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "float64": "TYPE_FP64",
                    "int8": "TYPE_INT8", "uint8": "TYPE_UINT8", "int32": "TYPE_INT32",
                    "int64": "TYPE_INT64", "bool": "TYPE_BOOL", "bfloat16": "TYPE_BF16"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class TensorSpec:
    name: str
    data_type: str  # Triton TYPE_*
    shape: list[int]  # full shape, -1 for dynamic axes


@dataclass
class ModelIO:
    platform: str
    filename: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    metadata: dict[str, Any]
    max_batch: int | None = None  # an engine's optimization-profile maximum


def _onnx_io(path: Path) -> ModelIO:
    import onnx

    from graft.runtime.metadata import read_metadata

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf decode errors have no common base class
        raise UserError(f"{path} is not a readable ONNX model", "re-export it") from None
    initializers = {i.name for i in model.graph.initializer}

    def spec(value: Any) -> TensorSpec:
        t = value.type.tensor_type
        dtype = _ONNX_TO_TRITON.get(t.elem_type)
        if dtype is None:
            raise UserError(f"{path}: tensor {value.name!r} has an element type Triton lacks")
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        return TensorSpec(value.name, dtype, dims)

    inputs = [spec(v) for v in model.graph.input if v.name not in initializers]
    meta = read_metadata({p.key: p.value for p in model.metadata_props})
    return ModelIO("onnxruntime_onnx", "model.onnx", inputs,
                   [spec(v) for v in model.graph.output], meta)


def _engine_io(path: Path) -> ModelIO:
    from graft.runtime.metadata import sidecar_path

    side = sidecar_path(path)
    if not side.is_file():
        raise UserError(f"{side} (the engine's description) is missing",
                        "build engines with `graft TASK export --engine_file`, which writes it")
    info = json.loads(side.read_text(encoding="utf-8"))

    def spec(t: dict[str, Any]) -> TensorSpec:
        return TensorSpec(t["name"], _NUMPY_TO_TRITON[t.get("dtype", "float32")],
                          [int(d) for d in t["shape"]])

    return ModelIO("tensorrt_plan", "model.plan", [spec(t) for t in info["inputs"]],
                   [spec(t) for t in info["outputs"]], info.get("metadata", {}),
                   info.get("max_batch_size"))


def recorded_batching(io: ModelIO) -> bool | None:
    """Whether every tensor has a batch axis by the dynamic axes graft's export recorded
    (Mask R-CNN's single image has none: axis 0 of its outputs counts detections); None for a
    model without that record."""
    from graft.runtime.backend import complete_axes, is_batched
    from graft.runtime.metadata import recorded_axes

    declared = recorded_axes(io.metadata)
    inputs, outputs = [t.name for t in io.inputs], [t.name for t in io.outputs]
    if declared is None or not set(declared) <= set(inputs) | set(outputs):
        return None
    axes = complete_axes(inputs, outputs, declared)
    return all(is_batched(axes[n]) for n in inputs + outputs)


def model_io(path: str | Path) -> ModelIO:
    p = require_file(path, "model")
    if p.suffix.lower() == ".onnx":
        return _onnx_io(p)
    if p.suffix.lower() in (".engine", ".plan", ".trt"):
        return _engine_io(p)
    raise UserError(f"{p} is not an exported model", "pass a .onnx or .engine file "
                    "(make one with `graft TASK export`)")


def _dims(values: list[int]) -> str:
    return "[ " + ", ".join(str(v) for v in values) + " ]"


@dataclass
class Batching:
    """Triton's dynamic batcher settings (``dynamic_batching { ... }``)."""

    preferred_batch_size: list[int]
    max_queue_delay_microseconds: int = 1000

    @classmethod
    def default(cls, max_batch_size: int, preferred: list[int] | None = None,
                delay_us: int | None = None) -> Batching:
        sizes = sorted(set(preferred or [n for n in (max_batch_size // 2, max_batch_size)
                                         if n > 1]))
        bad = [n for n in sizes if not 1 <= n <= max_batch_size]
        if bad:
            raise UserError(f"preferred batch size {bad[0]} is outside 1..{max_batch_size}",
                            "pass sizes up to --max_batch_size")
        if delay_us is not None and delay_us < 0:
            raise UserError(f"--max_queue_delay_us must be >= 0, got {delay_us}")
        return cls(sizes, 1000 if delay_us is None else delay_us)

    def text(self) -> str:
        return ("dynamic_batching {\n"
                f"  preferred_batch_size: {_dims(self.preferred_batch_size)}\n"
                f"  max_queue_delay_microseconds: {self.max_queue_delay_microseconds}\n}}")


def _parameter(key: str, value: str) -> str:
    """A ``parameters`` entry; json.dumps quotes and escapes the way protobuf text reads."""
    return (f'parameters {{\n  key: "{key}"\n  value: {{ string_value: '
            f'{json.dumps(value)} }}\n}}')


def render_config(name: str, io: ModelIO, max_batch_size: int,
                  batching: Batching | None | bool = None, label_output: str | None = None,
                  runtime: str = "onnxruntime", instances: int = 1) -> str:
    """config.pbtxt text (protobuf text format of Triton's ``ModelConfig``)."""
    if batching is True:
        batching = Batching.default(max_batch_size)
    batched = max_batch_size > 0
    engine = 'backend: "python"' if runtime == "python" else f'platform: "{io.platform}"'
    lines = [f'name: "{name}"', engine, f"max_batch_size: {max_batch_size}"]
    for section, tensors in (("input", io.inputs), ("output", io.outputs)):
        entries = []
        for t in tensors:
            dims = t.shape[1:] if batched else t.shape
            body = [f'    name: "{t.name}"', f"    data_type: {t.data_type}",
                    f"    dims: {_dims(dims)}"]
            if section == "output" and t.name == label_output:
                body.append('    label_filename: "labels.txt"')
            entries.append("  {\n" + "\n".join(body) + "\n  }")
        lines.append(f"{section} [\n" + ",\n".join(entries) + "\n]")
    if batching:
        lines.append(batching.text())
    if runtime == "python" or instances != 1:
        kind = "KIND_CPU" if runtime == "python" else "KIND_AUTO"
        lines.append(f"instance_group [\n  {{ kind: {kind} count: {instances} }}\n]")
    if io.metadata:
        from graft.runtime.triton_backend import METADATA_PARAMETER

        lines.append(_parameter(METADATA_PARAMETER, json.dumps(io.metadata, default=str)))
    return "\n".join(lines) + "\n"


def write_repository(model: str | Path, repo: str | Path, name: str,
                     max_batch_size: int | None = None, dynamic_batching: bool = False,
                     version: int = 1, *,
                     preferred_batch_size: list[int] | None = None,
                     max_queue_delay_us: int | None = None, runtime: str = "onnxruntime",
                     instances: int = 1) -> Path:
    """Write ``REPO/NAME/{config.pbtxt, VERSION/model.*}``; returns the model directory.

    ``max_batch_size`` None: 16 for a model with a batch axis, 0 for one without (Mask R-CNN).
    ``runtime``: ``onnxruntime`` (or ``tensorrt`` for an engine: the file decides) or
    ``python`` (Triton's Python backend running the ONNX model, see the module docstring)."""
    if not _NAME.match(name):
        raise UserError(f"model name {name!r} has characters Triton paths cannot hold",
                        "use letters, digits, '_', '-' and '.'")
    if max_batch_size is not None and max_batch_size < 0:
        raise UserError(f"--max_batch_size must be >= 0, got {max_batch_size}")
    check_output_dir(repo, "model repository (-o)")
    io = model_io(model)
    recorded = recorded_batching(io)
    batchable = recorded if recorded is not None else all(
        t.shape and t.shape[0] == -1 for t in io.inputs + io.outputs)
    if max_batch_size is None:
        max_batch_size = 16 if batchable else 0
    if max_batch_size > 0 and recorded is False:
        raise UserError(f"{model} has no batch axis (one sample a request), so Triton cannot "
                        "batch it", "pass --max_batch_size 0 (its default)")
    if max_batch_size > 0 and not batchable:
        raise UserError(f"{model} has a fixed batch size, so Triton cannot batch it",
                        "pass --max_batch_size 0, or re-export it "
                        "(graft exports a dynamic batch axis)")
    if dynamic_batching and max_batch_size <= 1:
        raise UserError(f"--dynamic_batching with --max_batch_size {max_batch_size} cannot merge "
                        "requests (Triton batches at most max_batch_size)",
                        "pass --max_batch_size 8 (or more) with --dynamic_batching")
    if runtime not in ("onnxruntime", "python"):
        raise UserError(f"unknown --runtime {runtime!r}", "use onnxruntime or python")
    if runtime == "python" and io.platform != "onnxruntime_onnx":
        raise UserError("--runtime python serves ONNX models", "pass the .onnx export")
    if instances < 1:
        raise UserError(f"--instances must be >= 1, got {instances}")
    batching = Batching.default(max_batch_size, preferred_batch_size, max_queue_delay_us) \
        if dynamic_batching else None
    if io.max_batch and max_batch_size > io.max_batch:
        raise UserError(f"the engine was built for batches up to {io.max_batch}",
                        f"pass --max_batch_size {io.max_batch} or rebuild the engine")

    classes = list(io.metadata.get("classes") or [])
    label_output = None
    if classes and len(io.outputs) == 1 and io.outputs[0].shape[-1] == len(classes):
        label_output = io.outputs[0].name

    model_dir = Path(repo) / name
    version_dir = model_dir / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(version_dir / io.filename) as tmp:
        shutil.copyfile(model, tmp)
    if runtime == "python":
        from importlib.resources import files

        # a file of this package, not imported: it runs inside Triton's Python stub
        template = files("graft.deploy").joinpath("triton_python_model.py")
        write_text(version_dir / "model.py", template.read_text(encoding="utf-8"))
    write_text(model_dir / "config.pbtxt",
               render_config(name, io, max_batch_size, batching, label_output, runtime,
                             instances))
    if label_output:
        write_text(model_dir / "labels.txt", "\n".join(classes) + "\n")
    return model_dir


def triton_command(
    model: Path = typer.Option(..., "--model", "-m", help="Exported model: .onnx or .engine."),
    output: Path = typer.Option(..., "--output", "-o", help="Model repository directory."),
    name: str = typer.Option(..., "--name", help="Model name in the repository."),
    max_batch_size: int | None = typer.Option(
        None, "--max_batch_size", help="Largest batch Triton sends (0: no batching; default "
        "16, or 0 for a model without a batch axis such as Mask R-CNN)."),
    dynamic_batching: bool = typer.Option(False, "--dynamic_batching",
                                          help="Let Triton merge requests into batches."),
    preferred_batch_size: list[int] = typer.Option(
        [], "--preferred_batch_size", help="Batch sizes the batcher aims for (repeatable; "
        "default: half the largest and the largest)."),
    max_queue_delay_us: int | None = typer.Option(
        None, "--max_queue_delay_us", help="Microseconds a request may wait for others "
        "(default 1000)."),
    runtime: str = typer.Option("onnxruntime", "--runtime", help="onnxruntime (Triton's ONNX "
                                "backend) or python (Triton's Python backend running "
                                "onnxruntime on the CPU)."),
    instances: int = typer.Option(1, "--instances", help="Model instances Triton runs."),
) -> None:
    """Write a Triton Inference Server model repository for an exported model, with graft's
    metadata in the config (clients need only the URL: grpc://HOST:8001/NAME).

    Example: graft deploy triton -m gesturenet.onnx -o model_repo --name gesturenet
    --max_batch_size 16 --dynamic_batching --preferred_batch_size 8 --max_queue_delay_us 2000
    """
    from graft.console import console

    model_dir = write_repository(model, output, name, max_batch_size, dynamic_batching,
                                 preferred_batch_size=preferred_batch_size or None,
                                 max_queue_delay_us=max_queue_delay_us, runtime=runtime,
                                 instances=instances)
    console.print(f"Triton model repository: {model_dir} (serve with "
                  f"`tritonserver --model-repository {Path(output)}`)")
