"""Array backends for the Gauss rank kernels: NumPy (CPU), CuPy (GPU) and PyTorch (any device).

The kernels in :mod:`graft.tabular.kernels` are written once against the small interface of
:class:`~graft.tabular.numpy_backend.NumpyBackend`; the backend is chosen by the type of the
input array, so data stays where it is (a CUDA tensor is never copied to the host). CuPy and
cuDF are optional and imported only when an input of theirs shows up.
"""

from __future__ import annotations

from typing import Any

from graft.tabular.numpy_backend import CupyBackend, NumpyBackend
from graft.tabular.torch_backend import TorchBackend

__all__ = ["CupyBackend", "NumpyBackend", "TorchBackend", "backend_for", "make_backend"]


def backend_for(x: Any, prefer: str = "auto") -> Any:
    """The backend that runs on ``x``'s own device.

    A CPU tensor gets the torch backend only with ``prefer="torch"``; by default callers hand
    its zero-copy NumPy view to the NumPy backend (:func:`graft.tabular.containers.host_view`).
    """
    if TorchBackend.matches(x):
        if prefer == "torch" or x.device.type != "cpu":
            return TorchBackend(x.device)
        return NumpyBackend()
    if CupyBackend.matches(x):
        return CupyBackend()
    return NumpyBackend()


def make_backend(name: str, device: str) -> Any:
    """Rebuild a backend from the (name, device) recorded at fit time."""
    if name == "torch":
        return TorchBackend(device)
    if name == "cupy":
        return CupyBackend()
    return NumpyBackend()
