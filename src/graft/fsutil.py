"""Atomic file writes: a crash or Ctrl-C never leaves a half-written result behind.

The temporary file sits next to its target as ``.NAME.HOST-PID.RANDOM.tmp``: a process killed
mid-write (SIGKILL, power loss) cannot clean up after itself, so the next atomic write of the
same target removes the temporary files whose writer, on this host, is gone.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from graft.errors import UserError

_HOST = hashlib.sha1(socket.gethostname().encode(), usedforsecurity=False).hexdigest()[:8]
_STARTED = time.time()  # older files of the previous, pid-less naming are stale
_OURS = re.compile(r"(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[0-9a-f]{8}")
_LEGACY = re.compile(r"[a-z0-9_]{8}")  # tempfile.mkstemp names, as earlier graft wrote them


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove temporary files of ``target`` left by writers that died; returns them."""
    prefix = f".{target.name}."
    removed = []
    for tmp in target.parent.glob(glob.escape(prefix) + "*.tmp"):
        middle = tmp.name[len(prefix):-len(".tmp")]
        ours = _OURS.fullmatch(middle)
        try:
            stale = (ours is not None and ours["host"] == _HOST and not _alive(int(ours["pid"]))
                     or _LEGACY.fullmatch(middle) is not None
                     and tmp.stat().st_mtime < _STARTED)
            if stale:
                shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
                removed.append(tmp)
        except OSError:  # raced with another cleaner, or not ours to remove
            continue
    return removed


def _new_temporary(target: Path) -> Path:
    """Create an empty, uniquely named temporary file next to ``target``.

    Created with mode 0666 so that the kernel applies the process umask, as for any file
    the user writes (never changing the umask, which would race with other threads)."""
    while True:
        tmp = target.with_name(f".{target.name}.{_HOST}-{os.getpid()}."
                               f"{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def temporary_for(target: Path) -> Path:
    """A new temporary file next to ``target`` for a writer that renames it over ``target`` when
    done: the folder is made, and temporaries of writers that died are removed first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    return _new_temporary(target)


def _nearest_existing(path: Path) -> Path:
    """``path`` itself or the closest parent of it that exists, spelled as the user gave it."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_dir(path: str | os.PathLike, what: str = "results folder") -> Path:
    """Fail before any work starts if ``path`` cannot be (or become) a folder we write into:
    an existing file, a path under a file, or a read-only place. One shared check so every
    command that writes says the same thing, naming the path and the fix."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{what} {p} is an existing file, not a folder",
                        "pass a folder path, or move the file away")
    base = _nearest_existing(p)
    if not base.is_dir():
        raise UserError(f"cannot create {what} {p}: {base} is a file",
                        "choose a path whose parents are folders")
    if not os.access(base, os.W_OK | os.X_OK):
        where = "it" if base == p else f"its parent {base}"
        raise UserError(f"cannot write {what} {p}: {where} is not writable by this user",
                        "choose a folder you can write to, or change its permissions")
    return p


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Like :func:`check_output_dir` for a file to write: not a folder, in a writable place."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{what} {p} is a folder, not a file", "pass a file path")
    base = _nearest_existing(p.parent)
    if not base.is_dir():
        raise UserError(f"cannot write {what} {p}: {base} is a file",
                        "choose a path whose parents are folders")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {what} {p}: {base} is not writable by this user",
                        "choose a folder you can write to, or change its permissions")
    return p


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success."""
    target = Path(path)
    tmp_path = temporary_for(target)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        with suppress(FileNotFoundError):
            tmp_path.unlink()


def check_fresh_dir(path: str | os.PathLike, force: bool = False,
                    what: str = "output folder", fix: str | None = None) -> Path:
    """:func:`check_output_dir`, and refuse a folder that holds files unless ``force`` (whose
    writer then replaces it whole, see :func:`atomic_dir`), so old and new outputs never mix.
    ``fix``: the advice for a command without ``--force``."""
    p = check_output_dir(path, what)
    if not force and p.is_dir() and any(p.iterdir()):
        raise UserError(f"{what} {p} already exists and is not empty",
                        fix or "choose a new folder, or pass --force to replace it")
    return p


def _empty_temporary_dir(target: Path) -> Path:
    tmp = _new_temporary(target)
    tmp.unlink()
    return tmp


@contextmanager
def atomic_dir(path: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder next to ``path`` that becomes ``path`` only on success, so a
    folder of outputs appears whole or not at all. ``path`` must not exist or be empty, unless
    ``replace``: then the old folder is swapped out on success and deleted."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp_path = _empty_temporary_dir(target)
    tmp_path.mkdir()
    try:
        yield tmp_path
        old = None
        if target.is_dir() and replace and any(target.iterdir()):
            old = _empty_temporary_dir(target)
            os.replace(target, old)
        elif target.is_dir():
            target.rmdir()  # empty, or this raises rather than merge into old outputs
        try:
            os.replace(tmp_path, target)
        except OSError:
            if old is not None:
                os.replace(old, target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp_path.exists():
            shutil.rmtree(tmp_path, ignore_errors=True)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """``open()`` that writes to a temporary file and renames it into place when closed."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
