"""The Triton backend against a real Triton server: the one nvidia-pytriton bundles, serving a
repository that ``graft deploy triton --runtime python`` wrote (its Python backend runs the
ONNX model with onnxruntime). Skipped only when that server cannot run on this machine."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from graft.deploy.triton import write_repository
from graft.deploy.triton_server import LocalTriton, ServerUnavailable, free_port
from graft.errors import UserError
from graft.optimize.export import ExportOptions, export_onnx
from graft.runtime import load_runner
from graft.runtime.model_url import is_triton_url
from graft.runtime.runner import is_exported
from graft.runtime.triton_backend import TritonTarget
from tests.triton import serving

pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] (dev extra) is the client")

CLASSES = ["fist", "ok", "stop"]


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.body(x)).mean((2, 3)))


def test_model_urls_parse_and_count_as_exported() -> None:
    t = TritonTarget.parse("triton://gpu-box:9001/gesturenet/2")
    assert (t.protocol, t.host, t.port, t.model, t.version) == ("grpc", "gpu-box", 9001,
                                                                "gesturenet", "2")
    assert TritonTarget.parse("http://localhost/hands").port == 8000
    assert str(TritonTarget.parse("grpc://h:1/m")) == "grpc://h:1/m"
    assert is_triton_url("grpc://h:1/m") and is_exported("http://h:1/m")
    assert not is_triton_url("model.onnx") and not is_exported("model.graft")
    with pytest.raises(UserError, match="not a Triton model URL"):
        TritonTarget.parse("grpc://host:1")  # no model name


def test_an_unreachable_server_is_a_one_line_error() -> None:
    with pytest.raises(UserError, match="cannot reach the Triton server"):
        load_runner(f"grpc://127.0.0.1:{free_port()}/nothing")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A toy classifier's ONNX export served with dynamic batching (max 8, preferred 4 and 8,
    a 100 ms queue delay so concurrent requests surely meet)."""
    root = tmp_path_factory.mktemp("triton")
    onnx = root / "toy.onnx"
    manifest = {"task": "toy", "architecture": {"name": "x"}, "classes": CLASSES,
                "input": {"channels": 3, "height": 16, "width": 16}}
    export_onnx(Toy().eval(), manifest, onnx,
                ExportOptions(input_shape=(3, 16, 16), output_names=["logits"],
                              exporter="torchscript"))
    write_repository(onnx, root / "repo", "toy", max_batch_size=8, dynamic_batching=True,
                     preferred_batch_size=[4, 8], max_queue_delay_us=100_000,
                     runtime="python")
    with serving(root / "repo") as server:
        yield server, onnx


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_served_model_runs_like_the_onnx_file(served, protocol: str) -> None:
    if protocol == "http":
        pytest.importorskip("tritonclient.http", reason="tritonclient[http] is not installed")
    server, onnx = served
    url = server.grpc_url("toy") if protocol == "grpc" else server.http_url("toy")
    remote, local = load_runner(url, task="toy"), load_runner(onnx, device="cpu")
    assert remote.kind == "triton" and remote.info.classes == CLASSES
    assert remote.input_names == ["input"] and remote.output_names == ["logits"]
    assert remote.max_batch == 8 and remote.fixed_input_size == (16, 16)
    x = np.random.default_rng(1).normal(size=(19, 3, 16, 16)).astype(np.float32)
    got = remote(x)["logits"]  # 19 samples: parts of 8, 8 and 3
    assert got.shape == (19, 3) and np.allclose(got, local(x)["logits"], atol=1e-5)
    with pytest.raises(UserError, match="not a classification export"):
        load_runner(url, task="classification")


@pytest.mark.slow
def test_dynamic_batching_merges_concurrent_requests(served) -> None:
    import tritonclient.grpc as grpcclient

    server, onnx = served
    local = load_runner(onnx, device="cpu")
    stats = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")

    def executed() -> dict[int, int]:
        model = stats.get_inference_statistics("toy", as_json=True)["model_stats"][0]
        return {int(b["batch_size"]): int(b["compute_infer"].get("count", 0))
                for b in model.get("batch_stats", [])}

    before = executed()
    x = np.random.default_rng(2).normal(size=(12, 3, 16, 16)).astype(np.float32)
    results: list[np.ndarray | None] = [None] * len(x)
    start = threading.Barrier(len(x))

    def one(i: int) -> None:
        runner = load_runner(server.grpc_url("toy"))
        start.wait()
        results[i] = runner(x[i:i + 1])["logits"]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(x))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = executed()
    runs = {b: after.get(b, 0) - before.get(b, 0) for b in after}
    assert sum(b * n for b, n in runs.items()) == len(x)  # every sample ran exactly once
    assert max(b for b, n in runs.items() if n > 0) > 1, runs  # the server merged requests
    assert np.allclose(np.concatenate(results), local(x)["logits"], atol=1e-5)  # split back


@pytest.mark.slow
def test_a_repository_the_server_cannot_load_is_an_error_not_a_skip(tmp_path) -> None:
    broken = tmp_path / "repo" / "broken"
    (broken / "1").mkdir(parents=True)
    (broken / "config.pbtxt").write_text('name: "broken"\nbackend: "python"\nmax_batch_size: 0\n'
                                         'input [ { name: "x" data_type: TYPE_FP32 '
                                         'dims: [ 2 ] } ]\n')
    (broken / "1" / "model.py").write_text("raise RuntimeError('no model here')\n")
    server = LocalTriton(tmp_path / "repo", startup_timeout=60)
    try:
        with pytest.raises(UserError, match="stopped while loading"):
            server.start()
    except ServerUnavailable as exc:
        pytest.skip(f"the bundled Triton server cannot run here: {exc}")
    finally:
        server.close()
    with pytest.raises(UserError, match="does not exist"):
        LocalTriton(tmp_path / "missing").start()
