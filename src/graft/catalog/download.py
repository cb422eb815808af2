"""Verified, resumable, atomic download of one model file from a catalog.

Bytes arrive in a hidden ``.NAME-VERSION.graft.SHA.part`` file next to the target; an
interrupted pull leaves it there and the next pull asks only for the rest (HTTP Range). The file
gets its final name only after its size and SHA-256 match the card; one that fails is deleted, so
nothing partial or wrong is left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
from collections.abc import Iterator
from pathlib import Path

from graft.catalog.index import ModelCard
from graft.catalog.sources import CatalogSource, cache_root
from graft.console import err_console
from graft.errors import UserError

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def partial_path(dest: Path, card: ModelCard) -> Path:
    """Hidden partial file next to ``dest``; the hash in its name stops a resume across versions."""
    return dest.with_name(f".{dest.name}.{card.sha256[:16]}.part")


def _progress(card: ModelCard, show: bool):
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(),
                    DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                    console=err_console, disable=not show)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (POSIX flock; a no-op where unsupported)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def is_verified(path: Path, card: ModelCard) -> bool:
    return path.is_file() and path.stat().st_size == card.size and sha256_file(path) == card.sha256


def download(source: CatalogSource, card: ModelCard, dest: Path, progress: bool = True) -> Path:
    """Fetch ``card``'s file to ``dest``, resuming a partial download and verifying SHA-256.

    Processes fetching the same file (say, every DDP rank resolving its pretrained weights) take
    turns through a lock in graft's cache, so the partial file is never written twice at once.
    """
    with file_lock(cache_root() / "locks" / f"{card.sha256}.lock"):
        if not is_verified(dest, card):  # another process may have finished it meanwhile
            _download_unlocked(source, card, dest, progress)
    return dest


def _download_unlocked(source: CatalogSource, card: ModelCard, dest: Path,
                       progress: bool) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest, card)
    have = part.stat().st_size if part.exists() else 0
    if have > card.size:
        part.unlink()
        have = 0
    digest = hashlib.sha256()
    if have:
        with open(part, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
    if have < card.size:
        have, digest = _fetch_rest(source, card, part, have, digest, progress)
    if have != card.size or digest.hexdigest() != card.sha256:
        part.unlink(missing_ok=True)
        raise UserError(
            f"checksum mismatch for {card.ref}: {source.describe(card.file)} is corrupt "
            f"({have} bytes, sha256 {digest.hexdigest()[:16]}..., the card says {card.size} "
            f"bytes, sha256 {card.sha256[:16]}...); nothing was saved",
            "tell the catalog's publisher to re-push the model, then pull again")
    os.replace(part, dest)


def _fetch_rest(source: CatalogSource, card: ModelCard, part: Path, have: int, digest,
                progress: bool):
    """Append the missing bytes to ``part``; keep it on interruption so a rerun resumes."""
    stream, start, total = source.open_from(card.file, have)
    if total is not None and total != card.size:
        stream.close()
        part.unlink(missing_ok=True)
        raise UserError(f"{source.describe(card.file)} has {total} bytes but its card says "
                        f"{card.size}; the catalog is corrupt, nothing was saved",
                        "tell the catalog's publisher to re-push the model")
    if start != have:  # the server ignored our Range request: restart from byte 0
        have, digest = 0, hashlib.sha256()
    try:
        with contextlib.closing(stream), open(part, "ab" if have else "wb") as fh, \
                _progress(card, progress) as bar:
            task = bar.add_task(card.ref, total=card.size, completed=have)
            while have <= card.size:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                fh.write(chunk)
                digest.update(chunk)
                have += len(chunk)
                bar.update(task, completed=have)
            fh.flush()
            os.fsync(fh.fileno())
    except (OSError, http.client.HTTPException) as exc:
        raise UserError(f"download of {card.ref} interrupted at {_size_of(part)} of "
                        f"{card.size} bytes ({exc!r})",
                        "rerun the same command to resume") from None
    if have < card.size:
        raise UserError(f"download of {card.ref} stopped at {have} of {card.size} bytes",
                        "rerun the same command to resume")
    return have, digest


def _size_of(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0
