"""graft: an open, PyTorch-based transfer-learning toolkit for computer vision."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(path, key=None, device="cpu"):
    """Load a ``.graft`` model file; see :func:`graft.api.load`."""
    from graft.api import load as _load

    return _load(path, key=key, device=device)
