"""The PyTorch backend of the Gauss rank kernels: the tensor's own device and dtype (the CUDA
path). Same interface as :class:`graft.tabular.numpy_backend.NumpyBackend`."""

from __future__ import annotations

from typing import Any

import numpy as np

from graft.tabular.errors import GaussRankInputError
from graft.tabular.numpy_backend import _plain


class TorchBackend:
    """PyTorch on the tensor's own device, keeping its dtype: the CUDA path.

    CPU tensors normally run the NumPy kernels on zero-copy views instead (see
    ``containers``), which is several times faster there; ``prefer="torch"`` keeps them on
    this backend, which is how the CPU tests cover the code CUDA runs.
    """

    name = "torch"

    def __init__(self, device: Any = "cpu") -> None:
        import torch

        self.torch = torch
        self._device = torch.device(device)

    @property
    def device(self) -> str:
        return str(self._device)

    @staticmethod
    def matches(x: Any) -> bool:
        return type(x).__module__.startswith("torch") and hasattr(x, "is_cuda")

    def from_numpy(self, a: np.ndarray) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self._device)

    def to_numpy(self, a: Any) -> np.ndarray:
        return a.detach().cpu().numpy()

    def work_dtype(self, x: Any) -> Any:
        t = self.torch
        return t.float32 if x.dtype in (t.float32, t.float16, t.bfloat16) else t.float64

    def out_dtype(self, x: Any) -> Any:
        return x.dtype if x.dtype.is_floating_point else self.torch.float64

    def cast(self, x: Any, dtype: Any) -> Any:
        return x if x.dtype == dtype else x.to(dtype)

    def dtype_name(self, dtype: Any) -> str:
        return str(dtype).removeprefix("torch.")

    def arange(self, n: int) -> Any:
        return self.torch.arange(n, dtype=self.torch.float64, device=self._device)

    def full(self, n: int, value: float, dtype: Any) -> Any:
        return self.torch.full((n,), value, dtype=dtype, device=self._device)

    def scalar(self, a: Any, i: int) -> float:
        return float(a[i])

    @property
    def xp_float64(self) -> Any:
        return self.torch.float64

    def mirror_(self, a: Any, half: int) -> None:
        n = a.shape[0]
        a[n - half :] = -self.torch.flip(a[:half], (0,))

    def _search(self, sorted_a: Any, value: float, right: bool) -> int:
        query = self.torch.tensor([value], dtype=sorted_a.dtype, device=sorted_a.device)
        return int(self.torch.searchsorted(sorted_a, query, right=right)[0])

    def count_less(self, sorted_a: Any, value: float) -> int:
        return self._search(sorted_a, value, right=False)

    def count_less_equal(self, sorted_a: Any, value: float) -> int:
        return self._search(sorted_a, value, right=True)

    def ndtri_(self, p: Any) -> Any:
        return self.torch.special.ndtri(p, out=p)

    def ndtr_(self, z: Any) -> Any:
        return self.torch.special.ndtr(z, out=z)

    def erfinv_(self, x: Any) -> Any:
        return x.erfinv_()

    def erf_(self, z: Any) -> Any:
        return z.erf_()

    def to_float64(self, x: Any) -> Any:
        return x.to(self.torch.float64, copy=True)

    def isnan(self, x: Any) -> Any:
        return self.torch.isnan(x)

    def any(self, mask: Any) -> bool:
        return bool(mask.any())

    def drop_nan(self, x: Any) -> tuple[Any, Any]:
        mask = self.torch.isnan(x)
        if not bool(mask.any()):
            return x, None
        valid = self.torch.nonzero(~mask).squeeze(1)
        return x[valid], valid

    def sort_with_index(self, x: Any) -> tuple[Any, Any]:
        return self.torch.sort(x)

    def has_ties(self, xs: Any) -> bool:
        return xs.numel() > 1 and bool((xs[1:] == xs[:-1]).any())

    def tie_runs(self, xs: Any) -> tuple[Any, Any]:
        _, counts = self.torch.unique_consecutive(xs, return_counts=True)
        starts = self.torch.cumsum(counts, 0) - counts
        return starts, counts

    def repeat(self, values: Any, counts: Any, total: int) -> Any:
        return self.torch.repeat_interleave(values, counts, output_size=total)

    def take(self, a: Any, idx: Any) -> Any:
        return a[idx]

    def scatter(self, out: Any, idx: Any, values: Any) -> None:
        out[idx] = values.to(out.dtype)

    def interp(self, q: Any, xp_: Any, fp: Any) -> Any:
        t = self.torch
        if q.dtype != xp_.dtype:
            q, xp_ = q.to(t.float64), xp_.to(t.float64)
        m = xp_.numel()
        hi = t.searchsorted(xp_, q.contiguous(), right=True).clamp_(1, m - 1)
        lo = hi - 1
        x0, x1 = xp_[lo], xp_[hi]
        weight = ((q - x0) / (x1 - x0)).to(t.float64).clamp_(0.0, 1.0)
        f0 = fp[lo]
        return f0 + weight * (fp[hi] - f0)

    def floor_index(self, t: Any) -> Any:
        return t.long()

    def clamp_max_(self, i: Any, hi: int) -> None:
        i.clamp_max_(hi)

    def rsub_where_(self, a: Any, value: float, mask: Any) -> None:
        self.torch.where(mask, value - a, a, out=a)

    def negate_where_(self, a: Any, mask: Any) -> None:
        self.torch.where(mask, -a, a, out=a)

    def itemsize(self, a: Any) -> int:
        return a.element_size()

    def clip_nan_low_(self, t: Any, lo: float, hi: float) -> Any:
        t.nan_to_num_(nan=lo)
        return t.clamp_(lo, hi)

    def snap_(self, t: Any, tol: float) -> Any:
        nearest = t.round()
        return self.torch.where((t - nearest).abs_() < tol, nearest, t)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.torch.where(cond, a, b)

    def keep_nan_(self, out: Any, source: Any) -> Any:
        """NaN in ``out`` wherever ``source`` is NaN, without a device-to-host sync."""
        return out.masked_fill_(self.torch.isnan(source), float("nan"))

    def factorize(self, keys: Any) -> tuple[Any, list[Any]]:
        t = self.torch
        if keys.dtype.is_floating_point and bool(t.isnan(keys).any()):
            raise GaussRankInputError("some rows have no group key (NaN)", "fill or drop them")
        uniques, codes = t.unique(keys, return_inverse=True)
        return codes.reshape(-1), [_plain(k) for k in uniques.tolist()]

    def group_order(self, codes: Any, n_groups: int) -> tuple[Any, list[int]]:
        counts = self.torch.bincount(codes, minlength=n_groups)
        bounds = [0, *np.cumsum(counts.cpu().numpy()).tolist()]
        return self.torch.argsort(codes), bounds

    def index_array(self, codes: list[int]) -> Any:
        return self.torch.tensor(codes, dtype=self.torch.long, device=self._device)
