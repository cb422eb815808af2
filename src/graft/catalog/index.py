"""Model cards and the catalog's ``index.json``, validated with pydantic.

A catalog is a directory (or the same tree behind an HTTP(S) server)::

    index.json                                   # CatalogIndex: every card, the source of truth
    models/NAME/VERSION/card.json                # the card of one version, for people browsing
    models/NAME/VERSION/NAME-VERSION-SHA12.graft # the model file; the hash in the name means a
                                                 # forced re-push never overwrites a file in use
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from graft.catalog import semver
from graft.errors import UserError
from graft.manifest import Manifest

INDEX_FORMAT_VERSION = 1
INDEX_FILE = "index.json"
REF_PREFIX = "catalog:"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_NAME_RE = re.compile(NAME_PATTERN)


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise UserError(f"model name {name!r} is not allowed",
                        "use letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``[catalog:]NAME[:VERSION]`` -> (NAME, VERSION or None for the latest)."""
    text = ref.strip()
    if text.startswith(REF_PREFIX):
        text = text[len(REF_PREFIX):]
    name, _, version = text.partition(":")
    check_name(name)
    if version in ("", "latest"):
        return name, None
    return name, semver.check(version)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class ModelCard(BaseModel):
    """What a catalog says about one version of one model.

    Unknown keys are kept (``extra="allow"``) so a card written by a newer graft round-trips.
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str = Field(pattern=NAME_PATTERN)
    version: str
    task: str
    architecture: str
    dataset: str = "unspecified"
    metrics: dict[str, float] = Field(default_factory=dict)
    input_size: list[int] | None = Field(None, description="[channels, height, width]")
    params: int | None = Field(None, ge=0)
    license: str = "unspecified"
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0, description="bytes of the model file")
    file: str = Field(description="path of the model file, relative to the catalog root")
    encrypted: bool = False
    classes: list[str] = Field(default_factory=list)
    description: str = ""
    graft_version: str | None = None
    pushed: str | None = None

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not semver.is_valid(value):
            raise ValueError(f"{value!r} is not a semantic version (MAJOR.MINOR.PATCH)")
        return value

    @field_validator("file")
    @classmethod
    def _relative(cls, value: str) -> str:
        # A catalog must not point outside itself (an index is data from someone else).
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
            raise ValueError(f"{value!r} must be a relative path inside the catalog")
        return value

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def filename(self) -> str:
        """The name a pulled copy gets: NAME-VERSION.graft."""
        return f"{self.name}-{self.version}.graft"


class CatalogIndex(BaseModel):
    """The whole catalog: one card per (name, version)."""

    model_config = ConfigDict(extra="allow")

    format_version: int = INDEX_FORMAT_VERSION
    updated: str | None = None
    models: list[ModelCard] = Field(default_factory=list)

    @classmethod
    def parse(cls, data: Any, source: str) -> CatalogIndex:
        """Validate raw JSON; a malformed index is a UserError naming the catalog."""
        if isinstance(data, dict) and int(data.get("format_version", 1)) > INDEX_FORMAT_VERSION:
            raise UserError(f"{source} was written by a newer graft "
                            f"(index format {data['format_version']})", "upgrade graft")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(root)"
            raise UserError(f"{source} is not a valid catalog index: {where}: {err['msg']}",
                            "re-create it with `graft catalog push`") from None

    def names(self) -> list[str]:
        return sorted({card.name for card in self.models})

    def versions(self, name: str) -> list[ModelCard]:
        """Every version of ``name``, oldest first in SemVer order."""
        cards = [card for card in self.models if card.name == name]
        return sorted(cards, key=lambda card: semver.sort_key(card.version))

    def latest_cards(self) -> list[ModelCard]:
        """The latest version of each model, by name."""
        return [self.find(name) for name in self.names()]

    def get(self, name: str, version: str) -> ModelCard | None:
        return next((c for c in self.models if c.name == name and c.version == version), None)

    def find(self, name: str, version: str | None = None) -> ModelCard:
        """The card for ``name:version`` (``None`` = latest), or a UserError saying what exists."""
        cards = self.versions(name)
        if not cards:
            close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
            fix = f"did you mean {close[0]!r}?" if close else (
                "`graft catalog list` shows the models" if self.models else "the catalog is empty")
            raise UserError(f"no model named {name!r} in the catalog", fix)
        if version is None:
            newest = semver.latest([c.version for c in cards])
            return next(c for c in cards if c.version == newest)
        card = next((c for c in cards if c.version == version), None)
        if card is None:
            have = ", ".join(c.version for c in cards)
            raise UserError(f"{name!r} has no version {version!r}", f"available: {have}")
        return card

    def with_card(self, card: ModelCard) -> CatalogIndex:
        """A new index with ``card`` added, replacing any card of the same name:version."""
        others = [c for c in self.models if (c.name, c.version) != (card.name, card.version)]
        models = sorted([*others, card], key=lambda c: (c.name, semver.sort_key(c.version)))
        return self.model_copy(update={"models": models, "updated": _now()})


def _architecture_name(arch: Any) -> str:
    if isinstance(arch, str):
        return arch
    if isinstance(arch, dict):
        for key in ("name", "arch", "backbone", "type"):
            if isinstance(arch.get(key), str):
                return arch[key]
    return "unspecified"


def _dataset_name(dataset: str | dict[str, Any] | None) -> str | None:
    if isinstance(dataset, str):
        return dataset
    if isinstance(dataset, dict) and isinstance(dataset.get("name"), str):
        return dataset["name"]
    return None


MAX_CARD_METRICS = 32


def _numeric_metrics(metrics: Any) -> dict[str, float]:
    """Headline scalars for the card: top-level and one section deep (``val.top1``).

    Deeper tables (per-class scores, confusion matrices) stay in the model's manifest; at most
    ``MAX_CARD_METRICS`` entries keep ``index.json`` small for catalogs of many models.
    """
    out: dict[str, float] = {}
    if not isinstance(metrics, dict):
        return out
    for key, value in metrics.items():
        section = value if isinstance(value, dict) else {"": value}
        for sub, scalar in section.items():
            if isinstance(scalar, int | float) and not isinstance(scalar, bool):
                out[f"{key}.{sub}" if sub else str(key)] = float(scalar)
    return dict(list(out.items())[:MAX_CARD_METRICS])


def card_from_manifest(manifest: Manifest | Mapping[str, Any], *, name: str, version: str,
                       sha256: str, size: int, file: str, dataset: str | None = None,
                       license: str | None = None, description: str | None = None) -> ModelCard:
    """Build a card from a ``.graft`` manifest; explicit arguments win over manifest values."""
    m = Manifest.of(manifest)
    return ModelCard(
        name=check_name(name),
        version=semver.check(version),
        task=m.task or "unspecified",
        architecture=_architecture_name(m.architecture),
        dataset=dataset or _dataset_name(m.dataset) or "unspecified",
        metrics=_numeric_metrics(m.metrics),
        input_size=list(m.input.shape) if m.input is not None else None,
        params=m.params,
        license=license or m.license or "unspecified",
        sha256=sha256,
        size=size,
        file=file,
        encrypted=m.encrypted,
        classes=[str(c) for c in m.classes],
        description=description or m.description or "",
        graft_version=m.provenance.graft_version,
        pushed=_now(),
    )
