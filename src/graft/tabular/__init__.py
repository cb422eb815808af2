"""Tabular preprocessing: the Gauss rank transform (``GaussRankScaler``), on CPU and GPU.

>>> from graft.tabular import GaussRankScaler
>>> scaler = GaussRankScaler(group_by="type").fit(train_frame)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graft.tabular.errors import GaussRankInputError

if TYPE_CHECKING:
    from graft.tabular.scaler import GaussRankScaler

__all__ = ["GaussRankInputError", "GaussRankScaler"]


def __getattr__(name: str) -> Any:
    """The scaler (scikit-learn, pandas) loads on first use, so ``graft --help`` stays fast."""
    if name == "GaussRankScaler":
        from graft.tabular.scaler import GaussRankScaler

        return GaussRankScaler
    raise AttributeError(f"module 'graft.tabular' has no attribute {name!r}")
