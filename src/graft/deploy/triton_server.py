"""Start the Triton Inference Server that the ``nvidia-pytriton`` wheel bundles, on this machine,
over a model repository: a real server for local checks, tests and CPU serving.

The bundled ``tritonserver`` has only Triton's Python backend (no onnxruntime or TensorRT
backends), so it serves repositories written with ``graft deploy triton --runtime python``.
Three things it needs that pytriton's own launcher does not set up for this venv: the Python
stub matching this interpreter copied into a backend folder, this interpreter's ``libpython``
first on ``LD_LIBRARY_PATH`` (the stub otherwise picks the system's, whose standard library
does not match), and this venv's ``bin`` first on ``PATH`` (the stub finds its packages there).
graft uses only the server binary, not pytriton's Python API (whose proxy needs numpy < 2), so
the Makefile installs the wheel with ``--no-deps``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from graft.errors import UserError


class ServerUnavailable(RuntimeError):
    """The bundled server cannot run here (not installed, or its binary cannot start)."""


def bundled_server() -> Path:
    """The folder ``pytriton/tritonserver`` (bin/, backends/, python_backend_stubs/)."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("pytriton")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise ServerUnavailable("nvidia-pytriton is not installed "
                                "(pip install --no-deps 'nvidia-pytriton>=0.7,<0.8')")
    root = Path(spec.origin).parent / "tritonserver"
    if not (root / "bin" / "tritonserver").is_file():
        raise ServerUnavailable(f"{root} has no bin/tritonserver")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalTriton:
    """``with LocalTriton(repo) as server: server.grpc_url("gesturenet")``; stops on exit."""

    def __init__(self, repository: str | Path, *, startup_timeout: float = 120.0,
                 threads: int | None = 1) -> None:
        self.repository = Path(repository)
        self.startup_timeout = startup_timeout
        self.threads = threads
        self.http_port, self.grpc_port, self.metrics_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._work: Path | None = None  # backends and the log, made by start()

    @property
    def log_path(self) -> Path:
        return (self._work or Path(tempfile.gettempdir())) / "server.log"

    def grpc_url(self, model: str) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}/{model}"

    def http_url(self, model: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/{model}"

    def _backends(self, root: Path) -> Path:
        """A backend folder with the Python backend and the stub built for this Python."""
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not stub.is_file():
            raise ServerUnavailable(f"nvidia-pytriton has no Python stub for Python {version}")
        assert self._work is not None
        target = self._work / "backends" / "python"
        shutil.copytree(root / "backends" / "python", target)
        shutil.copy2(stub, target / stub.name)
        return self._work / "backends"

    def _env(self, root: Path) -> dict[str, str]:
        env = dict(os.environ)
        libs = [sysconfig.get_config_var("LIBDIR") or "", str(root.parent.parent /
                                                                "nvidia_pytriton.libs")]
        env["LD_LIBRARY_PATH"] = ":".join(p for p in [*libs, env.get("LD_LIBRARY_PATH", "")]
                                          if p)
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        if self.threads:
            env["GRAFT_TRITON_THREADS"] = str(self.threads)
            env["OMP_NUM_THREADS"] = str(self.threads)
        return env

    def start(self) -> LocalTriton:
        root = bundled_server()
        if not self.repository.is_dir():
            raise UserError(f"model repository {self.repository} does not exist",
                            "write one with `graft deploy triton`")
        self._work = Path(tempfile.mkdtemp(prefix="graft-triton-"))
        cmd = [str(root / "bin" / "tritonserver"), f"--model-repository={self.repository}",
               f"--backend-directory={self._backends(root)}", f"--http-port={self.http_port}",
               f"--grpc-port={self.grpc_port}", f"--metrics-port={self.metrics_port}",
               "--exit-timeout-secs=5", "--log-verbose=0"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            env=self._env(root), start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._failed()
            if self._ready():
                return self
            time.sleep(0.25)
        self.stop()
        raise UserError(f"the Triton server was not ready after {self.startup_timeout:g} s",
                        f"see {self.log_path}")

    def _ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.http_port}/v2/health/ready"
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") \
            if self.log_path.is_file() else ""

    def _failed(self) -> None:
        text = self.log()
        lines = [ln for ln in text.splitlines() if ln.strip()][-5:]
        if "error while loading shared libraries" in text or "GLIBC" in text:
            raise ServerUnavailable("the bundled tritonserver cannot run here: "
                                    + " | ".join(lines))
        raise UserError("the Triton server stopped while loading the repository: "
                        + " | ".join(lines), "fix the model the server's log (quoted) names")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def __enter__(self) -> LocalTriton:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
