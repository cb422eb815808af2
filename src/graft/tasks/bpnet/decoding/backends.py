"""Array backends: steps 1-2 of the decoder (peaks, limb scores) are written once against these
few operations, run by NumPy on a CPU and by PyTorch wherever the maps live (a GPU batch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


class NumpyOps:
    """CPU backend. NumPy's small-array overhead is ~5x lower than PyTorch's on a CPU, and its
    gathers are 2-5x faster, which is what a one-image decode is made of."""

    name = "numpy"

    @staticmethod
    def pad(a, r: int, value: float | None = None):
        """Pad the last two axes by ``r``: edge-replicated, or ``value`` (``np.pad`` costs ~10x
        more on these small maps)."""
        h, w = a.shape[-2:]
        out = np.empty((*a.shape[:-2], h + 2 * r, w + 2 * r), a.dtype)
        out[..., r:r + h, r:r + w] = a
        if value is not None:
            out[..., :r, :] = value
            out[..., r + h:, :] = value
            out[..., r:r + h, :r] = value
            out[..., r:r + h, r + w:] = value
            return out
        out[..., r:r + h, :r] = a[..., :, :1]
        out[..., r:r + h, r + w:] = a[..., :, -1:]
        out[..., :r, :] = out[..., r:r + 1, :]
        out[..., r + h:, :] = out[..., r + h - 1:r + h, :]
        return out

    copy = staticmethod(np.copy)
    nonzero = staticmethod(np.nonzero)
    minimum = staticmethod(np.minimum)  # ufuncs: no Python wrapper, unlike ndarray.clip
    maximum = staticmethod(np.maximum)
    log = staticmethod(np.log)
    floor = staticmethod(np.floor)

    @staticmethod
    def maximum_(out, other):
        np.maximum(out, other, out=out)

    @staticmethod
    def axpy_(out, other, alpha: float):
        out += alpha * other

    @staticmethod
    def argsort(a, descending: bool = False):
        return np.argsort(-a if descending else a, kind="stable")

    @staticmethod
    def cummax(a):
        return np.maximum.accumulate(a)

    @staticmethod
    def arange(n: int, like):
        return np.arange(n)

    @staticmethod
    def linspace(a: float, b: float, n: int, like):
        return np.linspace(a, b, n, dtype=np.float32)

    @staticmethod
    def index(a, like):
        return np.asarray(a, dtype=np.int64)

    @staticmethod
    def as_int(a):
        return a.astype(np.int64)

    @staticmethod
    def as_float(a):
        return a.astype(np.float32)

    @staticmethod
    def bincount(a, minlength: int):
        return np.bincount(a, minlength=minlength)

    @staticmethod
    def repeat(values, counts):
        return np.repeat(values, counts)

    @staticmethod
    def stack(seq, axis: int):
        return np.stack(seq, axis=axis)

    @staticmethod
    def norm(a):
        return np.sqrt((a * a).sum(axis=1))

    @staticmethod
    def to_numpy(a):
        return np.asarray(a)

    @staticmethod
    def upsample(maps, factor: int):
        t = F.interpolate(torch.from_numpy(maps), scale_factor=factor, mode="bicubic",
                          align_corners=False)
        return t.numpy()


class TorchOps:
    """Device backend: the same operations on tensors, wherever they live (GPU for batches)."""

    name = "torch"

    @staticmethod
    def pad(a, r: int, value: float | None = None):
        if value is None:
            return F.pad(a, (r, r, r, r), mode="replicate")
        return F.pad(a, (r, r, r, r), value=value)

    @staticmethod
    def copy(a):
        return a.clone()

    @staticmethod
    def nonzero(a):
        return a.nonzero(as_tuple=True)

    log = staticmethod(torch.log)
    floor = staticmethod(torch.floor)

    @staticmethod
    def minimum(a, b):
        return a.clamp(max=b)

    @staticmethod
    def maximum(a, b):
        return a.clamp(min=b)

    @staticmethod
    def maximum_(out, other):
        torch.maximum(out, other, out=out)

    @staticmethod
    def axpy_(out, other, alpha: float):
        out.add_(other, alpha=alpha)

    @staticmethod
    def argsort(a, descending: bool = False):
        return torch.argsort(a, descending=descending, stable=True)

    @staticmethod
    def cummax(a):
        return torch.cummax(a, 0).values

    @staticmethod
    def arange(n: int, like):
        return torch.arange(n, device=like.device)

    @staticmethod
    def linspace(a: float, b: float, n: int, like):
        return torch.linspace(a, b, n, device=like.device)

    @staticmethod
    def index(a, like):
        return torch.as_tensor(a, dtype=torch.long, device=like.device)

    @staticmethod
    def as_int(a):
        return a.long()

    @staticmethod
    def as_float(a):
        return a.float()

    @staticmethod
    def bincount(a, minlength: int):
        return torch.bincount(a, minlength=minlength)

    @staticmethod
    def repeat(values, counts):
        return torch.repeat_interleave(values, counts)

    @staticmethod
    def stack(seq, axis: int):
        return torch.stack(seq, dim=axis)

    @staticmethod
    def norm(a):
        return torch.linalg.vector_norm(a, dim=1)

    @staticmethod
    def to_numpy(a):
        return a.detach().cpu().numpy()

    @staticmethod
    def upsample(maps, factor: int):
        return F.interpolate(maps, scale_factor=factor, mode="bicubic", align_corners=False)


def select_backend(heatmaps: Any, backend: str):
    """The backend class for ``backend`` ("numpy", "torch"; "auto": torch for GPU maps)."""
    if backend == "numpy":
        return NumpyOps
    if backend == "torch":
        return TorchOps
    if isinstance(heatmaps, torch.Tensor) and heatmaps.device.type != "cpu":
        return TorchOps
    return NumpyOps


def convert(maps: Any, ops, device: torch.device | None = None):
    """``maps`` (array or tensor) as the backend's array type, on ``device`` for torch."""
    if ops is TorchOps:
        t = maps.detach() if isinstance(maps, torch.Tensor) else torch.from_numpy(np.asarray(maps))
        return t.to(device) if device is not None else t
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().float().cpu().numpy()
    return np.asarray(maps)
