"""The one rule for relative paths in spec files, and the helper that applies it.

A relative path in a spec file is relative to the folder of the spec file that contains it, so
a spec and its data can move together and a command works from any working directory. A
``--set key=path`` override given on the command line is relative to the current working
directory, as a path typed in a shell is. Spec fields that hold paths are declared with
:data:`SpecPath` (or :data:`WeightsRef`, which also takes ``torchvision:``/``catalog:``
references and the names of packaged weights, ``efficientnet_lite0``);
:func:`resolve_spec_paths` makes them absolute, so every spec graft writes (the resolved
``spec.yaml`` of a run) loads again from anywhere.

Where a relative path came from is remembered, so that a "not found" error can name the base
folder it was resolved against (:func:`path_origin`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args, get_origin

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")


@dataclass(frozen=True)
class PathField:
    """Marks a spec field as a file-system path; ``refs``: ``scheme:NAME`` values are no path."""

    refs: bool = False


SpecPath = Annotated[str, PathField()]
WeightsRef = Annotated[str, PathField(refs=True)]
# a model file (relative to the spec's folder) or a Triton URL (grpc://...), left as written
ModelPath = Annotated[str, PathField(refs=True)]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # torchvision:, catalog:, not C:\
_ORIGINS: dict[str, str] = {}


def _packaged(value: str) -> bool:
    """A name of pip-installed weights (``efficientnet_lite0``), which is no path."""
    from graft.nn.packaged import is_packaged

    return is_packaged(value)


def spec_folder(spec_file: str | Path) -> Path:
    """The absolute folder of a spec file: the base of the relative paths inside it."""
    return Path(os.path.abspath(spec_file)).parent


def absolute(path: str | Path, base: str | Path) -> Path:
    """``path`` (``~`` expanded) made absolute against ``base`` without resolving symlinks."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(os.path.abspath(Path(base) / p))


def path_origin(path: str | Path) -> str:
    """`` (KEY 'given' in SOURCE, relative to BASE)`` for a path a spec gave as relative, else ''.

    Appended to "not found" errors so the user sees which folder a relative path was taken
    against.
    """
    origin = _ORIGINS.get(os.path.abspath(path))
    return f" ({origin})" if origin else ""


def _path_field(annotation: Any, metadata: list[Any]) -> PathField | None:
    for item in metadata:
        if isinstance(item, PathField):
            return item
    if get_origin(annotation) is Annotated:
        return _path_field(None, list(annotation.__metadata__))
    for arg in get_args(annotation):
        found = _path_field(arg, [])
        if found is not None:
            return found
    return None


def resolve_spec_paths(spec: M, base: str | Path, *, source: str = "spec",
                       cwd_keys: list[tuple[str, ...]] | None = None) -> M:
    """A copy of ``spec`` with every relative :data:`SpecPath` made absolute.

    ``base`` is the folder of the spec file (the working directory for specs built in Python);
    fields set by a ``--set`` override (their key paths in ``cwd_keys``) are taken relative to
    the working directory instead.
    """
    return _resolve(spec, (), Path(base), source, [tuple(k) for k in cwd_keys or []])


def _resolve(model: M, loc: tuple[str, ...], base: Path, source: str,
             cwd_keys: list[tuple[str, ...]]) -> M:
    from pydantic import BaseModel

    update: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        here = (*loc, field.alias or name)  # as the spec and --set spell it
        marker = _path_field(field.annotation, field.metadata)
        if marker is not None and isinstance(value, str) and value:
            if marker.refs and (_SCHEME.match(value) or _packaged(value)):
                continue
            from_cwd = any(here[: len(k)] == k for k in cwd_keys)
            folder = Path.cwd() if from_cwd else base
            resolved = str(absolute(value, folder))
            if resolved != value:
                update[name] = resolved
            if not Path(value).expanduser().is_absolute():
                _ORIGINS[resolved] = (
                    f"{'.'.join(here)}: {value!r} from --set is relative to the working "
                    f"directory {folder}" if from_cwd else
                    f"{'.'.join(here)}: {value!r} in {source} is relative to the spec file's "
                    f"folder {folder}")
        elif isinstance(value, BaseModel):
            new = _resolve(value, here, base, source, cwd_keys)
            if new is not value:
                update[name] = new
        elif isinstance(value, list | tuple) and any(isinstance(v, BaseModel) for v in value):
            items = [_resolve(v, here, base, source, cwd_keys) if isinstance(v, BaseModel) else v
                     for v in value]
            if any(a is not b for a, b in zip(items, value, strict=True)):
                update[name] = type(value)(items)
    return model.model_copy(update=update) if update else model
