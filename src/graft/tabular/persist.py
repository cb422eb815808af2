"""Save and load a fitted :class:`GaussRankScaler` without pickle.

File format (version 1): a ``.npz`` archive, i.e. a zip file, holding

* ``meta.json``: ``{"format": "graft.gaussrank", "version": 1, "params": {...},
  "columns": [...], "column_positions": [...], "group_position": int|null,
  "groups": [...]|null, "n_features_in": int, "feature_names_in": [...]|null,
  "tables": [{"group": g, "column": c, "n": n, "member": "g0_c0.npy"}, ...]}``
* one ``.npy`` array per table: the sorted knot values of column ``c`` in group ``g``
  (``groups[g]``; ``g`` is 0 when ungrouped), float32 or float64.

``np.load(path, allow_pickle=False)`` reads the arrays and any zip tool reads the JSON.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from graft.errors import require_file
from graft.fsutil import atomic_path
from graft.tabular.backends import NumpyBackend
from graft.tabular.errors import GaussRankInputError
from graft.tabular.kernels import ColumnTable

FORMAT = "graft.gaussrank"
VERSION = 1


def _json_scalar(value: Any, what: str) -> Any:
    value = value.item() if hasattr(value, "item") else value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise GaussRankInputError(
        f"{what} {value!r} cannot be saved (type {type(value).__name__})",
        "use str or int column names and group keys",
    )


def save_scaler(scaler: Any, path: str | Path) -> Path:
    """Write ``scaler`` to ``path`` atomically; returns the path."""
    from graft import __version__

    check_is_fitted(scaler)
    path = Path(path)
    tables = scaler._tables_on(NumpyBackend())
    names = getattr(scaler, "feature_names_in_", None)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "graft_version": __version__,
        "params": {k: _json_scalar(v, "parameter") for k, v in scaler.get_params().items()},
        "n_features_in": int(scaler.n_features_in_),
        "feature_names_in": None if names is None else [str(n) for n in names],
        "columns": [_json_scalar(c, "column name") for c in scaler.columns_],
        "column_positions": [int(p) for p in scaler.column_positions_],
        "group_position": scaler.group_position_,
        "groups": None
        if scaler.groups_ is None
        else [_json_scalar(k, "group key") for k in scaler.groups_],
        "fitted_on": scaler.backend_,
        "tables": [],
    }
    members: dict[str, np.ndarray] = {}
    for g, group_tables in enumerate(tables.values()):
        for c, table in enumerate(group_tables):
            member = f"g{g}_c{c}.npy"
            members[member] = np.ascontiguousarray(table.knots)
            meta["tables"].append({"group": g, "column": c, "n": table.n, "member": member})
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("meta.json", json.dumps(meta, indent=2))
        for member, array in members.items():
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            archive.writestr(member, buffer.getvalue())
    return path


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("meta.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise GaussRankInputError(
            f"{path} is not a Gauss rank scaler file ({exc})",
            "pass a file written by `graft gaussrank fit` or GaussRankScaler.save",
        ) from exc
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise GaussRankInputError(
            f"{path} has format {meta.get('format')!r} version {meta.get('version')!r}",
            f"expected {FORMAT!r} version {VERSION}",
        )
    return meta


def load_scaler(path: str | Path, scaler_class: type) -> Any:
    """Read a scaler written by :func:`save_scaler` into a new ``scaler_class`` (the
    ``GaussRankScaler`` calling this); its tables are NumPy arrays."""
    path = require_file(path, "scaler file")
    meta = _read_meta(path)
    scaler = scaler_class(**meta["params"])
    groups = meta["groups"]
    n_groups = 1 if groups is None else len(groups)
    n_columns = len(meta["columns"])
    tables: list[list[Any]] = [[None] * n_columns for _ in range(n_groups)]
    with np.load(path, allow_pickle=False) as arrays:
        for entry in meta["tables"]:
            knots = arrays[entry["member"].removesuffix(".npy")]
            tables[entry["group"]][entry["column"]] = ColumnTable(
                knots=knots,
                n=int(entry["n"]),
                flavor=scaler.flavor,
                epsilon=float(scaler.epsilon),
            )
    scaler.n_features_in_ = meta["n_features_in"]
    if meta["feature_names_in"] is not None:
        scaler.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    scaler.columns_ = meta["columns"]
    scaler.column_positions_ = meta["column_positions"]
    scaler.group_position_ = meta["group_position"]
    scaler.groups_ = groups
    keys = [None] if groups is None else groups
    scaler.tables_ = dict(zip(keys, tables, strict=True))
    scaler.backend_ = "numpy"
    scaler._placed = {("numpy", "cpu"): scaler.tables_}
    return scaler
