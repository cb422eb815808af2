"""The graft metadata an exported model carries, and what a runner reads back from any model.

An ONNX export stores it in ``metadata_props`` (keys ``graft.*``, JSON values); a TensorRT
engine, which cannot hold it, in ``ENGINE.json`` beside it (:func:`sidecar_path`); a ``.graft``
file's manifest gives the same fields directly. :class:`ModelInfo` is the typed view every task
reads (task, classes, input size, normalization), whatever the backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graft.manifest import Manifest
from graft.runtime.backend import Axes

META_PREFIX = "graft."


def sidecar_path(path: str | Path) -> Path:
    """Where the metadata of a file that cannot hold it (a TensorRT engine) is kept."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def model_metadata(manifest: Manifest | dict[str, Any], *, input_names: list[str],
                   output_names: list[str], dynamic_axes: Axes, data_type: str = "fp32",
                   input_shape: tuple[int, ...] | None = None, qat: bool = False,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata of a model (decoded form): the manifest less layer shapes and hashes, plus
    the facts a runner needs. ``input`` holds the preprocessing (channels, height, width,
    normalization) at ``input_shape`` (C, H, W) when given, the exported size; ``extra`` is what
    a task's ``export_metadata`` hook adds."""
    typed = Manifest.of(manifest)
    m = typed.to_dict()
    for k in ("content_hash", "encrypted"):
        m.pop(k, None)
    m["architecture"] = typed.stock_architecture
    inp = typed.input.to_dict() if typed.input is not None else {}
    if input_shape is not None and len(input_shape) == 3:
        inp.update(channels=input_shape[0], height=input_shape[1], width=input_shape[2])
    m["input"] = inp
    return {
        "task": typed.task,
        "input": inp,
        "classes": list(typed.classes),
        "input_names": list(input_names),
        "output_names": list(output_names),
        "dynamic_axes": {n: {str(a): label for a, label in axes.items()}
                         for n, axes in dynamic_axes.items()},
        "data_type": data_type,
        "qat": qat,
        "manifest": m,
        **(extra or {}),
    }


def encode_metadata(meta: dict[str, Any]) -> dict[str, str]:
    """``metadata_props`` entries: ``graft.KEY`` -> JSON."""
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


def recorded_axes(metadata: dict[str, Any]) -> Axes | None:
    """The dynamic axes an export recorded (None for files exported before they were)."""
    axes = metadata.get("dynamic_axes")
    if not isinstance(axes, dict):
        return None
    return {n: {int(a): str(label) for a, label in (v or {}).items()} for n, v in axes.items()}


@dataclass(frozen=True)
class ModelInfo:
    """What a task needs to know about a model to pre- and post-process for it."""

    task: str | None
    classes: list[str] = field(default_factory=list)
    input: dict[str, Any] = field(default_factory=dict)  # channels, height, width, normalization
    data_type: str = "fp32"
    manifest: Manifest = field(default_factory=Manifest)

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> ModelInfo:
        """The typed view of a model's metadata; the manifest an export recorded is parsed
        leniently (an unreadable one reads as empty: the top-level keys still say enough)."""
        raw = metadata.get("manifest")
        try:
            manifest = Manifest.from_dict(raw) if isinstance(raw, dict) else Manifest()
        except ValueError:
            manifest = Manifest()
        inp = metadata.get("input") or (manifest.input.to_dict() if manifest.input else {})
        return cls(task=metadata.get("task", manifest.task),
                   classes=list(metadata.get("classes") or manifest.classes),
                   input=dict(inp) if isinstance(inp, dict) else {},
                   data_type=str(metadata.get("data_type", "fp32")), manifest=manifest)

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(height, width) the model was trained or exported for."""
        if "height" in self.input and "width" in self.input:
            return int(self.input["height"]), int(self.input["width"])
        return None

    @property
    def normalization(self) -> dict[str, Any] | None:
        return self.input.get("normalization")
