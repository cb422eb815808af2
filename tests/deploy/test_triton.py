"""Triton repositories: config.pbtxt parsed against Triton's own ModelConfig protobuf."""

from __future__ import annotations

import json

import pytest
import torch
import typer
from torch import nn
from typer.testing import CliRunner

from graft.deploy.triton import triton_command, write_repository
from graft.errors import UserError
from graft.optimize.export import ExportOptions, export_onnx
from graft.runtime.metadata import sidecar_path

model_config_pb2 = pytest.importorskip(
    "tritonclient.grpc.model_config_pb2", reason="tritonclient[grpc] (dev extra) has the schema")
text_format = pytest.importorskip("google.protobuf.text_format")


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 3)
        self.seg = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.relu(self.body(x))
        return self.fc(f.mean((2, 3))), self.seg(f)


def _manifest(classes: list[str]) -> dict:
    return {"task": "toy", "architecture": {"name": "x"}, "classes": classes,
            "input": {"channels": 3, "height": 16, "width": 24}}


def _parse(path) -> object:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


@pytest.fixture
def onnx_model(tmp_path):
    path = tmp_path / "two.onnx"
    export_onnx(TwoHeads().eval(), _manifest([]), path,
                ExportOptions(input_shape=(3, 16, 24), output_names=["logits", "mask"],
                              exporter="torchscript"))
    return path


def test_onnx_repository_config_validates_against_tritons_schema(tmp_path, onnx_model) -> None:
    model_dir = write_repository(onnx_model, tmp_path / "repo", "toy_net", max_batch_size=8,
                                 dynamic_batching=True)
    assert (model_dir / "1" / "model.onnx").read_bytes() == onnx_model.read_bytes()
    cfg = _parse(model_dir / "config.pbtxt")
    assert cfg.name == "toy_net" and cfg.platform == "onnxruntime_onnx"
    assert cfg.max_batch_size == 8 and cfg.HasField("dynamic_batching")
    assert [(i.name, i.data_type, list(i.dims)) for i in cfg.input] == [
        ("input", model_config_pb2.TYPE_FP32, [3, 16, 24])]
    assert [(o.name, list(o.dims)) for o in cfg.output] == [("logits", [3]), ("mask", [2, 16, 24])]
    assert all(o.data_type == model_config_pb2.TYPE_FP32 for o in cfg.output)


def test_classifier_gets_labels_and_no_batching_keeps_the_batch_axis(tmp_path) -> None:
    class Classifier(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean((2, 3))

    path = tmp_path / "cls.onnx"
    export_onnx(Classifier(), _manifest(["cat", "dog", "eel"]), path,
                ExportOptions(input_shape=(3, 16, 24), output_names=["probs"],
                              exporter="torchscript"))
    model_dir = write_repository(path, tmp_path / "repo", "cls", max_batch_size=0)
    cfg = _parse(model_dir / "config.pbtxt")
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [-1, 3, 16, 24]
    assert cfg.output[0].label_filename == "labels.txt"
    assert (model_dir / "labels.txt").read_text().split() == ["cat", "dog", "eel"]


def test_engine_repository_uses_the_engine_description(tmp_path) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized-engine-bytes")  # the repository copies it verbatim
    sidecar_path(engine).write_text(json.dumps({
        "metadata": {"classes": []}, "max_batch_size": 4,
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 3, 288, 384]}],
        "outputs": [{"name": "paf", "dtype": "float32", "shape": [-1, 38, 36, 48]},
                    {"name": "heatmap", "dtype": "float16", "shape": [-1, 19, 36, 48]}]}))
    model_dir = write_repository(engine, tmp_path / "repo", "bpnet", max_batch_size=4)
    assert (model_dir / "1" / "model.plan").read_bytes() == b"serialized-engine-bytes"
    cfg = _parse(model_dir / "config.pbtxt")
    assert cfg.platform == "tensorrt_plan"
    assert [o.data_type for o in cfg.output] == [model_config_pb2.TYPE_FP32,
                                                 model_config_pb2.TYPE_FP16]
    with pytest.raises(UserError, match="batches up to 4"):
        write_repository(engine, tmp_path / "repo", "bpnet", max_batch_size=8)
    sidecar_path(engine).unlink()
    with pytest.raises(UserError, match="description"):
        write_repository(engine, tmp_path / "repo", "bpnet")


def _mask_rcnn_engine(tmp_path):
    """An engine described the way `graft mask_rcnn export --engine_file` writes it: one
    (3, H, W) image, no batch axis, one row per detection on every output."""
    engine = tmp_path / "towers.engine"
    engine.write_bytes(b"mask-rcnn-engine")
    axes = {"image": {}, **{n: {"0": "detections"} for n in ("boxes", "labels", "scores",
                                                            "masks")}}
    sidecar_path(engine).write_text(json.dumps({
        "metadata": {"task": "mask_rcnn", "classes": ["tower"], "dynamic_axes": axes,
                     "input_names": ["image"], "data_type": "fp16"},
        "max_batch_size": 0,
        "inputs": [{"name": "image", "dtype": "float32", "shape": [3, 64, 80]}],
        "outputs": [{"name": "boxes", "dtype": "float32", "shape": [-1, 4]},
                    {"name": "labels", "dtype": "int64", "shape": [-1]},
                    {"name": "scores", "dtype": "float32", "shape": [-1]},
                    {"name": "masks", "dtype": "float32", "shape": [-1, 1, 64, 80]}]}))
    return engine


def test_an_engine_without_a_batch_axis_gets_max_batch_size_0(tmp_path) -> None:
    engine = _mask_rcnn_engine(tmp_path)
    app = typer.Typer()
    app.command()(triton_command)
    result = CliRunner().invoke(app, ["-m", str(engine), "-o", str(tmp_path / "repo"),
                                      "--name", "towers"])  # no --max_batch_size: its default
    assert result.exit_code == 0, result.output
    cfg = _parse(tmp_path / "repo" / "towers" / "config.pbtxt")
    assert cfg.platform == "tensorrt_plan" and cfg.max_batch_size == 0
    assert [(i.name, list(i.dims)) for i in cfg.input] == [("image", [3, 64, 80])]
    assert [(o.name, o.data_type, list(o.dims)) for o in cfg.output] == [
        ("boxes", model_config_pb2.TYPE_FP32, [-1, 4]),
        ("labels", model_config_pb2.TYPE_INT64, [-1]),
        ("scores", model_config_pb2.TYPE_FP32, [-1]),
        ("masks", model_config_pb2.TYPE_FP32, [-1, 1, 64, 80])]
    assert not cfg.HasField("dynamic_batching")
    assert (tmp_path / "repo" / "towers" / "1" / "model.plan").read_bytes() == \
        b"mask-rcnn-engine"
    with pytest.raises(UserError, match="no batch axis"):  # axis 0 counts detections
        write_repository(engine, tmp_path / "repo2", "towers", max_batch_size=4)


def test_bad_requests_are_user_errors(tmp_path, onnx_model) -> None:
    with pytest.raises(UserError, match="characters"):
        write_repository(onnx_model, tmp_path / "repo", "a/b")
    with pytest.raises(UserError, match="dynamic_batching"):
        write_repository(onnx_model, tmp_path / "repo", "n", max_batch_size=0,
                         dynamic_batching=True)
    with pytest.raises(UserError, match="not an exported model"):
        (tmp_path / "m.graft").write_bytes(b"x")
        write_repository(tmp_path / "m.graft", tmp_path / "repo", "n")


def test_triton_command(tmp_path, onnx_model) -> None:
    app = typer.Typer()
    app.command()(triton_command)
    result = CliRunner().invoke(app, ["-m", str(onnx_model), "-o", str(tmp_path / "repo"),
                                      "--name", "toy", "--max_batch_size", "4",
                                      "--dynamic_batching"])
    assert result.exit_code == 0, result.output
    assert _parse(tmp_path / "repo" / "toy" / "config.pbtxt").max_batch_size == 4
    help_text = CliRunner().invoke(app, ["--help"]).output
    assert "Example" in help_text


def test_dynamic_batching_really_batches_and_carries_graft_metadata(tmp_path) -> None:
    class Classifier(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean((2, 3))

    path = tmp_path / "cls.onnx"
    manifest = {**_manifest(["thumbs_up", "fist", "stop"]),
                "input": {"channels": 3, "height": 16, "width": 24,
                          "crop": {"ratio": 1.1, "square": True},
                          "normalization": {"scale": 1 / 255, "mean": [0.5] * 3,
                                            "std": [0.25] * 3}}}
    export_onnx(Classifier(), manifest, path,
                ExportOptions(input_shape=(3, 16, 24), output_names=["probs"],
                              exporter="torchscript"))
    cfg = _parse(write_repository(path, tmp_path / "a", "gesturenet", max_batch_size=16,
                                  dynamic_batching=True) / "config.pbtxt")
    assert list(cfg.dynamic_batching.preferred_batch_size) == [8, 16]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 1000
    meta = json.loads(cfg.parameters["graft.metadata"].string_value)
    assert meta["classes"] == ["thumbs_up", "fist", "stop"]
    assert meta["input"]["crop"] == {"ratio": 1.1, "square": True}
    assert meta["input"]["normalization"]["mean"] == [0.5] * 3

    model_dir = write_repository(path, tmp_path / "b", "g", max_batch_size=8,
                                 dynamic_batching=True, preferred_batch_size=[4],
                                 max_queue_delay_us=2500, runtime="python", instances=2)
    cfg = _parse(model_dir / "config.pbtxt")
    assert cfg.backend == "python" and not cfg.platform
    assert list(cfg.dynamic_batching.preferred_batch_size) == [4]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 2500
    assert [(g.kind, g.count) for g in cfg.instance_group] == [
        (model_config_pb2.ModelInstanceGroup.KIND_CPU, 2)]
    assert "onnxruntime" in (model_dir / "1" / "model.py").read_text()
    assert (model_dir / "1" / "model.onnx").is_file()


def test_the_blogs_unbatchable_repository_is_refused(tmp_path, onnx_model) -> None:
    # max_batch_size 1 with dynamic_batching {} (the blog's config) can never merge requests
    with pytest.raises(UserError, match="cannot merge"):
        write_repository(onnx_model, tmp_path / "repo", "n", max_batch_size=1,
                         dynamic_batching=True)
    with pytest.raises(UserError, match="outside 1..8"):
        write_repository(onnx_model, tmp_path / "repo", "n", max_batch_size=8,
                         dynamic_batching=True, preferred_batch_size=[16])
    with pytest.raises(UserError, match="runtime"):
        write_repository(onnx_model, tmp_path / "repo", "n", runtime="tensorflow")
