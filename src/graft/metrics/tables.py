"""Result tables: CSV files (written atomically) and console tables of the same rows.

Numbers are shown with 4 decimals on the console and 6 in CSV; -1, COCO's "no ground truth
here", reads "n/a" on the console and stays -1 in files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from graft.fsutil import write_text


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any] | Mapping[str, Any]]) -> str:
    """CSV of ``rows`` (sequences, or mappings keyed by the header); floats with 6 decimals."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        values = [row.get(h, "") for h in header] if isinstance(row, Mapping) else row
        writer.writerow([f"{v:.6f}" if isinstance(v, float) else v for v in values])
    return buf.getvalue()


def write_csv(path: str | Path, header: Sequence[str],
              rows: Sequence[Sequence[Any] | Mapping[str, Any]]) -> Path:
    """Write :func:`csv_text` to ``path`` atomically; returns ``path``."""
    write_text(path, csv_text(header, rows))
    return Path(path)


def write_metrics_csv(path: str | Path, metrics: Mapping[str, Any]) -> Path:
    """A ``metric, value`` CSV of a flat mapping of numbers."""
    return write_csv(path, ["metric", "value"], list(metrics.items()))


def show(value: Any) -> str:
    """A value as a console cell."""
    if isinstance(value, float):
        return "n/a" if value == -1 else f"{value:.4f}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any] | Mapping[str, Any]], *,
          title: str | None = None):
    """A rich table of ``rows``; number columns right-aligned."""
    from rich.table import Table

    cells = [[row.get(h, "") for h in header] if isinstance(row, Mapping) else list(row)
             for row in rows]
    out = Table(title=title)
    for i, name in enumerate(header):
        numeric = bool(cells) and all(isinstance(r[i], (int, float)) for r in cells)
        out.add_column(name, justify="right" if numeric else "left")
    for row in cells:
        out.add_row(*(show(v) for v in row))
    return out


def metrics_table(metrics: Mapping[str, float], descriptions: Mapping[str, str], *,
                  title: str | None = None):
    """The standard numbers of an evaluation: metric, meaning, value."""
    return table(["metric", "meaning", "value"],
                 [[name, descriptions.get(name, ""), value] for name, value in metrics.items()],
                 title=title)
