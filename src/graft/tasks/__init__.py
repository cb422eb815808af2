"""The task registry.

A task is a package under ``graft.tasks`` (or a third-party package registered under the
``graft.tasks`` entry-point group) whose ``task`` module exposes ``TASK``, an instance of
:class:`graft.tasks.base.Task`. The CLI, the engine, the optimizer and the archive loader find
tasks here; none of them names a task.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from functools import cache
from importlib.metadata import entry_points

from graft.errors import UserError
from graft.tasks.base import Task

__all__ = ["Task", "available", "get"]


@cache
def _discover() -> dict[str, str]:
    """Map task name -> module path, without importing the tasks (keeps the CLI start fast)."""
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(__path__):
        module = f"{__name__}.{info.name}.task"
        if info.ispkg and not info.name.startswith("_") and importlib.util.find_spec(module):
            found[info.name] = module
    for ep in entry_points(group="graft.tasks"):
        found[ep.name] = ep.value
    return found


def available() -> list[str]:
    return sorted(_discover())


@cache
def get(name: str) -> Task:
    modules = _discover()
    if name not in modules:
        raise UserError(f"unknown task {name!r}", f"choose one of: {', '.join(available())}")
    task = importlib.import_module(modules[name]).TASK
    if not isinstance(task, Task):
        raise TypeError(f"{modules[name]}.TASK is not a graft Task")
    return task
