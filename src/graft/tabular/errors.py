"""The one error type of the Gauss rank scaler."""

from __future__ import annotations

from graft.errors import UserError


class GaussRankInputError(UserError, ValueError):
    """Bad input to the scaler: a ``ValueError`` for scikit-learn, a ``UserError`` for the CLI."""
