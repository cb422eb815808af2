"""The gesture pipeline with both models on a real Triton server (the one nvidia-pytriton
bundles), from repositories ``graft deploy triton`` wrote: the same records as the ONNX files,
with every piece of graft metadata (classes, input size, normalization, crop rule, the
detector's decoder settings) read from the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graft.app.margin import CropRule
from graft.app.pipeline import GesturePipeline
from graft.deploy.triton import write_repository
from tests.app.conftest import GESTURES, write_video
from tests.triton import serving

pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] (dev extra) is the client")


@pytest.fixture(scope="module")
def served(models):
    from graft import tasks
    from graft.api import load
    from graft.optimize.export import ExportOptions, export_onnx

    root = models["root"]
    detector = root / "hands.onnx"
    if not detector.is_file():
        m = load(models["detector"])
        export_onnx(m.module.eval(), m.manifest, detector, ExportOptions(exporter="torchscript"),
                    task=tasks.get("detectnet_v2"))
    repo = root / "triton_repo"
    for onnx, name in ((detector, "hand_detector"), (models["onnx"], "gesturenet")):
        write_repository(onnx, repo, name, max_batch_size=8, dynamic_batching=True,
                         runtime="python")
    with serving(repo) as server:
        yield server, detector


def _records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "frames.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_the_pipeline_on_triton_matches_the_onnx_files(served, models, tmp_path) -> None:
    server, detector = served
    clip = write_video(tmp_path / "clip.mp4", 5, height=64, width=80)
    options = {"hand_classes": ["car"], "threshold": 0.1, "tracker": False, "detect_batch": 4}
    remote = GesturePipeline.from_files(server.grpc_url("hand_detector"),
                                        server.grpc_url("gesturenet"), **options)
    local = GesturePipeline.from_files(detector, models["onnx"], detector_device="cpu",
                                       classifier_device="cpu", **options)
    assert remote.classes == GESTURES
    assert remote.crop == CropRule("ratio", 1.3, square=False)  # from the server's metadata
    summary = remote.run(clip, tmp_path / "remote", video=False)
    local.run(clip, tmp_path / "local", video=False)
    assert summary["backends"] == {"detector": "triton", "classifier": "triton"}
    got, want = _records(tmp_path / "remote"), _records(tmp_path / "local")
    assert len(got) == 5 and sum(len(r["hands"]) for r in got) >= 5
    for a, b in zip(got, want, strict=True):
        assert len(a["hands"]) == len(b["hands"])
        assert [h["gesture"] for h in a["hands"]] == [h["gesture"] for h in b["hands"]]
        for ha, hb in zip(a["hands"], b["hands"], strict=True):
            assert ha["box"] == pytest.approx(hb["box"], abs=0.2)
            assert ha["probs"] == pytest.approx(hb["probs"], abs=1e-3)


def test_an_app_spec_keeps_triton_urls_as_written(tmp_path) -> None:
    from graft.app.spec import GestureAppSpec
    from graft.spec import load_spec

    spec = tmp_path / "app.yaml"
    spec.write_text("source: clip.mp4\n"
                    "detector: {model: grpc://triton:8001/hand_detector}\n"
                    "classifier: {model: gesturenet.onnx}\noutput: {dir: out}\n")
    s = load_spec(spec, GestureAppSpec, [])
    assert s.detector.model == "grpc://triton:8001/hand_detector"
    assert Path(s.classifier.model) == tmp_path / "gesturenet.onnx"
