"""Specs that document themselves: any pydantic spec model as commented YAML or a Markdown table.

A generic walker over the model's fields (their YAML key, type, default, allowed values, bounds
and ``Field(description=...)``), so a task provides only its models (``Task.spec_models``):
``graft TASK spec`` prints a spec a user can start from, and ``python -m graft.docs_gen``
writes the ``docs/specs/TASK.md`` reference from the same walk.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined, to_jsonable_python

from graft.spec import COMMENTED
from graft.spec_paths import PathField

REQUIRED = object()  # the default of a field the spec must give


@dataclass(frozen=True)
class FieldDoc:
    """One field of a spec section, as a user reads it."""

    key: str  # the YAML key (the alias where one is set)
    path: str  # dotted from the spec's top
    type: str  # in words: int, path, list of float, [int, int], section, ...
    default: Any  # JSON-like, or REQUIRED
    allowed: tuple[Any, ...]  # Literal/Enum values, else ()
    bounds: str  # ">= 1, < 1", or ""
    description: str
    section: type[BaseModel] | None  # a nested section (also the item of a list/mapping)
    container: str  # "" for a value or a section, "list" / "mapping" of sections
    optional_section: bool  # a section that is absent (null) unless given
    commented: bool = False  # printed commented out: its defaults follow other keys


def model_summary(model: type[BaseModel]) -> str:
    """The first paragraph of a section's docstring, as one line."""
    doc = inspect.getdoc(model) if model.__doc__ else ""
    if not doc or model.__doc__ == BaseModel.__doc__:
        return ""
    text = " ".join(doc.split("\n\n")[0].split())
    return re.sub(r":\w+:`([^`]+)`", r"`\1`", text).replace("``", "`")  # reST -> plain


def _strip_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    meta: list[Any] = []
    while get_origin(annotation) is Annotated:
        meta += list(annotation.__metadata__)
        annotation = annotation.__origin__
    return annotation, meta


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_args(annotation: Any) -> tuple[Any, ...] | None:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return None


def type_words(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A type as a spec writer reads it."""
    annotation, meta = _strip_annotated(annotation)
    for item in [*(metadata or []), *meta]:
        if isinstance(item, PathField):
            return "path or reference (scheme:NAME)" if item.refs else "path"
    if annotation is type(None):
        return "null"
    union = _union_args(annotation)
    if union is not None:
        words = [type_words(a) for a in union if a is not type(None)]
        joined = " or ".join(dict.fromkeys(words))
        return f"{joined} or null" if type(None) in union else joined
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        kinds = {type(a).__name__ for a in args}
        return "one of the values" if len(kinds) > 1 else next(iter(kinds))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "str"
    if _is_model(annotation):
        return "section"
    if origin in (list, set, frozenset) or (origin is tuple and len(args) == 2
                                            and args[1] is Ellipsis):
        return f"list of {type_words(args[0]) if args else 'values'}"
    if origin is tuple:
        return "[" + ", ".join(type_words(a) for a in args) + "]"
    if origin is dict:
        return f"mapping of {type_words(args[0])} to {type_words(args[1])}"
    return getattr(annotation, "__name__", str(annotation))


def allowed_values(annotation: Any, in_union: bool = False) -> tuple[Any, ...]:
    """The values a Literal or Enum field takes (also inside ``X | None`` and unions such as
    ``bool | Literal["auto"]``)."""
    annotation, _ = _strip_annotated(annotation)
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return tuple(m.value for m in annotation)
    if annotation is bool and in_union:
        return (True, False)
    union = _union_args(annotation)
    if union is not None:
        found = [v for a in union for v in allowed_values(a, True)]
        others = [a for a in union if a is not type(None) and not allowed_values(a, True)]
        if found and not others and not set(found) <= {True, False}:
            return tuple(dict.fromkeys(found))
    return ()


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "min"),
           ("max_length", "max"))


def bounds_words(metadata: list[Any]) -> str:
    parts = []
    for item in metadata:
        for attr, word in _BOUNDS:
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{word} {value}" + (" items" if "length" in attr else ""))
    return ", ".join(parts)


def _section_of(annotation: Any) -> tuple[type[BaseModel] | None, str, bool]:
    """(section model, container, optional) of a field's annotation."""
    annotation, _ = _strip_annotated(annotation)
    if _is_model(annotation):
        return annotation, "", False
    union = _union_args(annotation)
    if union is not None:
        rest = [a for a in union if a is not type(None)]
        if len(rest) == 1 and len(union) == 2:
            section, container, _ = _section_of(rest[0])
            return section, container, section is not None
        return None, "", False
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple) and args and _is_model(_strip_annotated(args[0])[0]):
        return _strip_annotated(args[0])[0], "list", False
    if origin is dict and len(args) == 2 and _is_model(_strip_annotated(args[1])[0]):
        return _strip_annotated(args[1])[0], "mapping", False
    return None, "", False


def fields(model: type[BaseModel], prefix: str = "",
           defaults: dict[str, Any] | None = None) -> list[FieldDoc]:
    """The fields of one section, in declaration order. ``defaults``: the values the field
    holding this section gives them (a spec may default a shared section differently, e.g.
    bpnet's soft-start schedule)."""
    out = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        default = info.get_default(call_default_factory=True)
        default = REQUIRED if default is PydanticUndefined else to_jsonable_python(
            default, by_alias=True)
        if defaults and key in defaults:
            default = defaults[key]
        section, container, optional = _section_of(info.annotation)
        description = info.description or (model_summary(section) if section else "")
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        out.append(FieldDoc(
            key=key, path=f"{prefix}{key}", type=type_words(info.annotation, info.metadata),
            default=default, allowed=allowed_values(info.annotation),
            bounds=bounds_words(info.metadata), description=" ".join(description.split()),
            section=section, container=container, optional_section=optional,
            commented=extra.get("template") == COMMENTED["template"]))
    return out


def _inner_defaults(f: FieldDoc) -> dict[str, Any] | None:
    return f.default if f.container == "" and isinstance(f.default, dict) else None


def walk(model: type[BaseModel], prefix: str = "", defaults: dict[str, Any] | None = None
         ) -> Iterator[tuple[type[BaseModel], str, list[FieldDoc]]]:
    """Every section (itself first, then nested ones) with its dotted path and fields."""
    docs = fields(model, prefix, defaults)
    yield model, prefix.rstrip("."), docs
    for f in docs:
        if f.section is not None:
            inner = f"{f.path}[]." if f.container == "list" else (
                f"{f.path}.NAME." if f.container == "mapping" else f"{f.path}.")
            yield from walk(f.section, inner, _inner_defaults(f))


def undocumented(model: type[BaseModel]) -> list[str]:
    """Dotted keys of fields without a description (a test keeps this empty)."""
    return [f.path for _, _, docs in walk(model) for f in docs if not f.description]


# -- commented YAML --------------------------------------------------------------------------
def yaml_value(value: Any) -> str:
    """One value in YAML flow style, on one line."""
    text = yaml.safe_dump([value], default_flow_style=True, width=10**9, sort_keys=False)
    return text.strip()[1:-1]


def _comment(f: FieldDoc) -> str:
    facts = [f.type if f.section is None else " ".join(["section", f.container]).strip()]
    if f.allowed:
        facts.append("one of: " + ", ".join(yaml_value(v) for v in f.allowed))
    if f.bounds:
        facts.append(f.bounds)
    if f.default is REQUIRED:
        facts.append("REQUIRED")
    meaning = f"{f.description} " if f.description else ""
    return f"# {meaning}({'; '.join(facts)})"


def _yaml_lines(model: type[BaseModel], indent: str, commented: bool, prefix: str = "",
                defaults: dict[str, Any] | None = None) -> list[str]:
    lines: list[str] = []
    for f in fields(model, prefix, defaults):
        hide = "# " if commented or f.commented else ""
        inner_commented = commented or f.commented
        lines.append(f"{indent}{_comment(f)}")
        if f.section is not None and f.container == "" and not f.section.model_fields:
            lines.append(f"{indent}{hide}{f.key}: {{}}")  # a section without keys
        elif f.section is not None and f.container == "" and (
                f.default is REQUIRED or isinstance(f.default, dict)):
            lines.append(f"{indent}{hide}{f.key}:")
            lines += _yaml_lines(f.section, indent + "  ", inner_commented, f"{f.path}.",
                                 _inner_defaults(f))
        elif f.section is not None and f.container == "" and f.optional_section:
            lines.append(f"{indent}{hide}{f.key}: null  # or, to use it:")
            lines.append(f"{indent}# {f.key}:")
            lines += _yaml_lines(f.section, indent + "  ", True, f"{f.path}.")
        elif f.section is not None:
            value = "" if f.default is REQUIRED else f" {yaml_value(f.default)}"
            lines.append(f"{indent}{hide}{f.key}:{value}")
            each = "item of the list" if f.container == "list" else "NAME: entry of the mapping"
            lines.append(f"{indent}  # each {each} has these keys:")
            lines += _yaml_lines(f.section, indent + "  ", True, f"{f.path}.")
        else:
            value = "" if f.default is REQUIRED else f" {yaml_value(f.default)}"
            lines.append(f"{indent}{hide}{f.key}:{value}")
    return lines


def spec_yaml(model: type[BaseModel], title: str) -> str:
    """The whole spec as YAML with every default, each key under a comment saying its meaning,
    type, allowed values and bounds. Required keys are left empty: fill them in."""
    head = [f"# {title}"]
    summary = model_summary(model)
    if summary:
        head.append(f"# {summary}")
    head.append("# Every key with its default; keys marked REQUIRED have none: fill them in. "
                "Relative paths are relative to this file's folder.")
    return "\n".join([*head, *_yaml_lines(model, "", False)]) + "\n"


# -- Markdown ----------------------------------------------------------------------------------
def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _md_default(f: FieldDoc) -> str:
    if f.default is REQUIRED:
        return "**required**"
    if f.section is not None and f.container == "" and isinstance(f.default, dict):
        return "(section defaults)"
    return f"`{_md(yaml_value(f.default))}`"


def spec_markdown(model: type[BaseModel], title: str, level: int = 2) -> str:
    """A reference of the spec: one table per section (key, type, default, meaning)."""
    out = [f"{'#' * level} {title}", ""]
    summary = model_summary(model)
    if summary:
        out += [summary, ""]
    for section, path, docs in walk(model):
        if path:
            out += [f"{'#' * (level + 1)} `{path}`", ""]
            summary = model_summary(section)
            if summary:
                out += [_md(summary), ""]
        out += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for f in docs:
            kind = f"section{' (' + f.container + ')' if f.container else ''}" \
                if f.section is not None else f.type
            facts = [kind]
            if f.allowed:
                facts.append("one of " + ", ".join(f"`{yaml_value(v)}`" for v in f.allowed))
            if f.bounds:
                facts.append(f.bounds)
            out.append(f"| `{f.key}` | {_md('; '.join(facts))} | {_md_default(f)} | "
                       f"{_md(f.description)} |")
        out.append("")
    return "\n".join(out)
