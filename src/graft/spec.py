"""Spec files: YAML loading, strict pydantic validation and ``--set key.path=value`` overrides.

Every task describes its spec as pydantic models derived from :class:`StrictModel`. Unknown keys
are errors that suggest the closest valid key, so a typo never silently falls back to a default;
a key given twice is an error too. Relative paths follow one rule (:mod:`graft.spec_paths`):
relative to the spec file's folder, or to the working directory when given with ``--set``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from graft.errors import UserError
from graft.fsutil import write_text
from graft.spec_paths import ModelPath, SpecPath, WeightsRef, resolve_spec_paths, spec_folder

__all__ = ["COMMENTED", "ModelPath", "SpecPath", "StrictModel", "WeightsRef", "dump_spec",
           "load_spec", "read_yaml", "validate"]

# ``Field(json_schema_extra=COMMENTED)``: ``graft TASK spec`` prints the field commented out;
# for a section whose defaults a validator derives from other keys (writing them would clash).
COMMENTED = {"template": "commented"}

SpecT = TypeVar("SpecT", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every spec section: unknown keys are rejected, assignments are validated.

    A field whose YAML key cannot be a Python attribute (DetectNet_v2's ``model_config``, a
    name pydantic reserves) declares it as its ``alias``: specs are read and written with it.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(),
                              serialize_by_alias=True)


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names one key twice (plain YAML keeps the last one silently)."""

    def __init__(self, key: Any, first_line: int, second_line: int) -> None:
        super().__init__(f"key {key!r} appears twice (lines {first_line} and {second_line})")
        self.key, self.lines = key, (first_line, second_line)


class SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys (a YAML merge ``<<`` may still override)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            if first is not None:
                raise DuplicateKeyError(key, first, line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML (or JSON) mapping, turning I/O and syntax problems into one-line errors."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"spec file not found: {p}", "check the -e/--spec path")
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=SpecLoader)  # noqa: S506
    except DuplicateKeyError as exc:
        raise UserError(f"spec {p}: {exc}", "keep one of them") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"spec {p} is not valid YAML{where}", "fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"spec {p} must be a mapping of sections, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and a YAML-typed value."""
    if "=" not in text:
        raise UserError(f"--set {text!r} is not key.path=value", "e.g. --set trainer.epochs=5")
    key, raw = text.split("=", 1)
    keys = [k for k in key.strip().split(".") if k]
    if not keys:
        raise UserError(f"--set {text!r} has an empty key", "e.g. --set trainer.epochs=5")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return keys, value


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw spec mapping (validation happens afterwards)."""
    for text in overrides or []:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                raise UserError(f"--set {text!r}: {k!r} is not a section")
            node = nxt
        node[keys[-1]] = value
    return data


def _keys(model: Any) -> dict[str, Any]:
    """A model's fields by their spec key (the alias where one is set)."""
    fields = getattr(model, "model_fields", None) or {}
    return {f.alias or name: f for name, f in fields.items()}


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Valid keys of the (nested) model that ``loc`` points into."""
    return list(_keys(_model_at(model, loc[:-1])))


def _field_at(model: type[BaseModel], loc: tuple) -> Any:
    """The pydantic FieldInfo that ``loc`` names, or None."""
    return _keys(_model_at(model, loc[:-1])).get(loc[-1]) if loc else None


def _model_at(model: type[BaseModel], loc: tuple) -> Any:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = _keys(current).get(part)
        if field is None:
            return None
        current = _model_of(field.annotation)
        if current is None:
            return None
    return current


def _too_few_items(model: type[BaseModel], loc: tuple) -> str | None:
    """For a fixed-length tuple field given too few values: what it expects."""
    field = _field_at(model, loc)
    args = _tuple_args(field.annotation) if field is not None else None
    if not args:
        return None
    meaning = f": {field.description}" if field.description else ""
    default = field.get_default(call_default_factory=True)
    example = f", e.g. {list(default)}" if isinstance(default, tuple) else ""
    return f"needs {len(args)} values{meaning}{example}"


def _tuple_args(annotation: Any) -> tuple | None:
    """The item types of a fixed-length ``tuple[...]`` (also inside ``X | None``)."""
    if getattr(annotation, "__origin__", None) is tuple:
        args = annotation.__args__
        return None if ... in args else args
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _tuple_args(arg)
        if found:
            return found
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def describe_validation_error(exc: ValidationError, model: type[BaseModel], source: str) -> str:
    """One line naming the first problem and the fix (closest key for typos)."""
    err = exc.errors()[0]
    loc = tuple(err.get("loc", ()))
    dotted = ".".join(str(p) for p in loc) or "(root)"
    if err["type"] == "extra_forbidden":
        valid = _fields_at(model, loc)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = (
            f"did you mean {'.'.join([*map(str, loc[:-1]), close[0]])!r}?"
            if close
            else (f"valid keys here: {', '.join(valid)}" if valid else "remove it")
        )
        return f"{source}: unknown key {dotted!r} ({hint})"
    if err["type"] == "missing" and loc and isinstance(loc[-1], int):
        parent = ".".join(str(p) for p in loc[:-1])
        expects = _too_few_items(model, loc[:-1]) or "needs more values"
        return f"{source}: {parent} {expects} (got {err.get('input')!r})"
    if err["type"] == "missing":
        return f"{source}: required key {dotted!r} is missing (add it to the spec)"
    given = err.get("input")
    given_txt = f" (got {given!r})" if not isinstance(given, dict | list) else ""
    if err["type"] == "value_error":  # a validator's own words, without pydantic's prefix
        message = str(err.get("ctx", {}).get("error", err["msg"]))
        return f"{source}: {dotted}: {message}{given_txt}" if loc else f"{source}: {message}"
    return f"{source}: {dotted}: {err['msg']}{given_txt}"


def validate(model: type[SpecT], data: dict[str, Any], source: str = "spec") -> SpecT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, model, source)) from None


def load_spec(
    path: str | Path | None, model: type[SpecT], overrides: list[str] | None = None
) -> SpecT:
    """Load a YAML spec, apply ``--set`` overrides and validate it against ``model``.

    A problem in an override names the override, not the file. Relative paths come back
    absolute: from the file relative to its folder, from ``--set`` relative to the working
    directory.
    """
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    source = str(path) if path is not None else "spec"
    keys = [(text, tuple(parse_override(text)[0])) for text in overrides or []]
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        loc = tuple(exc.errors()[0].get("loc", ()))
        blamed = [text for text, k in keys if loc[: len(k)] == k]
        where = f"--set {blamed[-1]}" if blamed else source
        raise UserError(describe_validation_error(exc, model, where)) from None
    base = spec_folder(path) if path is not None else Path.cwd()
    return resolve_spec_paths(spec, base, source=source, cwd_keys=[k for _, k in keys])


def dump_spec(spec: BaseModel) -> str:
    """The fully resolved spec as YAML, defaults included, with absolute paths so the file
    loads the same from any working directory (a spec built in Python: relative to it)."""
    spec = resolve_spec_paths(spec, Path.cwd())
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)


def save_resolved_spec(spec: BaseModel, path: str | Path) -> None:
    write_text(path, dump_spec(spec))
