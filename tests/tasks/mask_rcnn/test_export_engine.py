"""``graft mask_rcnn export --engine_file``: what is refused, refused before anything is
loaded or written. The engine build itself needs TensorRT and a GPU and is not run here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from graft.api import GraftModel
from graft.cli import main
from graft.errors import UserError
from graft.runtime.trt_backend import tensorrt_available
from graft.spec import load_spec
from graft.tasks.mask_rcnn.export import check_engine_request
from graft.tasks.mask_rcnn.spec import MaskRCNNSpec
from graft.tasks.mask_rcnn.train import build_network, manifest_for
from tests.tasks.mask_rcnn.conftest import tiny_spec


@pytest.fixture(scope="module")
def model_file(towers: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("engine")
    (root / "spec.yaml").write_text(yaml.safe_dump(tiny_spec(towers)))
    spec = load_spec(root / "spec.yaml", MaskRCNNSpec)
    torch.manual_seed(0)
    net, arch = build_network(spec, ["a", "b"], [1, 2])
    GraftModel(net, manifest_for(spec, arch, {})).save(root / "model.graft")
    return root / "model.graft"


def _export(model: Path, out: Path, *flags: str) -> int:
    return main(["mask_rcnn", "export", "-m", str(model), "-o", str(out / "m.onnx"), *flags])


def _nothing_written(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == []


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed: the error path is moot")
def test_engine_without_tensorrt_is_one_line_exit_2_and_writes_nothing(
        model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    engine = tmp_path / "m.engine"
    assert _export(model_file, tmp_path, "--engine_file", str(engine),
                   "--data_type", "fp16") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TensorRT" in err and "graft[tensorrt]" in err
    _nothing_written(tmp_path)  # no ONNX, parity report, engine or ENGINE.json


@pytest.mark.parametrize(("flags", "message"), [
    (["--engine_file", "m.engine", "--data_type", "int8"], "no INT8 calibration path"),
    (["--data_type", "fp16"], "add --engine_file"),
    (["--engine_file", "m.engine", "--data_type", "bf16"], "not fp32 or fp16"),
])
def test_requests_that_cannot_be_built_are_refused_before_writing(
        model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str],
        message: str) -> None:
    flags = [str(tmp_path / f) if f.endswith(".engine") else f for f in flags]
    assert _export(model_file, tmp_path, *flags) == 2
    assert message in capsys.readouterr().err
    _nothing_written(tmp_path)


def test_an_fp32_export_without_an_engine_needs_nothing_more() -> None:
    check_engine_request(None, "fp32")  # the plain ONNX export stays available everywhere
    with pytest.raises(UserError, match="int8"):
        check_engine_request(None, "int8")


def test_help_names_tlts_flags_and_an_example(capsys: pytest.CaptureFixture) -> None:
    assert main(["mask_rcnn", "export", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--engine_file" in out and "--data_type" in out and "Example:" in out
