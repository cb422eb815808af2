"""Pull, resolve and push: the catalog operations behind ``graft catalog`` and
``pretrained_weights: catalog:NAME[:VERSION]``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from graft.catalog import semver
from graft.catalog.download import download, file_lock, is_verified, sha256_file
from graft.catalog.index import (
    INDEX_FILE,
    CatalogIndex,
    ModelCard,
    card_from_manifest,
    check_name,
    parse_ref,
)
from graft.catalog.privacy import strip_local_paths
from graft.catalog.sources import (
    CatalogUnreachable,
    LocalCatalog,
    is_url,
    models_cache_dir,
    open_catalog,
)
from graft.console import err_console, labeled
from graft.errors import UserError, require_file
from graft.fsutil import atomic_path, check_output_dir, write_text


def _card_json(card: ModelCard) -> str:
    return json.dumps(card.model_dump(mode="json"), indent=2) + "\n"


def _write_card(path: Path, card: ModelCard) -> None:
    write_text(path, _card_json(card))


def _publish(path: Path, write: Callable[[Path], object]) -> None:
    """Atomically create a catalog file, readable by all (a web server may run as another user;
    the temporary file behind an atomic write is private, 0600, by default)."""
    with atomic_path(path) as tmp:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)


def pull(ref: str, out_dir: str | os.PathLike, catalog: str | None = None,
         progress: bool = True) -> tuple[Path, ModelCard, bool]:
    """Pull ``NAME[:VERSION]`` into ``out_dir`` as NAME-VERSION.graft (+ its .card.json).

    Returns (model path, card, downloaded); an existing file with the right hash is kept.
    """
    name, version = parse_ref(ref)
    out = check_output_dir(Path(out_dir).expanduser(), "output folder (-o)")
    source = open_catalog(catalog)
    card = source.read_index().find(name, version)
    dest = out / card.filename
    fresh = not is_verified(dest, card)
    if fresh:
        download(source, card, dest, progress=progress)
    _write_card(out / f"{card.name}-{card.version}.card.json", card)
    return dest, card, fresh


def resolve(ref: str, catalog: str | None = None, cache_dir: Path | None = None,
            progress: bool = True) -> Path:
    """Local, verified path of ``[catalog:]NAME[:VERSION]``, pulled into the cache if needed.

    The cache is ``cache_dir``, else ``$GRAFT_CACHE/models`` (default ``~/.cache/graft/models``).
    When the catalog cannot be reached, a verified cached copy is used (with a warning).
    """
    name, version = parse_ref(ref)
    cache = Path(cache_dir).expanduser() if cache_dir else models_cache_dir()
    source = open_catalog(catalog)
    try:
        card = source.read_index().find(name, version)
    except CatalogUnreachable as exc:
        cached = _cached_copy(cache, name, version)
        if cached is None:
            raise
        err_console.print(labeled("warning:", "yellow",
                                  f"{exc.problem}; using the cached {cached[1].ref}"))
        return cached[0]
    dest = cache / card.name / card.version / card.filename
    card_path = dest.with_name("card.json")
    if not is_verified(dest, card):
        download(source, card, dest, progress=progress)
    _write_card(card_path, card)
    return dest


def _cached_copy(cache: Path, name: str, version: str | None) -> tuple[Path, ModelCard] | None:
    """The cached (path, card) of name:version (latest cached if None), if it verifies."""
    folder = cache / name
    versions = [p.name for p in folder.iterdir() if p.is_dir() and semver.is_valid(p.name)] \
        if folder.is_dir() else []
    chosen = version if version in versions else (semver.latest(versions) if version is None
                                                  else None)
    if chosen is None:
        return None
    try:
        card = ModelCard.model_validate_json((folder / chosen / "card.json").read_bytes())
    except (OSError, ValueError):
        return None
    path = folder / chosen / card.filename
    if path.is_file() and sha256_file(path) == card.sha256:
        return path, card
    return None


def push(model: str | os.PathLike, name: str, version: str, catalog_dir: str | os.PathLike,
         key: str | None = None, force: bool = False, dataset: str | None = None,
         license: str | None = None, description: str | None = None) -> ModelCard:
    """Publish a ``.graft`` file as ``name:version`` in a catalog directory.

    Order makes it atomic for readers: the model file (under a hash-bearing name, so a forced
    re-push never touches a file that the current index points to), then its card, then
    ``index.json`` as the single commit point; a replaced file is removed last. Absolute local
    paths in the manifest (the training spec's data folders) are cut to their names in the
    published copy (:mod:`graft.catalog.privacy`); ``key`` re-encrypts that copy.
    """
    from graft import archive
    from graft.api import parse_manifest

    check_name(name)
    semver.check(version)
    if is_url(str(catalog_dir)):
        raise UserError("push writes to a catalog directory, not a URL",
                        "push into a local directory, then serve it with any static web server")
    model_path = require_file(model, "model file")
    root = check_output_dir(Path(str(catalog_dir).removeprefix("file://")).expanduser(),
                            "catalog folder")
    # load, not just read_manifest: refuse a corrupt model, or an encrypted one without -k
    tensors, manifest = archive.load(model_path, key=key)
    manifest, stripped = strip_local_paths(manifest)
    # the published copy: byte for byte, unless local paths had to go from its manifest
    published = archive.encode(tensors, manifest, key) if stripped else None
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / ".lock"):  # serialize pushers of one catalog
        index_path = root / INDEX_FILE
        index = LocalCatalog(root).read_index() if index_path.is_file() else CatalogIndex()
        existing = index.get(name, version)
        if existing is not None and not force:
            raise UserError(f"{name}:{version} is already in the catalog {root}",
                            "push a new --version, or pass --force to replace it")
        digest = (hashlib.sha256(published).hexdigest() if published is not None
                  else sha256_file(model_path))
        rel = f"models/{name}/{version}/{name}-{version}-{digest[:12]}.graft"
        _publish(root / rel, lambda tmp: tmp.write_bytes(published) if published is not None
                 else shutil.copyfile(model_path, tmp))
        card = card_from_manifest(parse_manifest(manifest, model_path), name=name,
                                  version=version, sha256=digest,
                                  size=(root / rel).stat().st_size, file=rel, dataset=dataset,
                                  license=license, description=description)
        _publish(root / "models" / name / version / "card.json",
                 lambda tmp: tmp.write_text(_card_json(card), encoding="utf-8"))
        index_json = json.dumps(index.with_card(card).model_dump(mode="json"), indent=2) + "\n"
        _publish(index_path, lambda tmp: tmp.write_text(index_json, encoding="utf-8"))
        if existing is not None and existing.file != rel:
            (root / existing.file).unlink(missing_ok=True)
    if stripped:
        err_console.print(f"note: published without {len(stripped)} local paths of the "
                          f"manifest (kept their names): {', '.join(stripped[:3])}"
                          + (", ..." if len(stripped) > 3 else ""))
    return card
