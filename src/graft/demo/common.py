"""Pieces the demo workflows share: the summary row, spec writing, model facts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

console = Console()


@dataclass
class Row:
    """One line of the demo summary (and of ``summary.json``)."""

    workflow: str
    step: str
    model: str
    params: int | None
    metric: str
    value: float
    seconds: float
    outputs: str
    data: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    """Write a YAML spec atomically (users open these to see what the demo ran)."""
    from graft.fsutil import write_text

    write_text(path, yaml.safe_dump(spec, sort_keys=False))
    return path


def num_params(model_path: Path) -> int:
    import graft

    return graft.load(model_path).num_params
