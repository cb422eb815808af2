"""The NumPy backend of the Gauss rank kernels (CPU), and CuPy's (GPU), which shares its array
API: the interface every backend implements is defined here, by :class:`NumpyBackend`.

CuPy is optional and imported only when an input of its own shows up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.special

from graft.tabular import fastsort
from graft.tabular.errors import GaussRankInputError

# Above this many table entries a random-access search misses the CPU caches; sorting the
# queries first turns the search into a near-sequential merge.
_CACHE_FRIENDLY_TABLE = 1 << 16
_MIN_QUERIES_TO_SORT = 1 << 14


def _plain(key: Any) -> Any:
    """A group key as a JSON-friendly Python scalar."""
    return key.item() if hasattr(key, "item") else key


class NumpyBackend:
    """NumPy + SciPy on the CPU; also the base of the CuPy backend (same array API)."""

    name = "numpy"
    xp: Any = np
    special: Any = scipy.special

    @property
    def device(self) -> str:
        return "cpu"

    @staticmethod
    def matches(x: Any) -> bool:
        return isinstance(x, np.ndarray)

    # --- conversions -------------------------------------------------------------------
    def from_numpy(self, a: np.ndarray) -> Any:
        return self.xp.asarray(a)

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.asarray(a)

    def work_dtype(self, x: Any) -> Any:
        """float32 data stays float32 (exact round trip); anything else is held in float64."""
        return self.xp.float32 if x.dtype in (np.float32, np.float16) else self.xp.float64

    def out_dtype(self, x: Any) -> Any:
        return x.dtype if x.dtype in (np.float32, np.float64) else self.xp.float64

    def cast(self, x: Any, dtype: Any) -> Any:
        return x if x.dtype == dtype else x.astype(dtype)

    def dtype_name(self, dtype: Any) -> str:
        return np.dtype(dtype).name

    # --- creation ----------------------------------------------------------------------
    def arange(self, n: int) -> Any:
        return self.xp.arange(n, dtype=self.xp.float64)

    def full(self, n: int, value: float, dtype: Any) -> Any:
        return self.xp.full(n, value, dtype=dtype)

    def scalar(self, a: Any, i: int) -> float:
        return float(a[i])

    @property
    def xp_float64(self) -> Any:
        return self.xp.float64

    def mirror_(self, a: Any, half: int) -> None:
        """``a[n - half:] = -a[:half][::-1]``: fill the upper half of antisymmetric scores."""
        n = a.shape[0]
        self.xp.negative(a[:half][::-1], out=a[n - half :])

    def _search(self, sorted_a: Any, value: float, side: str) -> int:
        query = self.xp.asarray([value], dtype=sorted_a.dtype)
        return int(self.xp.searchsorted(sorted_a, query, side=side)[0])

    def count_less(self, sorted_a: Any, value: float) -> int:
        return self._search(sorted_a, value, "left")

    def count_less_equal(self, sorted_a: Any, value: float) -> int:
        return self._search(sorted_a, value, "right")

    # --- special functions (float64 in, float64 out, may reuse the input) ----------------
    def ndtri_(self, p: Any) -> Any:
        return self.special.ndtri(p, out=p)

    def ndtr_(self, z: Any) -> Any:
        return self.special.ndtr(z, out=z)

    def erfinv_(self, x: Any) -> Any:
        return self.special.erfinv(x, out=x)

    def erf_(self, z: Any) -> Any:
        return self.special.erf(z, out=z)

    def to_float64(self, x: Any) -> Any:
        """A float64 copy that later in-place steps may overwrite."""
        return x.astype(self.xp.float64, copy=True)

    # --- structure ---------------------------------------------------------------------
    def isnan(self, x: Any) -> Any:
        return self.xp.isnan(x)

    def any(self, mask: Any) -> bool:
        return bool(mask.any())

    def drop_nan(self, x: Any) -> tuple[Any, Any]:
        mask = self.xp.isnan(x)
        if not bool(mask.any()):
            return x, None
        valid = self.xp.flatnonzero(~mask)
        return x[valid], valid

    def sort_with_index(self, x: Any) -> tuple[Any, Any]:
        return fastsort.sort_with_index(x)

    def has_ties(self, xs: Any) -> bool:
        return xs.size > 1 and bool((xs[1:] == xs[:-1]).any())

    def tie_runs(self, xs: Any) -> tuple[Any, Any]:
        """Start index and length of each run of equal values in sorted ``xs``."""
        xp = self.xp
        new = xp.empty(xs.size, dtype=bool)
        new[0] = True
        xp.not_equal(xs[1:], xs[:-1], out=new[1:])
        starts = xp.flatnonzero(new)
        counts = xp.diff(starts, append=xs.size)
        return starts, counts

    def repeat(self, values: Any, counts: Any, total: int) -> Any:
        return self.xp.repeat(values, counts)

    def take(self, a: Any, idx: Any) -> Any:
        return a[idx]

    def scatter(self, out: Any, idx: Any, values: Any) -> None:
        out[idx] = values

    def interp(self, q: Any, xp_: Any, fp: Any) -> Any:
        """Piecewise-linear ``fp(q)`` on increasing ``xp_``; clamps outside, NaN stays NaN."""
        if xp_.size <= _CACHE_FRIENDLY_TABLE or q.size < _MIN_QUERIES_TO_SORT:
            return np.interp(q, xp_, fp)
        finite_q = q if q.dtype in (np.float32, np.float64) else q.astype(np.float64)
        q_sorted, order = fastsort.sort_with_index(finite_q)
        result = np.empty(q.size, dtype=np.float64)
        result[order] = np.interp(q_sorted, xp_, fp)
        return result

    def floor_index(self, t: Any) -> Any:
        """Integer part of non-negative ``t``."""
        return t.astype(self.xp.intp)

    def clamp_max_(self, i: Any, hi: int) -> None:
        self.xp.minimum(i, hi, out=i)

    def rsub_where_(self, a: Any, value: float, mask: Any) -> None:
        """``a[mask] = value - a[mask]`` in place."""
        self.xp.subtract(value, a, out=a, where=mask)

    def negate_where_(self, a: Any, mask: Any) -> None:
        self.xp.negative(a, out=a, where=mask)

    def itemsize(self, a: Any) -> int:
        return a.dtype.itemsize

    def clip_nan_low_(self, t: Any, lo: float, hi: float) -> Any:
        """Clip ``t`` into [lo, hi] in place; NaN becomes ``lo`` (fmax ignores NaN)."""
        self.xp.fmax(t, lo, out=t)
        self.xp.fmin(t, hi, out=t)
        return t

    def snap_(self, t: Any, tol: float) -> Any:
        """Round entries within ``tol`` of an integer to it, in place."""
        nearest = self.xp.rint(t)
        close = self.xp.abs(t - nearest) < tol
        self.xp.copyto(t, nearest, where=close)
        return t

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.xp.where(cond, a, b)

    def keep_nan_(self, out: Any, source: Any) -> Any:
        """NaN in ``out`` wherever ``source`` is NaN (checked first: usually there is none)."""
        mask = self.xp.isnan(source)
        if bool(mask.any()):
            out[mask] = float("nan")
        return out

    # --- groups ------------------------------------------------------------------------
    def factorize(self, keys: Any) -> tuple[Any, list[Any]]:
        """Integer codes per row and the distinct keys in first-seen order."""
        codes, uniques = pd.factorize(np.asarray(keys), use_na_sentinel=True)
        if (codes < 0).any():
            raise GaussRankInputError(
                f"{int((codes < 0).sum())} rows have no group key (NaN/None)",
                "fill or drop the rows without a group before fitting or transforming",
            )
        return codes.astype(np.intp, copy=False), [_plain(k) for k in np.asarray(uniques)]

    def group_order(self, codes: Any, n_groups: int) -> tuple[Any, list[int]]:
        return fastsort.group_order(codes, n_groups)

    def index_array(self, codes: list[int]) -> Any:
        return self.xp.asarray(codes, dtype=self.xp.intp)


class CupyBackend(NumpyBackend):
    """CuPy on a CUDA device: same array API as NumPy, special functions from cupyx."""

    name = "cupy"

    def __init__(self) -> None:
        import cupy
        import cupyx.scipy.special

        self.xp = cupy
        self.special = cupyx.scipy.special

    @property
    def device(self) -> str:
        return f"cuda:{self.xp.cuda.Device().id}"

    @staticmethod
    def matches(x: Any) -> bool:
        return type(x).__module__.startswith("cupy") and hasattr(x, "__cuda_array_interface__")

    def to_numpy(self, a: Any) -> np.ndarray:
        return self.xp.asnumpy(a)

    def work_dtype(self, x: Any) -> Any:
        return self.xp.float32 if x.dtype in (np.float32, np.float16) else self.xp.float64

    def sort_with_index(self, x: Any) -> tuple[Any, Any]:
        order = self.xp.argsort(x)
        return x[order], order

    def interp(self, q: Any, xp_: Any, fp: Any) -> Any:
        common = self.xp.float64
        return self.xp.interp(q.astype(common, copy=False), xp_.astype(common, copy=False), fp)

    def repeat(self, values: Any, counts: Any, total: int) -> Any:
        # cupy.repeat takes only host repeat counts: index by run id instead.
        run_starts = self.xp.zeros(total, dtype=self.xp.int64)
        run_starts[self.xp.cumsum(counts)[:-1]] = 1
        return values[self.xp.cumsum(run_starts)]

    def floor_index(self, t: Any) -> Any:
        return t.astype(self.xp.int64)

    # CuPy ufuncs take no ``where=``: write the selection back instead.
    def rsub_where_(self, a: Any, value: float, mask: Any) -> None:
        a[...] = self.xp.where(mask, value - a, a)

    def negate_where_(self, a: Any, mask: Any) -> None:
        a[...] = self.xp.where(mask, -a, a)

    def snap_(self, t: Any, tol: float) -> Any:
        nearest = self.xp.rint(t)
        return self.xp.where(self.xp.abs(t - nearest) < tol, nearest, t)

    def factorize(self, keys: Any) -> tuple[Any, list[Any]]:
        xp = self.xp
        if keys.dtype.kind == "f" and bool(xp.isnan(keys).any()):
            raise GaussRankInputError("some rows have no group key (NaN)", "fill or drop them")
        uniques, codes = xp.unique(keys, return_inverse=True)
        return codes.ravel(), [_plain(k) for k in self.to_numpy(uniques).tolist()]

    def group_order(self, codes: Any, n_groups: int) -> tuple[Any, list[int]]:
        counts = self.xp.bincount(codes, minlength=n_groups)
        bounds = [0, *np.cumsum(self.to_numpy(counts)).tolist()]
        return self.xp.argsort(codes), bounds

    def index_array(self, codes: list[int]) -> Any:
        return self.xp.asarray(codes, dtype=self.xp.int64)
