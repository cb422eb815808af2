"""Tabular preprocessing: the Gauss rank transform (``GaussRankScaler``), on CPU and GPU.

>>> from graft.tabular import GaussRankScaler
>>> scaler = GaussRankScaler(group_by="type").fit(train_frame)  # doctest: +SKIP
"""

from graft.tabular.errors import GaussRankInputError
from graft.tabular.scaler import GaussRankScaler

__all__ = ["GaussRankInputError", "GaussRankScaler"]
