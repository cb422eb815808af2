"""``graft TASK prune`` / ``export`` flags (TLT spelling, e.g. -pth) on a task's typer app."""

from __future__ import annotations

import json
from collections import Counter

import onnx
import pytest
import typer
from typer.testing import CliRunner

import graft.api
from graft.errors import UserError
from graft.optimize.cli import add_optimize_commands
from graft.runtime.trt_backend import tensorrt_available

from .conftest import manifest_for, spread_filter_norms


@pytest.fixture
def app(toy_task) -> typer.Typer:
    cli = typer.Typer()

    @cli.callback()
    def _root() -> None:
        """toy task"""

    return add_optimize_commands(cli, toy_task)


@pytest.fixture
def model_file(tmp_path, toy_task):
    module = spread_filter_norms(toy_task.build_model({"name": "tiny_resnet"}))
    path = tmp_path / "model.graft"
    graft.api.GraftModel(module.eval(), manifest_for("tiny_resnet")).save(path)
    return path


def _run(app: typer.Typer, *args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, UserError | SystemExit):
        raise result.exception
    return result


def test_prune_then_export_int8_through_the_cli(app, model_file, tmp_path, image_dir) -> None:
    pruned = tmp_path / "model.pruned.graft"
    r = _run(app, "prune", "-m", model_file, "-o", pruned, "-pth", "0.3", "-eq", "union",
             "-pg", "8", "-nf", "8", "-n", "max", "-el", "layer2.conv1.0")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "model.pruned.prune.json").read_text())
    assert (tmp_path / "model.pruned.prune.csv").is_file()
    assert report["params_after"] < report["params_before"]
    loaded = graft.api.load(pruned)
    assert loaded.manifest["pruning"]["threshold"] == 0.3
    assert loaded.module.layer2.conv1[0].out_channels == 64  # -el kept it whole
    assert loaded.num_params == report["params_after"]

    onnx_path = tmp_path / "model.int8.onnx"
    r = _run(app, "export", "-m", pruned, "-o", onnx_path, "--data_type", "int8",
             "--cal_image_dir", image_dir, "--batches", "2", "--batch_size", "4",
             "--cal_cache_file", tmp_path / "cal.json", "-d", "40,40,3")
    assert r.exit_code == 0, r.output
    ops = Counter(n.op_type for n in onnx.load(str(onnx_path)).graph.node)
    assert ops["QuantizeLinear"] > 0
    dims = onnx.load(str(onnx_path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[1:]] == [3, 40, 40]
    assert (tmp_path / "cal.json").is_file() and (tmp_path / "model.int8.parity.json").is_file()


def test_export_errors_are_one_line_user_errors(app, model_file, tmp_path) -> None:
    r = _run(app, "export", "-m", model_file, "-o", tmp_path / "m.onnx", "--data_type", "int8")
    assert isinstance(r.exception, UserError) and "real images" in str(r.exception)
    r = _run(app, "export", "-m", model_file, "-o", tmp_path / "m.onnx", "--sdk_compatible_model")
    assert isinstance(r.exception, UserError) and "no SDK-compatible" in str(r.exception)
    r = _run(app, "export", "-m", model_file, "-o", tmp_path / "m.onnx", "--data_type", "int4")
    assert isinstance(r.exception, UserError)
    r = _run(app, "prune", "-m", model_file, "-o", tmp_path / "p.graft", "-eq", "average")
    assert isinstance(r.exception, UserError) and "equalization" in str(r.exception)
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "p.graft").exists()


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed: the error path is moot")
def test_engine_file_without_tensorrt_says_how_to_install(app, model_file, tmp_path) -> None:
    r = _run(app, "export", "-m", model_file, "-o", tmp_path / "m.onnx",
             "--engine_file", tmp_path / "m.engine")
    assert isinstance(r.exception, UserError)
    assert "graft[tensorrt]" in str(r.exception)


def test_help_shows_tlt_flags_and_an_example(app) -> None:
    out = CliRunner().invoke(app, ["prune", "--help"]).output
    assert "-pth" in out and "-eq" in out and "-nf" in out and "Example" in out
    out = CliRunner().invoke(app, ["export", "--help"]).output
    assert "--cal_image_dir" in out and "--engine_file" in out and "Example" in out


def test_prune_and_export_read_the_key_from_graft_key(app, tmp_path, toy_task,
                                                      monkeypatch) -> None:
    module = spread_filter_norms(toy_task.build_model({"name": "tiny_resnet"}))
    encrypted = tmp_path / "enc.graft"
    graft.api.GraftModel(module.eval(), manifest_for("tiny_resnet")).save(encrypted, key="s3cret")
    monkeypatch.setenv("GRAFT_KEY", "s3cret")
    r = _run(app, "prune", "-m", encrypted, "-o", tmp_path / "p.graft", "-pth", "0.3")
    assert r.exit_code == 0, r.output
    graft.api.load(tmp_path / "p.graft", key="s3cret")  # written with the same key
    r = _run(app, "export", "-m", tmp_path / "p.graft", "-o", tmp_path / "p.onnx")
    assert r.exit_code == 0, r.output


def test_prune_refuses_to_overwrite_its_input_unless_forced(app, model_file, tmp_path) -> None:
    before = model_file.read_bytes()
    r = _run(app, "prune", "-m", model_file, "-o", model_file, "-pth", "0.3")
    assert isinstance(r.exception, UserError) and "is the input model" in str(r.exception)
    assert "--force" in str(r.exception)
    assert model_file.read_bytes() == before
    same = tmp_path / "." / model_file.name  # another spelling of the same path
    r = _run(app, "prune", "-m", model_file, "-o", same, "-pth", "0.3", "--force")
    assert r.exit_code == 0, r.output
    assert graft.api.load(model_file).manifest["pruning"]["layers_pruned"] > 0


def test_export_outputs_may_not_collide(app, model_file, tmp_path) -> None:
    onnx_path = tmp_path / "m.onnx"
    r = _run(app, "export", "-m", model_file, "-o", onnx_path, "--cal_cache_file", onnx_path)
    assert isinstance(r.exception, UserError) and "same file" in str(r.exception)
    r = _run(app, "export", "-m", model_file, "-o", onnx_path,
             "--cal_cache_file", model_file)
    assert isinstance(r.exception, UserError) and "is the input model" in str(r.exception)
    assert "--force" not in str(r.exception)  # export has no --force to offer
    assert not onnx_path.exists()


def test_export_parity_failure_exits_3_unless_allowed(app, tmp_path, toy_task) -> None:
    model = tmp_path / "drift.graft"
    arch = {"name": "drift", "kwargs": {"offset": 0.5}}
    graft.api.GraftModel(toy_task.build_model(arch).eval(),
                         {**manifest_for("drift", size=8), "architecture": arch}).save(model)
    out = tmp_path / "drift.onnx"
    r = _run(app, "export", "-m", model, "-o", out)
    assert isinstance(r.exception, UserError) and r.exception.exit_code == 3
    assert "parity check failed" in str(r.exception) and not out.exists()
    assert (tmp_path / "drift.parity.json").is_file()
    r = _run(app, "export", "-m", model, "-o", out, "--allow_parity_mismatch")
    assert r.exit_code == 0, r.output
    assert out.is_file() and "written anyway" in r.output
    assert "exit" in CliRunner().invoke(app, ["export", "--help"]).output


def test_model_info_counts_pruned_layers(app, model_file, tmp_path) -> None:
    from graft.model_cli import app as model_app

    def info_line(path) -> str:
        out = CliRunner().invoke(model_app, [str(path)], terminal_width=200).output
        return next(line for line in out.splitlines() if "pruned layers" in line)

    assert info_line(model_file).split()[-2] == "0"
    pruned = tmp_path / "p.graft"
    assert _run(app, "prune", "-m", model_file, "-o", pruned, "-pth", "0.3").exit_code == 0
    loaded = graft.api.load(pruned)
    count = loaded.manifest["pruning"]["layers_pruned"]
    assert count > 0 and info_line(pruned).split()[-2] == str(count)
    # a pruned model saved again without the prune record (as retraining does): from its shapes
    manifest = {k: v for k, v in loaded.manifest.items() if k != "pruning"}
    retrained = tmp_path / "retrained.graft"
    graft.api.GraftModel(loaded.module, manifest).save(retrained)
    assert info_line(retrained).split()[-2] == str(count)
