"""A model served by Triton Inference Server, run through the shared runner like a local file.

A model is named by a URL: ``grpc://HOST:PORT/NAME``, ``http://HOST:PORT/NAME`` or
``triton://HOST:PORT/NAME`` (gRPC), with an optional ``/VERSION`` after the name. The inputs and
outputs (names, types, shapes) come from the server's model metadata, the largest batch from its
config's ``max_batch_size``; graft's own metadata (task, classes, input size, normalization,
the crop rule, the training spec a decoder needs) from the config parameter ``graft.metadata``
that ``graft deploy triton`` writes (the ONNX model's metadata, as JSON). Triton's dynamic
batcher merges concurrent requests on the server; the runner still splits a large call into
parts of at most ``max_batch_size``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from graft.errors import UserError
from graft.runtime.backend import Backend, TensorInfo, to_numpy
from graft.runtime.model_url import SCHEMES

DEFAULT_PORTS = {"grpc": 8001, "http": 8000}
METADATA_PARAMETER = "graft.metadata"
_URL = re.compile(r"^(?P<scheme>[a-z]+)://(?P<host>[^/:]+)(?::(?P<port>\d+))?/(?P<name>[^/]+)"
                  r"(?:/(?P<version>\d+))?/?$")
_TYPES = {"FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "INT64": np.int64,
          "INT32": np.int32, "INT16": np.int16, "INT8": np.int8, "UINT8": np.uint8,
          "BOOL": np.bool_}
_NAMES = {np.dtype(v): k for k, v in _TYPES.items()}


@dataclass(frozen=True)
class TritonTarget:
    """A parsed model URL."""

    protocol: str  # grpc or http
    host: str
    port: int
    model: str
    version: str = ""

    @classmethod
    def parse(cls, url: str) -> TritonTarget:
        m = _URL.match(url.strip())
        if m is None or m["scheme"].lower() not in SCHEMES:
            raise UserError(f"{url!r} is not a Triton model URL",
                            "use grpc://HOST:PORT/MODEL, http://HOST:PORT/MODEL or "
                            "triton://HOST:PORT/MODEL[/VERSION]")
        protocol = "http" if m["scheme"].lower() == "http" else "grpc"
        return cls(protocol, m["host"], int(m["port"] or DEFAULT_PORTS[protocol]), m["name"],
                   m["version"] or "")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        version = f"/{self.version}" if self.version else ""
        return f"{self.protocol}://{self.address}/{self.model}{version}"


def _client_module(protocol: str) -> Any:
    try:
        if protocol == "http":
            import tritonclient.http as module
        else:
            import tritonclient.grpc as module
    except ImportError:
        raise UserError(f"a Triton model over {protocol} needs tritonclient[{protocol}]",
                        f"pip install 'tritonclient[{protocol}]'") from None
    return module


class TritonBackend(Backend):
    """One model on a Triton server; numpy in and out, computed where the server runs it."""

    kind = "triton"

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.target = TritonTarget.parse(url)
        self.url = str(self.target)
        self.device = torch.device("cpu")  # where the outputs arrive
        self.timeout = timeout
        self._module = _client_module(self.target.protocol)
        self.client = self._connect()
        meta, config = self._describe()
        self.metadata = self._graft_metadata(config)
        self.max_batch = int(config.get("max_batch_size", 0)) or None
        declared = self.metadata.get("dynamic_axes") or {}

        def info(t: dict[str, Any]) -> TensorInfo:
            """With max_batch_size > 0 Triton owns axis 0 of every tensor; without, the axes the
            export recorded say which tensors have a batch axis."""
            shape = tuple(None if int(d) < 0 else int(d) for d in t["shape"])
            axes = declared.get(t["name"], {"0": "batch"})
            batched = self.max_batch is not None or str(axes.get("0")) == "batch"
            return TensorInfo(t["name"], np.dtype(_TYPES.get(t["datatype"], np.float32)), shape,
                              batched)

        self.inputs = [info(t) for t in meta["inputs"]]
        self.outputs = [info(t) for t in meta["outputs"]]

    # -- talking to the server --------------------------------------------------------------
    def _connect(self) -> Any:
        try:
            client = self._module.InferenceServerClient(self.target.address)
            ready = client.is_model_ready(self.target.model, self.target.version)
        except Exception as exc:  # connection errors differ between grpc and http clients
            raise UserError(f"cannot reach the Triton server at {self.target.address}: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                            "start the server, or fix the host and port in the URL") from None
        if not ready:
            version = f" version {self.target.version}" if self.target.version else ""
            raise UserError(f"Triton at {self.target.address} has no ready model "
                            f"{self.target.model!r}{version}",
                            "check the model name (its folder in the model repository) and "
                            "the server's log")
        return client

    def _describe(self) -> tuple[dict[str, Any], dict[str, Any]]:
        name, version = self.target.model, self.target.version
        if self.target.protocol == "grpc":
            meta = self.client.get_model_metadata(name, version, as_json=True)
            config = self.client.get_model_config(name, version, as_json=True)["config"]
            # grpc's JSON spells int64 fields as strings
            meta = {k: [{**t, "shape": [int(d) for d in t.get("shape", [])]}
                        for t in meta.get(k, [])] for k in ("inputs", "outputs")}
            config["max_batch_size"] = int(config.get("max_batch_size", 0) or 0)
            return meta, config
        return (self.client.get_model_metadata(name, version),
                self.client.get_model_config(name, version))

    def _graft_metadata(self, config: dict[str, Any]) -> dict[str, Any]:
        raw = (config.get("parameters") or {}).get(METADATA_PARAMETER) or {}
        text = raw.get("string_value") or raw.get("stringValue") if isinstance(raw, dict) else None
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            raise UserError(f"{self.url}: the config parameter {METADATA_PARAMETER} is not JSON",
                            "rewrite the repository with `graft deploy triton`") from None
        return value if isinstance(value, dict) else {}

    def run(self, feed: dict[str, Any]) -> dict[str, np.ndarray]:
        m = self._module
        inputs = []
        for t in self.inputs:
            array = to_numpy(feed[t.name], t.dtype)
            item = m.InferInput(t.name, list(array.shape), _NAMES[array.dtype])
            item.set_data_from_numpy(array)
            inputs.append(item)
        wanted = [m.InferRequestedOutput(t.name) for t in self.outputs]
        try:
            result = self.client.infer(self.target.model, inputs, model_version=self.target.version,
                                       outputs=wanted)
        except Exception as exc:  # InferenceServerException: the server's message
            raise UserError(f"Triton ({self.url}) failed the request: "
                            f"{str(exc).splitlines()[0]}", "see the server's log") from None
        # as_numpy views the response buffer read-only; torch wants writable arrays
        return {t.name: np.array(result.as_numpy(t.name)) for t in self.outputs}

    def close(self) -> None:
        self.client.close()
