"""A results directory's training state: its lock, ``run.json`` and a run replaced by --force.

``run.json`` ``status``:

- ``running``: a training holds the lock (found without the lock: that process died);
- ``trained``: training completed, ``model.graft`` is not written yet (a rerun writes it);
- ``finished``: ``model.graft`` was written and loaded back; its SHA-256 is recorded, so a
  rerun notices a missing or replaced file and writes it again from the checkpoint;
- ``failed`` (with ``error``, the error's line) / ``interrupted`` (Ctrl-C, SIGTERM): a rerun
  resumes from ``last.ckpt``.

One training at a time: :meth:`RunDir.locked` takes an exclusive ``flock`` on ``.train.lock``
(which names the holder). The kernel drops the lock when its process dies, so a lock left by a
killed run is never in the way. ``--force`` moves the old run into ``.previous/`` and deletes it
only once the new run has written its first checkpoint; a new run that fails before that gets
the old one back.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from graft.errors import UserError
from graft.fsutil import write_json, write_text
from graft.spec import dump_spec

RUN_FILES = ("run.json", "spec.yaml", "metrics.jsonl", "model.graft", "checkpoints", "tensorboard")
PREVIOUS = ".previous"
LOCK = ".train.lock"


def spec_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "a section" if value else "{}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def first_difference(old: Any, new: Any, path: str = "") -> str | None:
    """The first differing key of two spec mappings, as ``key: old -> new`` (values shortened)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            diff = first_difference(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
            if diff:
                return diff
        return None
    if old == new:
        return None
    if old is None:
        return f"{path}: added ({_short(new)})"
    if new is None:
        return f"{path}: removed (was {_short(old)})"
    return f"{path}: {_short(old)} -> {_short(new)}"


def _same_with_defaults(old: dict[str, Any], spec: BaseModel, spec_text: str) -> bool:
    """Whether the recorded spec, read by today's spec model (new fields at their defaults),
    is the spec now asked for."""
    try:
        return dump_spec(type(spec).model_validate(old)) == spec_text
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        return False


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Start:
    """What a training command does in its results dir, and what it found there."""

    action: Literal["train", "resume", "save_model", "done"]
    found: dict[str, Any] = field(default_factory=dict)  # the run.json record found (or {})
    replaced: bool = False  # --force moved an earlier run into .previous/


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.state_file = self.path / "run.json"
        self.ckpt_dir = self.path / "checkpoints"
        self.model_path = self.path / "model.graft"
        self.previous = self.path / PREVIOUS

    # -- lock ---------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the results dir for one training; a second one gets a one-line error."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"cannot use {self.path} as the results dir ({exc.strerror})",
                            "pass a writable -r folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"{self.path} is in use by another training ({holder})",
                            "wait for it to end, or train into another -r results dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- run.json -----------------------------------------------------------------------
    def read_state(self) -> dict[str, Any]:
        if not self.state_file.exists():
            return {}
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def update(self, **fields: Any) -> dict[str, Any]:
        state = {**self.read_state(), **fields}
        write_json(self.state_file, state)
        return state

    def has_checkpoint(self) -> bool:
        return self.ckpt_dir.is_dir() and any(self.ckpt_dir.glob("*.ckpt"))

    def model_intact(self, state: dict[str, Any]) -> bool:
        """The model file exists and is the one this run wrote (legacy records, or checkpoints
        deleted to save space: it exists)."""
        if not self.model_path.is_file():
            return False
        sha = state.get("model_sha256")
        return sha is None or not self.has_checkpoint() or file_sha256(self.model_path) == sha

    # -- starting a run -----------------------------------------------------------------
    def begin(self, task: str, spec: BaseModel, force: bool) -> Start:
        """Decide what to do here (train, resume, only save the model, nothing) and record it."""
        spec_text = dump_spec(spec)
        found = self.read_state()
        replaced = False
        if force:
            replaced = self._move_aside()
            found = {}
        elif found and not (self.has_checkpoint() or self.model_path.exists()):
            self._remove_current()  # a run that never wrote a checkpoint: nothing to keep
        elif found:
            self._check_same_run(found, task, spec, spec_text)
            if found.get("status") == "finished" and self.model_intact(found):
                return Start("done", found)
            if "model_checkpoint" in found or found.get("status") == "finished":
                return Start("save_model", found)
        write_text(self.path / "spec.yaml", spec_text)
        write_json(self.state_file, {
            "status": "running", "task": task, "spec_hash": spec_hash(spec_text),
            "started": _now(), "pid": os.getpid(), "host": socket.gethostname(),
            "epochs_done": found.get("epochs_done", 0) if self.has_checkpoint() else 0})
        return Start("resume" if (self.ckpt_dir / "last.ckpt").exists() else "train", found,
                     replaced)

    def _check_same_run(self, found: dict[str, Any], task: str, spec: BaseModel,
                        spec_text: str) -> None:
        fix = "use another -r results dir, or --force to replace that run"
        old_task = found.get("task")
        if old_task and old_task != task:
            raise UserError(f"{self.path} holds a {old_task} run, not a {task} one", fix)
        if found.get("spec_hash") == spec_hash(spec_text):
            return
        old_file = self.path / "spec.yaml"
        old = yaml.safe_load(old_file.read_text()) if old_file.exists() else None
        new = yaml.safe_load(spec_text)
        if not isinstance(old, dict):
            raise UserError(f"{self.path} holds a run whose spec.yaml is missing", fix)
        if _same_with_defaults(old, spec, spec_text):
            return  # a newer graft added fields, at their defaults: the same training
        if not old_task and set(old) != set(new):
            raise UserError(f"{self.path} holds a run of another task (spec sections "
                            f"{', '.join(old)})", fix)
        diff = first_difference(old, new) or "the spec changed"
        raise UserError(f"{self.path} holds a run with a different spec ({diff})", fix)

    # -- --force: the replaced run waits in .previous/ -----------------------------------
    def _move_aside(self) -> bool:
        present = [n for n in RUN_FILES if (self.path / n).exists()]
        if not present:
            return False
        if self.previous.exists():
            if not self.has_checkpoint():  # an earlier forced run that never started: the
                self._remove_current()     # run before it stays aside
                return True
            shutil.rmtree(self.previous)
        self.previous.mkdir()
        for name in present:
            os.replace(self.path / name, self.previous / name)
        return True

    def _remove_current(self) -> None:
        for name in RUN_FILES:
            p = self.path / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()

    def drop_previous(self) -> None:
        if self.previous.exists():
            shutil.rmtree(self.previous, ignore_errors=True)

    def restore_previous(self) -> bool:
        """Put the run replaced by --force back if the new one never wrote a checkpoint."""
        if not self.previous.is_dir() or self.has_checkpoint():
            return False
        self._remove_current()
        for child in self.previous.iterdir():
            os.replace(child, self.path / child.name)
        self.previous.rmdir()
        return True

    # -- progress and outcome ------------------------------------------------------------
    def checkpoint_saved(self, path: Path, checkpoint: dict[str, Any]) -> None:
        """Called after every checkpoint write: the new run has started cleanly."""
        self.drop_previous()
        if path.name == "last.ckpt":
            self.update(epochs_done=int(checkpoint.get("epoch", -1)) + 1)

    def trained(self, record: dict[str, Any]) -> None:
        """Fit completed; ``record`` (score, epochs, ``model_checkpoint``) lets a rerun write
        the model without training again."""
        self.update(status="trained", **record, ended=_now())

    def finished(self) -> None:
        self.update(status="finished", model_sha256=file_sha256(self.model_path), ended=_now())

    def stopped(self, status: Literal["failed", "interrupted"], error: str | None) -> bool:
        """Record a failure or interrupt; returns True when the run --force replaced is back."""
        if self.restore_previous():
            return True
        if self.state_file.exists():
            self.update(status=status, error=error, ended=_now())
        return False
