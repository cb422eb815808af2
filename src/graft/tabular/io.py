"""Reading and writing the CSV/Parquet tables of the ``graft gaussrank`` commands.

pandas is imported where a table is read or checked, not with this module: ``graft --help``
mounts these commands and must stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from graft.errors import UserError, require_file
from graft.fsutil import atomic_path

if TYPE_CHECKING:
    import pandas as pd

SUFFIXES = (".csv", ".parquet", ".pq")


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(
            f"unsupported table format {suffix or '(none)'!r}: {path}",
            f"use one of {', '.join(SUFFIXES)}",
        )
    return suffix


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; an unreadable or empty table is a UserError."""
    import pandas as pd

    path = require_file(path, "input table")
    suffix = _check_suffix(path)
    try:
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise UserError(f"input table is empty: {path}", "pass a file with rows") from exc
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise UserError(f"cannot read {path}: {exc}", "check that the file is valid") from exc
    if len(frame) == 0:
        raise UserError(f"input table has no rows: {path}", "pass a file with rows")
    return frame


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix), atomically."""
    path = Path(path)
    suffix = _check_suffix(path)
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path


def parse_columns(text: str | None) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (duplicates dropped, order kept)."""
    if text is None:
        return []
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise UserError(f"no column names in --columns {text!r}", "pass e.g. --columns a,b")
    return names


def require_columns(frame: pd.DataFrame, names: list[str], path: str | Path) -> None:
    """Every name must be a column of ``frame``."""
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise UserError(
            f"column(s) {', '.join(map(repr, missing))} not found in {path}",
            f"available columns: {', '.join(map(str, frame.columns))}",
        )


def require_numeric(frame: pd.DataFrame, names: list[str], path: str | Path) -> None:
    """Every named column must hold numbers (bool counts as numeric)."""
    import pandas as pd

    bad = [name for name in names if not pd.api.types.is_numeric_dtype(frame[name])]
    if bad:
        kinds = ", ".join(f"{name!r} ({frame[name].dtype})" for name in bad)
        raise UserError(
            f"non-numeric column(s) in {path}: {kinds}",
            "choose numeric columns with --columns, or clean the data",
        )


def numeric_columns(frame: pd.DataFrame, exclude: list[str]) -> list[str]:
    """The numeric columns of ``frame`` except ``exclude``, in file order."""
    import pandas as pd

    return [
        str(c)
        for c in frame.columns
        if c not in exclude and pd.api.types.is_numeric_dtype(frame[c])
    ]
