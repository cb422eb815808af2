"""Fixtures: small real .graft models, a catalog directory, and a loopback HTTP server for it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import pytest

MANIFEST = {
    "task": "classification",
    "architecture": {"arch": "resnet18", "num_classes": 2},
    "classes": ["circle", "square"],
    "input": {"channels": 3, "height": 32, "width": 32},
    "metrics": {"top1": 0.93, "loss": 0.21, "val": {"top5": 1.0}},
    "params": 16384,
    "dataset": "shapes-synth",
}


def make_model(path: Path, fill: float = 0.0, numel: int = 16384, key: str | None = None,
               **manifest) -> Path:
    """A real .graft file (64 KiB of weights by default, big enough to interrupt mid-way)."""
    import torch

    from graft import archive

    archive.save(path, {"w": torch.full((numel,), fill)}, manifest={**MANIFEST, **manifest},
                 key=key)
    return path


@pytest.fixture
def manifest() -> dict:
    return dict(MANIFEST)


@pytest.fixture
def make_graft():
    """``make_graft(path, fill=0.0, numel=16384, key=None, **manifest_fields)``."""
    return make_model


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """No test may read or write the user's real catalog or cache."""
    monkeypatch.setenv("GRAFT_CACHE", str(tmp_path / "graft-cache"))
    monkeypatch.delenv("GRAFT_CATALOG", raising=False)
    for var in ("no_proxy", "NO_PROXY"):  # the loopback server must not go through a proxy
        monkeypatch.setenv(var, "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("models") / "model.graft")


@dataclass
class ServerState:
    """What the test server saw and how it should misbehave."""

    requests: list[tuple[str, str | None]] = field(default_factory=list)
    bytes_sent: list[int] = field(default_factory=list)
    honour_range: bool = True
    drop_after: int | None = None  # cut the next .graft body after this many bytes


class _RangeHandler(SimpleHTTPRequestHandler):
    """http.server's static handler plus single-range ``Range: bytes=N-`` support."""

    def __init__(self, *args, state: ServerState, **kwargs) -> None:
        self.state = state
        super().__init__(*args, **kwargs)

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def send_head(self):
        self.state.requests.append((self.path, self.headers.get("Range")))
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            return super().send_head()  # 404 and directory handling as usual
        data = Path(path).read_bytes()
        wanted = self.headers.get("Range") if self.state.honour_range else None
        start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
        if start >= len(data) and wanted:
            self.send_error(416)
            return None
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.state.drop_after is not None and self.path.endswith(".graft"):
            body, self.state.drop_after = body[: self.state.drop_after], None
            self.close_connection = True
        self.state.bytes_sent.append(len(body))
        return BytesIO(body)


@dataclass
class CatalogServer:
    root: Path
    url: str
    state: ServerState


@pytest.fixture
def http_catalog(tmp_path) -> Iterator[CatalogServer]:
    """An empty catalog directory served on 127.0.0.1 (port chosen by the OS)."""
    root = tmp_path / "served"
    root.mkdir()
    state = ServerState()
    handler = partial(_RangeHandler, state=state, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield CatalogServer(root, f"http://127.0.0.1:{server.server_address[1]}/", state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def cli(capsys):
    """Run ``graft catalog ARGS`` through the root CLI -> (exit code, stdout, stderr)."""
    from graft.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["catalog", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
