"""Where catalogs and caches live, and read access to a catalog directory or HTTP(S) server.

HTTP uses urllib from the standard library: a catalog is a static tree, so any web server
(or ``python -m http.server``; graft resumes only where the server honours ``Range``) can host it.
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from typing import IO
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlparse
from urllib.request import Request, urlopen

from graft.catalog import CATALOG_ENV  # defined where the CLI reads it cheaply
from graft.catalog.index import INDEX_FILE, CatalogIndex
from graft.errors import UserError

CACHE_ENV = "GRAFT_CACHE"
TIMEOUT_S = 30.0


class CatalogUnreachable(UserError):
    """The catalog itself could not be reached (no such directory, server down)."""


# -- locations -----------------------------------------------------------------------------------
def cache_root() -> Path:
    """graft's cache: ``$GRAFT_CACHE``, else ``$XDG_CACHE_HOME/graft``, else ``~/.cache/graft``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "graft"


def default_catalog() -> str:
    """``$GRAFT_CATALOG``, else the directory ``<cache root>/catalog``."""
    return os.environ.get(CATALOG_ENV) or str(cache_root() / "catalog")


def models_cache_dir() -> Path:
    """Where :func:`resolve` keeps pulled models: ``<cache root>/models``."""
    return cache_root() / "models"


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


# -- catalog sources -----------------------------------------------------------------------------
class CatalogSource:
    """Read access to one catalog; subclasses fetch bytes from a directory or a web server."""

    location: str

    def read_index(self) -> CatalogIndex:
        raise NotImplementedError

    def open_from(self, rel: str, start: int) -> tuple[IO[bytes], int, int | None]:
        """Open ``rel`` at byte ``start`` -> (stream, offset actually served, total size)."""
        raise NotImplementedError

    def describe(self, rel: str) -> str:
        raise NotImplementedError


class LocalCatalog(CatalogSource):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def read_index(self) -> CatalogIndex:
        path = self.root / INDEX_FILE
        if not self.root.is_dir():
            raise CatalogUnreachable(
                f"no catalog directory at {self.root}",
                f"pass --catalog DIR_OR_URL, set ${CATALOG_ENV}, or push a model there first")
        if not path.is_file():
            raise UserError(f"{self.root} is not a catalog (no {INDEX_FILE})",
                            "pass the catalog's root directory, or push a model into it")
        return _parse_index(path.read_bytes(), str(path))

    def open_from(self, rel: str, start: int) -> tuple[IO[bytes], int, int | None]:
        path = self.root / rel
        if not path.is_file():
            raise UserError(f"the catalog lists {rel} but {path} does not exist",
                            "re-push the model with `graft catalog push --force`")
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        total = os.fstat(fh.fileno()).st_size
        start = start if start <= total else 0
        fh.seek(start)
        return fh, start, total

    def describe(self, rel: str) -> str:
        return str(self.root / rel)


class HttpCatalog(CatalogSource):
    def __init__(self, base_url: str, timeout: float = TIMEOUT_S) -> None:
        self.base = base_url.rstrip("/") + "/"
        self.location = base_url
        self.timeout = timeout

    def url(self, rel: str) -> str:
        return self.base + quote(rel)

    def describe(self, rel: str) -> str:
        return self.url(rel)

    def _open(self, url: str, headers: dict[str, str] | None = None):
        from graft import __version__

        request = Request(url, headers={"User-Agent": f"graft/{__version__}", **(headers or {})})
        try:
            return urlopen(request, timeout=self.timeout)
        except HTTPError:
            raise
        except (URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CatalogUnreachable(
                f"cannot reach the catalog at {self.location}: {reason}",
                "check the URL and your network, or use a local catalog") from None

    def read_index(self) -> CatalogIndex:
        url = self.url(INDEX_FILE)
        try:
            with self._open(url) as response:
                data = response.read()
        except HTTPError as exc:
            raise UserError(f"no catalog at {self.location} ({url}: HTTP {exc.code})",
                            f"check --catalog / ${CATALOG_ENV}") from None
        except (http.client.HTTPException, OSError) as exc:
            raise CatalogUnreachable(f"reading {url} failed: {exc!r}", "try again") from None
        return _parse_index(data, url)

    def open_from(self, rel: str, start: int) -> tuple[IO[bytes], int, int | None]:
        url = self.url(rel)
        headers = {"Range": f"bytes={start}-"} if start else {}
        try:
            response = self._open(url, headers)
        except HTTPError as exc:
            if exc.code == 416:  # asked beyond the end: the server's file is shorter than ours;
                return self.open_from(rel, 0)  # its full length then shows the catalog is corrupt
            raise UserError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}",
                            "the catalog's index lists a file its server does not serve; "
                            "tell the catalog's publisher") from None
        if start and response.status == 206:
            served, total = _content_range(response.headers.get("Content-Range", ""))
            if served == start:
                return response, start, total
            response.close()
            response = self._open(url)  # a range we did not ask for: start over
        length = response.headers.get("Content-Length")
        return response, 0, int(length) if length and length.isdigit() else None


def _content_range(header: str) -> tuple[int | None, int | None]:
    """``bytes 100-199/200`` -> (100, 200); unknown parts are None."""
    try:
        unit, _, spec = header.partition(" ")
        span, _, total = spec.partition("/")
        first = int(span.split("-")[0]) if unit == "bytes" else None
        return first, int(total) if total.isdigit() else None
    except ValueError:
        return None, None


_WARNED: set[str] = set()
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def warn_plain_http(location: str) -> bool:
    """Warn (once per catalog) that a plain ``http://`` catalog can be altered in transit: the
    sha256 that guards each download comes from the same unauthenticated index. Loopback
    addresses never leave the machine and are not warned about. Returns whether it warned."""
    host = (urlparse(location).hostname or "").lower()
    if not location.startswith("http://") or host in _LOOPBACK or host.startswith("127.") \
            or location in _WARNED:
        return False
    _WARNED.add(location)
    from graft.console import err_console

    err_console.print(
        f"warning: the catalog {location} is plain HTTP: anyone on the network path can "
        "swap its index and models (the sha256 checks come from that index); use https://")
    return True


def _parse_index(data: bytes, source: str) -> CatalogIndex:
    try:
        raw = json.loads(data)
    except ValueError:
        raise UserError(f"{source} is not valid JSON", "the catalog index is corrupt") from None
    return CatalogIndex.parse(raw, source)


def open_catalog(location: str | os.PathLike | None = None) -> CatalogSource:
    """A catalog from a directory, ``file://`` or ``http(s)://`` location (default: see
    :func:`default_catalog`)."""
    loc = str(location) if location else default_catalog()
    loc = loc.removesuffix(INDEX_FILE) if loc.endswith("/" + INDEX_FILE) else loc
    if is_url(loc):
        warn_plain_http(loc)
        return HttpCatalog(loc)
    if loc.startswith("file://"):
        loc = loc[len("file://"):]
    if "://" in loc:
        raise UserError(f"unsupported catalog location {loc!r}",
                        "use a directory or an http(s):// URL")
    return LocalCatalog(Path(loc).expanduser())
