"""The bundled Triton server for tests: started, or the test skipped when it cannot run here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from graft.deploy.triton_server import LocalTriton, ServerUnavailable


@contextmanager
def serving(repository: Path) -> Iterator[LocalTriton]:
    """A running server on ``repository``; skips (naming why) only when the binary cannot
    start at all. A model that fails to load is an error, not a skip."""
    server = LocalTriton(repository)
    try:
        server.start()
    except ServerUnavailable as exc:
        server.close()
        pytest.skip(f"the bundled Triton server cannot run here: {exc}")
    try:
        yield server
    finally:
        server.close()
