"""User-facing errors.

Anything the user can fix (a spec typo, a missing file, a wrong key) raises :class:`UserError`.
The CLI prints its one-line message and exits with code 2 instead of showing a traceback.
"""

from __future__ import annotations

from graft.spec_paths import path_origin


class UserError(Exception):
    """A problem in the user's input, with a message that names the problem and the fix."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} ({fix})" if fix else problem)


class ArchiveError(UserError):
    """A model file that cannot be read: wrong key, tampered, truncated or not a .graft file."""


def require_file(path, what: str = "file"):
    """Return ``path`` as a Path if it is an existing file, else raise a UserError naming it."""
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} not found: {p}{path_origin(p)}", "check the path")
    if not p.is_file():
        raise UserError(f"{what} is not a file: {p}", "pass a file, not a directory")
    return p


def require_dir(path, what: str = "directory"):
    """Return ``path`` as a Path if it is an existing directory, else raise a UserError."""
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} not found: {p}{path_origin(p)}", "check the path")
    if not p.is_dir():
        raise UserError(f"{what} is not a directory: {p}", "pass a directory")
    return p
