"""``graft classification evaluate -m grpc://...``: a model on a real Triton server (the one
nvidia-pytriton bundles) scores exactly like its ONNX file. Before, ``-m`` was a Path, which
folds ``grpc://`` to ``grpc:/`` and made the URL a missing file."""

from __future__ import annotations

import json

import pytest

from graft.cli import main
from graft.deploy.triton import write_repository
from tests.triton import serving

pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] (dev extra) is the client")
pytestmark = pytest.mark.slow


def test_evaluate_on_triton_matches_the_onnx_file(untrained_model, spec_file, tmp_path):
    onnx = tmp_path / "model.onnx"
    assert main(["classification", "export", "-m", str(untrained_model), "-o", str(onnx)]) == 0
    write_repository(onnx, tmp_path / "repo", "shapes", max_batch_size=8,
                     dynamic_batching=True, runtime="python")
    with serving(tmp_path / "repo") as server:
        url = server.grpc_url("shapes")
        assert url.startswith("grpc://")
        assert main(["classification", "evaluate", "-e", str(spec_file), "-m", url,
                     "-r", str(tmp_path / "remote")]) == 0
    assert main(["classification", "evaluate", "-e", str(spec_file), "-m", str(onnx),
                 "-r", str(tmp_path / "local")]) == 0
    remote, local = (json.loads((tmp_path / d / "evaluation.json").read_text())
                     for d in ("remote", "local"))
    assert remote["backend"] == "triton" and remote["model"] == url
    assert remote["images"] == local["images"] == 9
    assert remote["confusion_matrix"] == local["confusion_matrix"]
    assert remote["loss"] == pytest.approx(local["loss"], abs=1e-4)
