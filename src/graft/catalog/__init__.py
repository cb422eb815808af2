"""The model catalog ("our NGC"): list, inspect, pull and push pretrained ``.graft`` models.

A catalog is a directory or an HTTP(S) URL holding ``index.json``, model cards and model files
(layout in :mod:`graft.catalog.index`). Training specs use ``pretrained_weights:
catalog:NAME[:VERSION]``, which :func:`resolve` turns into a verified local file.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

CATALOG_ENV = "GRAFT_CATALOG"  # the default catalog's environment variable

_HOME = {"pull": "client", "push": "client", "resolve": "client", "CatalogIndex": "index",
         "ModelCard": "index", "parse_ref": "index", "CatalogUnreachable": "sources",
         "cache_root": "sources", "default_catalog": "sources", "models_cache_dir": "sources",
         "open_catalog": "sources"}

__all__ = ["CATALOG_ENV", *sorted(_HOME)]


def __getattr__(name: str) -> Any:
    """The public names, imported on first use: ``graft --help`` mounts the catalog commands
    without loading the HTTP client and index models."""
    if name in _HOME:
        return getattr(import_module(f"graft.catalog.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
