"""How :class:`~graft.tabular.scaler.GaussRankScaler` routes rows to its fitted tables: which
column holds the group key, each group's slice of each column, and the tables copied onto the
device of the data being transformed. Plain functions over the scaler's fitted state, so the
estimator itself stays the scikit-learn surface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from graft.tabular.backends import make_backend
from graft.tabular.containers import Frame, factorize_keys
from graft.tabular.errors import GaussRankInputError
from graft.tabular.kernels import ColumnTable

Kernel = Callable[[Any, ColumnTable, Any, Any], Any]
GroupRun = Callable[[int, int, Any, Any], Any]


def key_position(group_by: Any, X: Any) -> int | None:
    """The position of the ``group_by`` key column in ``X`` (None without one)."""
    if group_by is None:
        return None
    columns = getattr(X, "columns", None)
    if isinstance(X, pd.Series):
        columns = [X.name]
    if columns is not None:
        labels = list(columns)
        if group_by not in labels:
            raise GaussRankInputError(
                f"group_by column {group_by!r} is not in the data",
                f"available columns: {', '.join(map(str, labels))}",
            )
        return labels.index(group_by)
    width = X.shape[1] if getattr(X, "ndim", 2) == 2 and hasattr(X, "shape") else None
    if isinstance(group_by, int | np.integer) and not isinstance(group_by, bool):
        if width is not None and not 0 <= int(group_by) < width:
            raise GaussRankInputError(
                f"group_by position {group_by} is outside the {width} columns",
                "pass the position of the key column",
            )
        return int(group_by)
    raise GaussRankInputError(
        f"group_by={group_by!r} names a column but the input has no column names",
        "pass a DataFrame, or the key column's position, or groups=",
    )


def per_group(frame: Frame, codes: Any, n_groups: int, positions: list[int], run: GroupRun,
              *, with_output: bool = True) -> dict[int, Any]:
    """Apply ``run(group, j, values, out_dtype)`` to every group's slice of every column."""
    backend = frame.backend
    order, bounds = backend.group_order(codes, n_groups)
    outputs: dict[int, Any] = {}
    for j, pos in enumerate(positions):
        column = frame.columns[pos]
        out_dtype = backend.out_dtype(column)
        grouped = backend.take(backend.cast(column, backend.work_dtype(column)), order)
        result = backend.full(frame.n_rows, float("nan"), out_dtype) if with_output else None
        for g in range(n_groups):
            start, stop = bounds[g], bounds[g + 1]
            if start == stop:
                continue
            piece = run(g, j, grouped[start:stop], out_dtype)
            if with_output:
                result[start:stop] = piece
        if with_output:
            restored = backend.full(frame.n_rows, float("nan"), out_dtype)
            backend.scatter(restored, order, result)
            outputs[pos] = restored
    return outputs


def tables_on(backend: Any, tables: dict[Any, list[ColumnTable]], fitted_backend: str,
              placed: dict[tuple[str, str], dict[Any, list[ColumnTable]]]
              ) -> dict[Any, list[ColumnTable]]:
    """The fitted ``tables`` on ``backend``'s device, copied there once and cached in
    ``placed`` (keyed by backend name and device)."""
    place = (backend.name, backend.device)
    if place not in placed:
        source = make_backend(*next(iter(placed), (fitted_backend, "cpu")))
        placed[place] = {
            group: [
                ColumnTable(
                    knots=backend.from_numpy(source.to_numpy(table.knots)),
                    n=table.n,
                    flavor=table.flavor,
                    epsilon=table.epsilon,
                )
                for table in group_tables
            ]
            for group, group_tables in tables.items()
        }
    return placed[place]


def route(frame: Frame, keys: Any, pairs: list[tuple[int, int]], kernel: Kernel,
          tables: dict[Any, list[ColumnTable]], groups: list[Any] | None,
          group_by: Any) -> dict[int, Any]:
    """Run ``kernel`` on each (frame position, fitted column index) pair, per group.
    ``tables`` are on the frame's device; ``groups`` the fitted group keys (None: one table
    per column)."""
    backend = frame.backend
    if groups is None:
        if keys is not None:
            raise GaussRankInputError(
                "groups were given but the scaler was fitted without groups",
                "drop groups=, or refit with group_by/groups",
            )
        outputs = {}
        for pos, j in pairs:
            column = frame.columns[pos]
            x = backend.cast(column, backend.work_dtype(column))
            outputs[pos] = kernel(backend, tables[None][j], x, backend.out_dtype(column))
        return outputs
    if keys is None:
        raise GaussRankInputError(
            "the scaler was fitted per group but no group keys were given",
            f"include the key column {group_by!r} or pass groups=",
        )
    codes, seen = factorize_keys(frame, keys)
    lookup = {key: g for g, key in enumerate(groups)}
    unseen = [key for key in seen if key not in lookup]
    if unseen:
        shown = ", ".join(repr(key) for key in unseen[:5])
        raise GaussRankInputError(
            f"{len(unseen)} group(s) were not seen in fit: {shown}",
            f"fitted groups: {', '.join(repr(k) for k in groups[:10])}"
            + (" ..." if len(groups) > 10 else ""),
        )
    fitted = [lookup[key] for key in seen]
    column_of = dict(pairs)
    positions = [pos for pos, _ in pairs]

    def run(g: int, j: int, x: Any, out_dtype: Any) -> Any:
        table = tables[groups[fitted[g]]][column_of[positions[j]]]
        return kernel(backend, table, x, out_dtype)

    return per_group(frame, codes, len(seen), positions, run)
