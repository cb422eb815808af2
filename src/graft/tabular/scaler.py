"""``GaussRankScaler``: scikit-learn's transformer API around the kernels in ``kernels.py``.

Semantics (each one tested in ``tests/tabular``):

* Output is standard normal: scores are ``ndtri((rank + 0.5) / n)``, mean 0, std -> 1. The
  RAPIDS blog recipe (std 1/sqrt(2), epsilon clip) is available as ``flavor="seed"``.
* ``fit`` learns, per column (and per group), the sorted training values; ``transform`` maps
  new values through that table by interpolation (it never re-ranks new data) and clips
  values outside the training range to the extreme scores (``extrapolate=True`` continues the
  end segments linearly instead).
* Ties share one score (their mean rank); NaN is ignored in fit and passes through; a
  constant column maps to 0.
* ``inverse_transform`` returns the training values exactly for their own scores and clips
  beyond the extremes (or extrapolates).
* ``group_by`` (a key column) or ``groups=`` (an array) fits one table per group; rows are
  routed by their key in every method and an unseen key is an error.
* Inputs: NumPy, pandas (index and names kept), PyTorch and CuPy (device and dtype kept),
  cuDF. The work runs where the data is.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from graft.tabular import kernels
from graft.tabular.backends import NumpyBackend, TorchBackend, backend_for
from graft.tabular.containers import Frame, factorize_keys, host_view, read_input, to_torch
from graft.tabular.errors import GaussRankInputError
from graft.tabular.kernels import ColumnTable
from graft.tabular.routing import Kernel, key_position, per_group, route, tables_on


class GaussRankScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Map each column to a standard normal through its ranks, exactly and invertibly.

    Parameters
    ----------
    group_by : column label (DataFrames) or column position (arrays), default None
        Fit one table per distinct value of this key column; the key column itself passes
        through unchanged. Alternatively pass ``groups=`` (one key per row) to the methods.
    n_quantiles : int >= 2 or None, default None
        Keep only this many knots per table (at evenly spaced ranks) to bound memory on huge
        columns. ``None`` keeps every training value: exact.
    extrapolate : bool, default False
        Beyond the training range, continue the first/last segment linearly instead of
        clipping to the extreme score (``transform``) or value (``inverse_transform``).
    flavor : {"exact", "seed"}, default "exact"
        ``"seed"`` reproduces the RAPIDS blog recipe ``erfinv(clip(2r/(n-1) - 1, +-(1-eps)))``
        (std 1/sqrt(2); its clip merges the extreme ranks beyond 1/epsilon rows).
    epsilon : float, default 1e-6
        The clip of the ``"seed"`` flavour; unused by ``"exact"``.

    Examples
    --------
    >>> import numpy as np
    >>> scaler = GaussRankScaler()
    >>> z = scaler.fit_transform(np.array([[1.0], [10.0], [100.0], [1000.0]]))
    >>> np.round(z.ravel(), 3)
    array([-1.15 , -0.319,  0.319,  1.15 ])
    >>> scaler.inverse_transform(z).ravel()
    array([   1.,   10.,  100., 1000.])
    """

    def __init__(
        self,
        *,
        group_by: Hashable | None = None,
        n_quantiles: int | None = None,
        extrapolate: bool = False,
        flavor: str = "exact",
        epsilon: float = 1e-6,
    ) -> None:
        self.group_by = group_by
        self.n_quantiles = n_quantiles
        self.extrapolate = extrapolate
        self.flavor = flavor
        self.epsilon = epsilon

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # --- fitting ---------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, groups: Any = None) -> GaussRankScaler:
        """Learn the sorted values of every column (per group)."""
        self._fit(X, groups, with_scores=False)
        return self

    def fit_transform(self, X: Any, y: Any = None, groups: Any = None) -> Any:
        """``fit(X).transform(X)`` in one sort per column, without searching the table."""
        return self._fit(X, groups, with_scores=True)

    def _check_params(self) -> None:
        if self.flavor not in kernels.FLAVORS:
            raise GaussRankInputError(
                f"flavor must be one of {kernels.FLAVORS}, got {self.flavor!r}",
                'use "exact" (default) or "seed"',
            )
        if self.n_quantiles is not None and (
            isinstance(self.n_quantiles, bool)
            or not isinstance(self.n_quantiles, int | np.integer)
            or self.n_quantiles < 2
        ):
            raise GaussRankInputError(
                f"n_quantiles must be an int >= 2 or None, got {self.n_quantiles!r}",
                "use None for the exact table",
            )
        if not 0.0 < float(self.epsilon) < 1.0:
            raise GaussRankInputError(
                f"epsilon must lie in (0, 1), got {self.epsilon!r}", "the default is 1e-6"
            )

    def _fit(self, X: Any, groups: Any, *, with_scores: bool) -> Any:
        self._check_params()
        key_position = self._key_position(X)
        if key_position is not None and groups is not None:
            raise GaussRankInputError(
                "both group_by and groups= were given", "use one way to say the groups"
            )
        frame = read_input(self, X, reset=True, key_position=key_position)
        positions = [pos for pos in range(len(frame.columns)) if pos != key_position]
        if not positions:
            raise GaussRankInputError(
                "there is no column to transform besides the group key", "add value columns"
            )
        keys = frame.columns[key_position] if key_position is not None else groups
        backend = frame.backend
        table_lists: dict[int, list[ColumnTable]] = {}
        group_keys: list[Any] | None = None
        outputs: dict[int, Any] = {}

        def fit_one(group: int, j: int, x: Any, out_dtype: Any) -> Any:
            name = repr(frame.labels[positions[j]])
            if group_keys is not None:
                name += f" in group {group_keys[group]!r}"
            table, scores = kernels.fit_column(
                backend,
                x,
                name=name,
                flavor=self.flavor,
                epsilon=float(self.epsilon),
                n_quantiles=None if self.n_quantiles is None else int(self.n_quantiles),
                score_dtype=out_dtype if with_scores else None,
            )
            table_lists.setdefault(group, [None] * len(positions))[j] = table
            return scores

        if keys is None:
            for j, pos in enumerate(positions):
                column = frame.columns[pos]
                outputs[pos] = fit_one(0, j, column, backend.out_dtype(column))
        else:
            codes, group_keys = factorize_keys(frame, keys)
            outputs = per_group(
                frame, codes, len(group_keys), positions, fit_one, with_output=with_scores
            )
        self.column_positions_ = positions
        self.columns_ = [frame.labels[pos] for pos in positions]
        self.group_position_ = key_position
        self.groups_ = group_keys
        self.tables_ = {
            (None if group_keys is None else group_keys[g]): tables
            for g, tables in sorted(table_lists.items())
        }
        self.backend_ = backend.name
        self._placed = {(backend.name, backend.device): self.tables_}
        return frame.rebuild(outputs) if with_scores else None

    # --- routing (graft.tabular.routing) ---------------------------------------------------
    def _key_position(self, X: Any) -> int | None:
        return key_position(self.group_by, X)

    def _tables_on(self, backend: Any) -> dict[Any, list[ColumnTable]]:
        """The fitted tables on ``backend``'s device (copied there once, then cached)."""
        return tables_on(backend, self.tables_, self.backend_,
                         self.__dict__.setdefault("_placed", {}))

    def _route(self, frame: Frame, keys: Any, pairs: list[tuple[int, int]],
               kernel: Kernel) -> dict[int, Any]:
        return route(frame, keys, pairs, kernel, self._tables_on(frame.backend), self.groups_,
                     self.group_by)

    def _transform_kernel(self, backend: Any, table: ColumnTable, x: Any, dtype: Any) -> Any:
        return kernels.transform_column(
            backend, table, x, extrapolate=self.extrapolate, out_dtype=dtype
        )

    def _inverse_kernel(self, backend: Any, table: ColumnTable, z: Any, dtype: Any) -> Any:
        return kernels.inverse_column(
            backend, table, z, extrapolate=self.extrapolate, out_dtype=dtype
        )

    def _apply(self, X: Any, groups: Any, kernel: Kernel) -> Any:
        check_is_fitted(self)
        key_position = self._key_position(X)
        if key_position is not None and groups is not None:
            raise GaussRankInputError(
                "both group_by and groups= were given", "use one way to say the groups"
            )
        frame = read_input(self, X, reset=False, key_position=key_position)
        keys = frame.columns[key_position] if key_position is not None else groups
        pairs = list(zip(self.column_positions_, range(len(self.column_positions_)), strict=True))
        return frame.rebuild(self._route(frame, keys, pairs, kernel))

    # --- public transforms -------------------------------------------------------------------
    def transform(self, X: Any, groups: Any = None) -> Any:
        """Gaussian scores of ``X`` through the fitted tables (new data is not re-ranked)."""
        return self._apply(X, groups, self._transform_kernel)

    def inverse_transform(self, X: Any, groups: Any = None) -> Any:
        """Map Gaussian values (e.g. a model's predictions) back to the training scale."""
        return self._apply(X, groups, self._inverse_kernel)

    def transform_column(self, values: Any, column: Hashable, groups: Any = None) -> Any:
        """Transform one 1-D array/Series/tensor with the table of fitted ``column``."""
        return self._one_column(values, column, groups, self._transform_kernel)

    def inverse_transform_column(self, values: Any, column: Hashable, groups: Any = None) -> Any:
        """Inverse-transform one 1-D array/Series/tensor with the table of fitted ``column``."""
        return self._one_column(values, column, groups, self._inverse_kernel)

    def _one_column(self, values: Any, column: Hashable, groups: Any, kernel: Kernel) -> Any:
        check_is_fitted(self)
        if column not in self.columns_:
            raise GaussRankInputError(
                f"column {column!r} was not fitted",
                f"fitted columns: {', '.join(map(str, self.columns_))}",
            )
        j = self.columns_.index(column)
        source = values
        if isinstance(values, pd.Series):
            from graft.tabular.containers import _frame_column

            values = _frame_column(values, values.name)
        elif not hasattr(values, "shape"):
            values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1:
            raise GaussRankInputError(
                f"expected a 1-D array of values, got shape {tuple(values.shape)}",
                "pass one column",
            )
        if isinstance(values, np.ndarray) and values.dtype.kind not in "fiub":
            raise GaussRankInputError(
                f"values for {column!r} are not numeric (dtype {values.dtype})",
                "convert them to numbers first",
            )
        backend = backend_for(values, getattr(self, "_backend_preference", "auto"))
        torch_dtype = None
        if TorchBackend.matches(values) and isinstance(backend, NumpyBackend):
            values, torch_dtype = host_view(values)
        frame = Frame("column", backend, [values], [column], int(values.shape[0]), source=source)
        result = self._route(frame, groups, [(0, j)], kernel)[0]
        if isinstance(source, pd.Series):
            return pd.Series(result, index=source.index, name=source.name)
        return result if torch_dtype is None else to_torch(result, torch_dtype)

    # --- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted scaler as ``.npz`` (knots) with a ``meta.json`` member; no pickle."""
        from graft.tabular.persist import save_scaler

        return save_scaler(self, path)

    @classmethod
    def load(cls, path: str | Path) -> GaussRankScaler:
        """Read a scaler written by :meth:`save` (tables land on the CPU as NumPy)."""
        from graft.tabular.persist import load_scaler

        return load_scaler(path, cls)

    def table(self, column: Hashable, group: Any = None) -> ColumnTable:
        """The fitted table of ``column`` (and ``group``): ``.knots``, ``.n``."""
        check_is_fitted(self)
        if group not in self.tables_:
            raise GaussRankInputError(f"group {group!r} was not fitted", "see scaler.groups_")
        if column not in self.columns_:
            raise GaussRankInputError(f"column {column!r} was not fitted", "see scaler.columns_")
        return self.tables_[group][self.columns_.index(column)]
