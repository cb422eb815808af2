"""The manifest of a ``.graft`` file as a typed, versioned model.

:mod:`graft.archive` stores the manifest as JSON next to the weights and knows nothing of its
fields; this module is what everything else reads: ``model.manifest.input.height`` instead of
``manifest["input"]["height"]``, so a renamed or missing field is one place to change and a
type error, not a ``KeyError`` deep inside export or inference.

Versions (``format_version``, shared with the archive container):

1. the content hash covered the tensors only;
2. the hash covers the manifest too;
3. ``graft_version`` and ``created`` move into a ``provenance`` section, which also records
   where the weights came from (the model a prune started from, the metric that chose the
   checkpoint).

:meth:`Manifest.from_dict` reads every version (older layouts are migrated in memory; the file is
untouched) and :meth:`Manifest.to_dict` writes the current one. A task's ``architecture`` stays a
free-form mapping: its schema belongs to the task (``Task.build_model`` reads it). Keys this model
does not declare (a task's own, a newer minor addition) are kept and written back unchanged.

For scripts written against the plain-dict manifest, a :class:`Manifest` and each of its
sections also answer read-only ``m["key"]``, ``get``, ``keys`` and ``items`` over their JSON form;
graft's own code reads the typed fields.
"""

from __future__ import annotations

from collections.abc import ItemsView, KeysView, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMAT_VERSION = 3  # 3: provenance section; 2: the content hash covers the manifest too

IMAGENET_DEFAULT_SCALE = 1 / 255


class _Section(BaseModel):
    """A manifest section: typed known keys, unknown ones kept as they came."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    # -- the read-only mapping view of the JSON form ----------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def keys(self) -> KeysView[str]:
        return self.to_dict().keys()

    def items(self) -> ItemsView[str, Any]:
        return self.to_dict().items()


class Normalization(_Section):
    """What the network sees: ``(x * scale - mean) / std`` of the 0..255 image in
    ``channel_order``. Keys a file leaves out follow torchvision's conventions
    (:meth:`resolved`)."""

    mode: str | None = None
    scale: float | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    channel_order: Literal["RGB", "BGR"] | None = None

    @classmethod
    def of(cls, norm: Normalization | Mapping[str, Any]) -> Normalization:
        return norm if isinstance(norm, Normalization) else cls.model_validate(dict(norm))

    def resolved(self, channels: int = 3) -> Normalization:
        """Every key present: scale 1/255, mean 0, std 1, RGB where the file says nothing."""
        return self.model_copy(update={
            "scale": IMAGENET_DEFAULT_SCALE if self.scale is None else self.scale,
            "mean": [0.0] * channels if self.mean is None else self.mean,
            "std": [1.0] * channels if self.std is None else self.std,
            "channel_order": self.channel_order or "RGB",
        })


class InputSpec(_Section):
    """One network input: its size, pixel format and normalization."""

    channels: int = 3
    height: int | None = None  # None only in hand-made partial manifests
    width: int | None = None
    dtype: str | None = None  # e.g. "uint8 RGB 0..255"
    normalization: Normalization | None = None
    stride: int | None = None  # output stride of dense-prediction tasks
    resize: dict[str, Any] | None = None  # image -> input (input_transform)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W); ``KeyError`` when the size is not recorded."""
        if self.height is None or self.width is None:
            raise KeyError("input.height" if self.height is None else "input.width")
        return self.channels, self.height, self.width


class Pruning(_Section):
    """What ``prune`` did (its options are kept as extra keys: threshold, granularity ...)."""

    source: str | None = None
    params_before: int | None = None
    params_after: int | None = None
    layers_pruned: int | None = None


class Selection(_Section):
    """The validation metric that chose the checkpoint these weights come from."""

    monitor: str
    mode: Literal["min", "max"]
    score: float | None = None


class Provenance(_Section):
    """Where the weights came from."""

    graft_version: str | None = None
    created: str | None = None  # ISO 8601, UTC
    parent: str | None = None  # content hash of the model this one was derived from (prune)
    selected_by: Selection | None = None


class Manifest(_Section):
    """A ``.graft`` file's manifest; see the module docstring."""

    format_version: int | None = None  # set by the archive when written
    task: str | None = None
    architecture: dict[str, Any] = Field(default_factory=dict)
    classes: list[str] = Field(default_factory=list)
    joints: list[str] | None = None  # keypoint names (pose tasks)
    input: InputSpec | None = None
    spec: dict[str, Any] | None = None  # the resolved training spec
    metrics: dict[str, Any] = Field(default_factory=dict)
    params: int | None = None
    pruning: Pruning | None = None
    export_spec: dict[str, Any] | None = None
    provenance: Provenance = Field(default_factory=Provenance)
    dataset: str | dict[str, Any] | None = None
    license: str | None = None
    description: str | None = None
    encrypted: bool = False
    content_hash: str | None = None

    # -- reading and writing ---------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Parse any format's JSON form (older layouts migrated); ``ValueError`` if it does not
        fit (the archive turns that into a one-line error naming the file)."""
        raw = dict(data)
        legacy = {k: raw.pop(k) for k in ("graft_version", "created") if k in raw}
        if legacy:  # formats 1 and 2 (and in-memory dicts written the old way)
            prov = dict(raw.get("provenance") or {})
            for k, v in legacy.items():
                prov.setdefault(k, v)
            raw["provenance"] = prov
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "manifest"
            raise ValueError(f"{where}: {first['msg']}") from None

    @classmethod
    def of(cls, manifest: Manifest | Mapping[str, Any]) -> Manifest:
        """``manifest`` as a :class:`Manifest` (a dict is parsed, a Manifest passed through)."""
        return manifest if isinstance(manifest, Manifest) else cls.from_dict(manifest)

    def updated(self, **fields: Any) -> Manifest:
        """A copy with ``fields`` replaced (validated like a parsed file)."""
        return Manifest.from_dict({**self.to_dict(), **{
            k: v.to_dict() if isinstance(v, _Section) else v for k, v in fields.items()}})

    # -- derived facts ---------------------------------------------------------------------
    def require_task(self) -> str:
        if not self.task:
            raise KeyError("task")
        return self.task

    def require_input(self) -> InputSpec:
        """The input spec; a manifest without one cannot be exported or calibrated."""
        if self.input is None:
            raise KeyError("input")
        return self.input

    @property
    def layer_shapes(self) -> dict[str, Any] | None:
        """Per-layer shapes recorded at save time (pruned networks rebuild from them)."""
        shapes = self.architecture.get("layer_shapes")
        return shapes or None

    @property
    def stock_architecture(self) -> dict[str, Any]:
        """The architecture section without recorded layer shapes: the unpruned network."""
        return {k: v for k, v in self.architecture.items() if k != "layer_shapes"}

    @property
    def qat(self) -> bool:
        return bool(self.architecture.get("qat"))

    @property
    def normalization(self) -> Normalization | None:
        return self.input.normalization if self.input is not None else None
