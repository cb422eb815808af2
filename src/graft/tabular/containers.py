"""Input and output containers: NumPy, pandas, PyTorch, CuPy and cuDF.

:func:`read_input` validates what the user passed (through scikit-learn's ``validate_data`` so
feature counts and names are checked the sklearn way) and splits it into 1-D columns on their
own backend; :meth:`Frame.rebuild` puts the results back into the same kind of container, with
the same index, column names, device and (float) dtype.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import validate_data

from graft.tabular.backends import CupyBackend, NumpyBackend, TorchBackend, backend_for
from graft.tabular.errors import GaussRankInputError


def _is_cudf(x: Any) -> bool:
    return type(x).__module__.startswith("cudf")


@dataclass
class Frame:
    """A validated 2-D input: one 1-D array per column on ``backend``."""

    kind: str  # numpy | pandas | series | torch | cupy | cudf
    backend: Any
    columns: list[Any]
    labels: list[Any]
    n_rows: int
    source: Any = field(repr=False)
    one_dimensional: bool = False
    torch_dtype: Any = None  # set when a CPU tensor runs on NumPy views: the output dtype

    def rebuild(self, outputs: dict[int, Any]) -> Any:
        """The input's container with ``outputs`` (by position) replacing those columns."""
        if self.kind == "numpy":
            if len(self.columns) == 1 and 0 in outputs:  # no assembly copy for one column
                return outputs[0].reshape(-1, 1)
            dtype = np.result_type(*[outputs[i].dtype for i in outputs]) if outputs else float
            result = np.empty((self.n_rows, len(self.columns)), dtype=dtype, order="F")
            for pos, column in enumerate(self.columns):
                result[:, pos] = outputs.get(pos, column)
            return result
        if self.kind in ("pandas", "series"):
            index = self.source.index
            if self.kind == "series":
                return pd.Series(outputs[0], index=index, name=self.source.name)
            data = {
                pos: outputs[pos] if pos in outputs else self.source.iloc[:, pos]
                for pos in range(len(self.columns))
            }
            frame = pd.DataFrame(data, index=index)
            frame.columns = self.source.columns
            return frame
        if self.kind == "cudf":
            import cudf

            data = {
                label: outputs[pos] if pos in outputs else self.source[label]
                for pos, label in enumerate(self.labels)
            }
            return cudf.DataFrame(data, index=self.source.index)
        # torch and cupy arrays
        if self.torch_dtype is not None:
            outputs = {pos: to_torch(out, self.torch_dtype) for pos, out in outputs.items()}
            columns = [to_torch(column, self.torch_dtype) for column in self.columns]
        else:
            columns = self.columns
        if self.one_dimensional:
            return outputs[0]
        if len(columns) == 1 and 0 in outputs:  # no stacking copy for one column
            return outputs[0].reshape(-1, 1)
        dtype = next(iter(outputs.values())).dtype
        parts = [
            outputs[pos] if pos in outputs else column.to(dtype) if self.torch_dtype else
            self.backend.cast(column, dtype)
            for pos, column in enumerate(columns)
        ]
        if self.kind == "torch":
            import torch

            return torch.stack(parts, dim=1)
        return self.backend.xp.stack(parts, axis=1)


def _reject_empty(n_rows: int) -> None:
    if n_rows == 0:
        raise GaussRankInputError(
            "Found array with 0 sample(s) (shape=(0, ...)) while a minimum of 1 is required",
            "pass at least one row",
        )


def _frame_column(series: pd.Series, label: Any) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series)):
        raise GaussRankInputError(
            f"column {label!r} is not numeric (dtype {series.dtype})",
            "select numeric columns only, or convert this one first",
        )
    if series.dtype in (np.float32, np.float64):
        return series.to_numpy()
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _reject_infinite(backend: Any, column: Any, label: Any) -> None:
    """Fitting needs finite values (transform and inverse clip +-inf to the extremes)."""
    xp = backend.torch if isinstance(backend, TorchBackend) else backend.xp
    if backend.any(xp.isinf(column)):
        raise GaussRankInputError(
            f"column {label!r} contains infinity",
            "replace +/-inf by NaN (ignored in fit, passed through) or by finite values",
        )


def read_input(estimator: Any, X: Any, *, reset: bool, key_position: int | None) -> Frame:
    """Validate ``X`` for ``estimator`` and split it into columns (the key column is kept)."""
    if isinstance(X, pd.Series):
        return _read_frame(estimator, X.to_frame(), reset, key_position, kind="series", source=X)
    if isinstance(X, pd.DataFrame):
        return _read_frame(estimator, X, reset, key_position, kind="pandas", source=X)
    if _is_cudf(X):
        return _read_cudf(estimator, X, reset, key_position)
    if TorchBackend.matches(X) or CupyBackend.matches(X):
        return _read_device_array(estimator, X, reset)
    array = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=[np.float64, np.float32],
        ensure_all_finite="allow-nan" if reset else False,
        ensure_min_samples=1,
    )
    columns = [array[:, j] for j in range(array.shape[1])]
    return Frame("numpy", NumpyBackend(), columns, list(range(array.shape[1])), array.shape[0],
                 source=array)


def _read_frame(estimator: Any, frame: pd.DataFrame, reset: bool, key_position: int | None,
                *, kind: str, source: Any) -> Frame:
    validate_data(estimator, frame, reset=reset, skip_check_array=True)
    _reject_empty(len(frame))
    backend = NumpyBackend()
    columns: list[Any] = []
    for pos, label in enumerate(frame.columns):
        series = frame.iloc[:, pos]
        if pos == key_position:
            columns.append(series.to_numpy())
            continue
        column = _frame_column(series, label)
        if reset:
            _reject_infinite(backend, column, label)
        columns.append(column)
    return Frame(kind, backend, columns, list(frame.columns), len(frame), source=source)


def host_view(tensor: Any) -> tuple[np.ndarray, Any]:
    """Zero-copy NumPy view of a CPU tensor (bfloat16, unknown to NumPy, becomes float32),
    and the dtype results should be handed back in."""
    import torch

    out_dtype = tensor.dtype if tensor.dtype.is_floating_point else torch.float64
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.to(torch.float32)
    return tensor.detach().numpy(), out_dtype


def to_torch(array: Any, dtype: Any) -> Any:
    """A NumPy result as a CPU tensor of ``dtype`` (no copy when the dtype already matches)."""
    import torch

    if TorchBackend.matches(array):
        return array.to(dtype)
    return torch.from_numpy(np.ascontiguousarray(array)).to(dtype)


def _read_device_array(estimator: Any, X: Any, reset: bool) -> Frame:
    one_dimensional = X.ndim == 1
    array = X.reshape(-1, 1) if one_dimensional else X
    if array.ndim != 2:
        raise GaussRankInputError(
            f"expected a 1-D or 2-D array, got {X.ndim} dimensions", "reshape to (rows, columns)"
        )
    validate_data(estimator, array, reset=reset, skip_check_array=True)
    _reject_empty(array.shape[0])
    backend = backend_for(X, getattr(estimator, "_backend_preference", "auto"))
    torch_dtype = None
    if TorchBackend.matches(X) and isinstance(backend, NumpyBackend):
        array, torch_dtype = host_view(array)
    kind = "cupy" if isinstance(backend, CupyBackend) else "torch"
    columns = [array[:, j] for j in range(array.shape[1])]
    for j, column in enumerate(columns):
        if reset and _is_float(column):
            _reject_infinite(backend, column, j)
    return Frame(kind, backend, columns, list(range(array.shape[1])), array.shape[0],
                 source=X, one_dimensional=one_dimensional, torch_dtype=torch_dtype)


def _is_float(column: Any) -> bool:
    dtype = column.dtype
    return bool(getattr(dtype, "is_floating_point", False)) or getattr(dtype, "kind", "") == "f"


def _read_cudf(estimator: Any, frame: Any, reset: bool, key_position: int | None) -> Frame:
    validate_data(estimator, frame, reset=reset, skip_check_array=True)
    _reject_empty(len(frame))
    backend = CupyBackend()
    columns: list[Any] = []
    for pos, label in enumerate(frame.columns):
        series = frame[label]
        if pos == key_position:
            columns.append(series)
            continue
        if series.dtype.kind not in "fiub":
            raise GaussRankInputError(
                f"column {label!r} is not numeric (dtype {series.dtype})",
                "select numeric columns only",
            )
        dtype = "float32" if series.dtype == np.float32 else "float64"
        column = series.astype(dtype).to_cupy(na_value=float("nan"))
        if reset:
            _reject_infinite(backend, column, label)
        columns.append(column)
    return Frame("cudf", backend, columns, list(frame.columns), len(frame), source=frame)


def factorize_keys(frame: Frame, keys: Any) -> tuple[Any, list[Any]]:
    """Group codes per row (on the frame's backend) and the distinct keys, first seen first."""
    if _is_cudf(keys):
        codes, uniques = keys.factorize()
        return getattr(codes, "values", codes), uniques.to_pandas().tolist()
    if isinstance(keys, pd.Series | pd.Index):
        keys = keys.to_numpy()
    length = int(keys.shape[0]) if hasattr(keys, "shape") else len(keys)
    if length != frame.n_rows:
        raise GaussRankInputError(
            f"groups has {length} entries but the data has {frame.n_rows} rows",
            "pass one group key per row",
        )
    key_backend = backend_for(keys) if hasattr(keys, "shape") else NumpyBackend()
    codes, uniques = key_backend.factorize(keys)
    if type(key_backend) is not type(frame.backend) or key_backend.device != frame.backend.device:
        codes = frame.backend.from_numpy(key_backend.to_numpy(codes))
    return codes, uniques
