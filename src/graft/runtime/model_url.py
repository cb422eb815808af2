"""Which model names are Triton URLs (``grpc://HOST:8001/NAME``): a leaf that loads no torch,
so command-line parsing and spec checks can tell a URL from a file before any model loads."""

from __future__ import annotations

from typing import Any

SCHEMES = ("triton", "grpc", "http")


def is_triton_url(text: Any) -> bool:
    """True for ``triton://``, ``grpc://`` and ``http://`` model URLs (not file paths)."""
    return isinstance(text, str) and text.split("://", 1)[0].lower() in SCHEMES \
        and "://" in text
