"""Semantic Versioning 2.0.0 parsing and ordering for catalog versions.

Written here (about 30 lines) rather than pulled in: ``packaging`` is not a declared dependency
and orders PEP 440 versions, whose pre-release rules differ from SemVer's.
"""

from __future__ import annotations

import re

from graft.errors import UserError

# The regular expression published with the SemVer 2.0.0 specification.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def is_valid(version: str) -> bool:
    return bool(_SEMVER.match(version))


def check(version: str) -> str:
    """Return ``version`` if it is SemVer, else raise a UserError that shows the expected form."""
    if not is_valid(version):
        hint = f"use {version[1:]!r}" if version[:1] in "vV" and is_valid(version[1:]) else (
            "use MAJOR.MINOR.PATCH, e.g. 1.0.0 or 2.1.0-rc.1")
        raise UserError(f"version {version!r} is not a semantic version", hint)
    return version


def is_prerelease(version: str) -> bool:
    match = _SEMVER.match(version)
    return bool(match and match.group(4))


def sort_key(version: str) -> tuple:
    """Key giving SemVer precedence: 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta < 1.0.0 < 1.0.1.

    Build metadata (``+...``) does not change precedence; the raw string breaks such ties so the
    order is total and stable.
    """
    match = _SEMVER.match(check(version))
    assert match is not None
    major, minor, patch, pre = int(match[1]), int(match[2]), int(match[3]), match[4]
    # Numeric identifiers sort numerically and before alphanumeric ones; a release sorts after
    # all of its pre-releases; a shorter identifier list sorts first when the prefix is equal.
    pre_key = (1,) if not pre else (0, tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split(".")))
    return (major, minor, patch, pre_key, version)


def latest(versions: list[str]) -> str | None:
    """The highest release; a pre-release only when no release exists (as npm's ``latest``)."""
    releases = [v for v in versions if not is_prerelease(v)]
    pool = releases or list(versions)
    return max(pool, key=sort_key) if pool else None
