"""What a published model must not carry: the publisher's absolute local paths.

A ``.graft`` manifest records the training spec, whose data and output paths are absolute on
the publisher's machine (``/home/alice/datasets/...``): they say nothing useful to whoever pulls
the model and tell everyone the publisher's user name and directory layout. ``push`` publishes
a copy whose manifest keeps only their last component (the folder or file name); relative paths
are kept as written. Class and joint names are never touched (Open Images class ids look like
``/m/01g317``).
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

KEEP = frozenset({"classes", "joints", "architecture", "content_hash"})


def _local_path_name(value: str) -> str | None:
    """The last component of an absolute local path (``~/x``, ``/x``, ``C:\\x``,
    ``file:///x``), or None when ``value`` is not one."""
    text = value.removeprefix("file://")
    if text.startswith("~"):
        return PurePosixPath(text).name or ""
    if text.startswith("/") and not text.startswith("//"):
        return PurePosixPath(text).name
    windows = PureWindowsPath(text)
    if windows.drive and windows.is_absolute() or text.startswith("\\\\"):
        return windows.name
    return None


def strip_local_paths(manifest: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``manifest`` with absolute paths cut to their names, and the keys changed
    (``spec.dataset.train_dir``, ...)."""
    changed: list[str] = []

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, str):
            name = _local_path_name(value)
            if name is None:
                return value
            changed.append(where)
            return name
        if isinstance(value, dict):
            return {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    out = {k: v if k in KEEP else walk(v, k) for k, v in manifest.items()}
    return out, changed
