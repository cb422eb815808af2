"""The model catalog ("our NGC"): list, inspect, pull and push pretrained ``.graft`` models.

A catalog is a directory or an HTTP(S) URL holding ``index.json``, model cards and model files
(layout in :mod:`graft.catalog.index`). Training specs use ``pretrained_weights:
catalog:NAME[:VERSION]``, which :func:`resolve` turns into a verified local file.
"""

from __future__ import annotations

from graft.catalog.client import pull, push, resolve
from graft.catalog.index import CatalogIndex, ModelCard, parse_ref
from graft.catalog.sources import (
    CatalogUnreachable,
    cache_root,
    default_catalog,
    models_cache_dir,
    open_catalog,
)

__all__ = [
    "CatalogIndex",
    "CatalogUnreachable",
    "ModelCard",
    "cache_root",
    "default_catalog",
    "models_cache_dir",
    "open_catalog",
    "parse_ref",
    "pull",
    "push",
    "resolve",
]
