"""ONNX export: parity with PyTorch, metadata, FP16, INT8 calibration (real images only)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from graft.errors import UserError
from graft.optimize.calibration import calibration_batches, default_calibration_batches
from graft.optimize.export import Calibration, ExportOptions, export_onnx, parity_path
from graft.optimize.parity import INT8_MIN_COSINE, TOLERANCES, ParityError
from graft.runtime import load_runner

from .conftest import ExportDrift, TinyResNet, ToyTask, TwoStage, manifest_for

FP32_TOLERANCE = TOLERANCES["fp32"][0]


def _ops(path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def test_fp32_dynamo_export_matches_pytorch_on_random_and_real_inputs(tmp_path, image_dir) -> None:
    task, manifest = ToyTask(), manifest_for("two_stage")
    model = TwoStage().eval()
    real = next(default_calibration_batches(manifest, image_dir, 1, 4))
    out = tmp_path / "pose.onnx"
    report = export_onnx(model, manifest, out, ExportOptions(real_inputs=real), task=task)
    assert report.exporter == "dynamo" and report.opset >= 17
    assert report.passed and report.max_abs_diff <= FP32_TOLERANCE
    assert {(p.name, p.inputs) for p in report.parity} == {
        ("paf", "random"), ("heatmap", "random"), ("paf", "real"), ("heatmap", "real")}
    saved = json.loads(parity_path(out).read_text())
    assert saved["passed"] is True and len(saved["parity"]) == 4

    graph = onnx.load(str(out)).graph
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["paf", "heatmap"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch axis

    rt = load_runner(out)
    assert rt.input_names == ["input"] and rt.output_names == ["paf", "heatmap"]
    assert rt.metadata["input"]["normalization"] == manifest["input"]["normalization"]
    assert rt.metadata["task"] == "toy" and rt.metadata["data_type"] == "fp32"
    assert rt.manifest["architecture"]["name"] == "two_stage"
    x = np.random.default_rng(1).standard_normal((5, 3, 32, 32)).astype(np.float32)
    got = rt(x)
    with torch.no_grad():
        want = model(torch.from_numpy(x))
    for name, w in zip(["paf", "heatmap"], want, strict=True):
        assert got[name].shape == tuple(w.shape)
        assert np.abs(got[name] - w.numpy()).max() <= FP32_TOLERANCE


def test_fp16_export_keeps_fp32_io_and_stays_close(tmp_path) -> None:
    model = TinyResNet().eval()
    out = tmp_path / "cls16.onnx"
    report = export_onnx(model, manifest_for("tiny_resnet"), out,
                         ExportOptions(data_type="fp16", exporter="torchscript"), task=ToyTask())
    m = onnx.load(str(out))
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert m.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in m.graph.initializer)
    assert report.criterion["kind"] == "tolerance" and report.criterion["rtol"] == 1e-2
    assert report.passed and report.max_abs_diff < 1e-2
    assert load_runner(out).metadata["classes"] == ["a", "b", "c", "d"]


def test_int8_refuses_to_calibrate_without_images(tmp_path) -> None:
    task, manifest = ToyTask(), manifest_for("tiny_resnet")
    with pytest.raises(UserError, match="never calibrates on random data"):
        export_onnx(TinyResNet(), manifest, tmp_path / "q.onnx", ExportOptions(data_type="int8"),
                    task=task)
    with pytest.raises(UserError, match="--cal_image_dir"):
        calibration_batches(task, manifest, None, 2, 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        list(calibration_batches(task, manifest, tmp_path / "empty", 2, 2))
    with pytest.raises(UserError, match="no calibration batches"):
        task.calibration_batches = lambda *a: iter(())  # a task hook that yields nothing
        calibration_batches(task, manifest, tmp_path / "empty", 2, 2)
    assert not (tmp_path / "q.onnx").exists()


def test_int8_qdq_export_from_real_images_and_cache_reuse(tmp_path, image_dir) -> None:
    task, manifest = ToyTask(), manifest_for("two_stage")
    torch.manual_seed(0)
    model = TwoStage().eval()
    cache = tmp_path / "cal.json"
    out = tmp_path / "pose.int8.onnx"
    cal = Calibration(calibration_batches(task, manifest, image_dir, 3, 4), 3, cache)
    report = export_onnx(model, manifest, out, ExportOptions(
        data_type="int8", calibration=cal, exporter="torchscript"), task=task)
    ops = _ops(out)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > ops["QuantizeLinear"]
    assert report.calibration["batches"] == 3 and report.calibration["images"] == 12
    assert {p.inputs for p in report.parity} == {"random", "real"}  # the first batch is reused
    real = [p for p in report.parity if p.inputs == "real"]
    # a random-weight net quantizes worse than a trained one; this only catches broken ranges
    assert all(p.max_abs_diff < 0.4 * p.max_abs_reference for p in real)
    # INT8 gets an agreement verdict on the real images (random ones are not judged)
    assert report.criterion["kind"] == "agreement" and report.passed is True
    assert all(p.passed and p.cosine >= INT8_MIN_COSINE for p in real)
    assert all(p.passed is None for p in report.parity if p.inputs == "random")
    assert json.loads(parity_path(out).read_text())["passed"] is True
    ranges = json.loads(cache.read_text())["data"]
    assert "input" in ranges and len(ranges) > 5
    # symmetric int8 everywhere: every zero point is 0
    m = onnx.load(str(out))
    inits = {i.name: i for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear" and len(n.input) > 2:
            assert not onnx.numpy_helper.to_array(inits[n.input[2]]).any()

    again = tmp_path / "again.onnx"
    reuse = ExportOptions(data_type="int8", calibration=Calibration(cache_file=cache),
                          exporter="torchscript")
    report2 = export_onnx(model, manifest, again, reuse, task=task)
    assert report2.calibration["reused_cache"] is True
    assert report2.passed is None and "--cal_image_dir" in report2.notes[0]  # no real images
    assert _ops(again)["QuantizeLinear"] == ops["QuantizeLinear"]
    with pytest.raises(UserError, match="made for another model"):
        export_onnx(TinyResNet(), manifest_for("tiny_resnet"), tmp_path / "other.onnx", reuse,
                    task=task)


def test_task_head_is_appended_for_sdk_compatible_export(tmp_path) -> None:
    """The bpnet-style deployment variant: an extra module upsamples the first output."""

    class UpsamplePaf(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up = nn.ConvTranspose2d(6, 6, 4, stride=2, padding=1, groups=6, bias=False)

        def forward(self, paf: torch.Tensor, heat: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return self.up(paf), heat

    out = tmp_path / "sdk.onnx"
    report = export_onnx(TwoStage().eval(), manifest_for("two_stage"), out, ExportOptions(
        head=UpsamplePaf().eval(), output_names=["paf_up", "heatmap"], exporter="torchscript"),
        task=ToyTask())
    rt = load_runner(out)
    assert rt.output_names == ["paf_up", "heatmap"]
    res = rt(np.zeros((1, 3, 32, 32), np.float32))
    assert res["paf_up"].shape == (1, 6, 32, 32) and res["heatmap"].shape == (1, 4, 16, 16)
    assert report.passed and "ConvTranspose" in _ops(out)


def test_tlt_tensor_names_go_out_unchanged(tmp_path, image_dir) -> None:
    """DetectNet_v2's names (``input_1``, outputs with a slash) so DeepStream configs work;
    INT8 calibration feeds the renamed input."""
    task, manifest = ToyTask(), manifest_for("two_stage")
    names = ["output_cov/Sigmoid", "output_bbox/BiasAdd"]
    out = tmp_path / "detectnet.onnx"
    cal = Calibration(default_calibration_batches(manifest, image_dir, 1, 4), 1)
    report = export_onnx(TwoStage().eval(), manifest, out, ExportOptions(
        data_type="int8", input_names=["input_1"], output_names=names, calibration=cal,
        exporter="torchscript"), task=task)
    graph = onnx.load(str(out)).graph
    assert [i.name for i in graph.input] == ["input_1"] and report.input_names == ["input_1"]
    assert [o.name for o in graph.output] == names
    assert report.calibration["images"] == 4 and report.passed
    rt = load_runner(out)
    assert rt.input_names == ["input_1"] and rt.metadata["input_names"] == ["input_1"]
    assert set(rt({"input_1": np.zeros((3, 3, 32, 32), np.float32)})) == set(names)


def test_input_size_and_output_count_are_checked(tmp_path) -> None:
    out = tmp_path / "big.onnx"
    export_onnx(TwoStage().eval(), manifest_for("two_stage"), out,
                ExportOptions(input_shape=(3, 48, 64), exporter="torchscript"), task=ToyTask())
    rt = load_runner(out)
    assert rt.metadata["input"]["height"] == 48 and rt.metadata["input"]["width"] == 64
    assert rt(np.zeros((2, 3, 48, 64), np.float32))["paf"].shape == (2, 6, 24, 32)
    with pytest.raises(UserError, match="returns 2 outputs"):
        export_onnx(TwoStage().eval(), manifest_for("two_stage"), tmp_path / "x.onnx",
                    ExportOptions(output_names=["only_one"], input_shape=(3, 32, 32),
                                  exporter="torchscript"))
    with pytest.raises(UserError, match=".onnx"):
        export_onnx(TwoStage(), manifest_for("two_stage"), tmp_path / "x.graft", task=ToyTask())


def test_auto_exporter_falls_back_when_torch_export_cannot_trace(tmp_path) -> None:
    class DataDependent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return y * 2 if bool(y.mean() > -1e9) else y  # a data-dependent branch

    report = export_onnx(DataDependent().eval(), manifest_for("tiny_resnet"), tmp_path / "d.onnx",
                         ExportOptions(input_shape=(3, 16, 16), output_names=["out"]))
    assert report.exporter == "torchscript" and report.passed


# -- the parity gate ---------------------------------------------------------------------------


def _drift(tmp_path, name: str, data_type: str = "fp32", **kw):
    return export_onnx(ExportDrift(**kw.pop("net", {})).eval(), manifest_for("drift"),
                       tmp_path / name, ExportOptions(
                           input_shape=(3, 8, 8), output_names=["out"], data_type=data_type,
                           exporter="torchscript", **kw))


@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
def test_a_mismatching_export_fails_the_gate_and_is_not_written(tmp_path, data_type) -> None:
    out = tmp_path / "drift.onnx"
    out.write_bytes(b"previous export")
    with pytest.raises(ParityError, match="parity check failed.*'out'.*--allow_parity_mismatch"
                       ) as err:
        _drift(tmp_path, "drift.onnx", data_type, net={"offset": 0.5})
    assert err.value.exit_code == 3
    assert out.read_bytes() == b"previous export", "a failed export never replaces a file"
    saved = json.loads(parity_path(out).read_text())
    assert saved["passed"] is False and saved["accepted_mismatch"] is False
    assert saved["criterion"]["atol"] == TOLERANCES[data_type][0]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_mismatch_is_written_when_accepted_knowingly(tmp_path) -> None:
    report = _drift(tmp_path, "drift.onnx", net={"offset": 0.5}, allow_parity_mismatch=True)
    assert report.passed is False and report.accepted_mismatch
    assert load_runner(tmp_path / "drift.onnx").output_names == ["out"]
    assert json.loads(parity_path(tmp_path / "drift.onnx").read_text())["accepted_mismatch"]


def test_tolerance_scales_with_the_outputs(tmp_path) -> None:
    """atol + rtol x max|output|: 0.05 off on outputs near 1000 is fine (tolerance ~0.1), the
    same 0.05 on outputs near 1 is not; an exact export passes."""
    big = _drift(tmp_path, "big.onnx", net={"offset": 0.05, "gain": 1000.0})
    row = big.parity[0]
    assert big.passed and row.max_abs_reference > 500
    assert row.tolerance == pytest.approx(1e-4 + 1e-4 * row.max_abs_reference)
    assert row.max_abs_diff == pytest.approx(0.05, rel=1e-2)
    with pytest.raises(ParityError):
        _drift(tmp_path, "small.onnx", net={"offset": 0.05})
    assert _drift(tmp_path, "exact.onnx").passed
    custom = _drift(tmp_path, "loose.onnx", net={"offset": 0.05}, atol=0.1)
    assert custom.passed and custom.criterion["atol"] == 0.1


def test_int8_low_agreement_is_a_warning_not_a_gate(tmp_path, image_dir) -> None:
    from graft.optimize.calibration import default_calibration_batches

    manifest = {**manifest_for("drift"), "input": {**manifest_for("drift")["input"],
                                                   "height": 8, "width": 8}}
    report = _drift(tmp_path, "flip.int8.onnx", "int8", net={"scale": -1.0},
                    calibration=Calibration(default_calibration_batches(manifest, image_dir, 2,
                                                                        4), 2))
    real = [p for p in report.parity if p.inputs == "real"]
    assert report.passed is False and real and real[0].cosine < 0  # the sign flipped
    assert (tmp_path / "flip.int8.onnx").is_file()
    assert json.loads(parity_path(tmp_path / "flip.int8.onnx").read_text())["criterion"][
        "gate"] is False


def test_fp16_clamping_warnings_are_counted_not_printed(tmp_path, recwarn) -> None:
    model = ExportDrift().eval()
    with torch.no_grad():
        model.conv.weight[0, 0, 0, 0] = 1e-9  # below FP16's smallest subnormal: clamped
    report = export_onnx(model, manifest_for("drift"), tmp_path / "c.onnx", ExportOptions(
        input_shape=(3, 8, 8), output_names=["out"], data_type="fp16", exporter="torchscript"))
    assert report.fp16_conversion["clamped"] >= 1
    assert "truncated" in report.fp16_conversion["examples"][0]
    assert not [w for w in recwarn if "truncated" in str(w.message)]
    saved = json.loads(parity_path(tmp_path / "c.onnx").read_text())
    assert saved["fp16_conversion"]["clamped"] == report.fp16_conversion["clamped"]


def test_export_options_metadata_joins_the_tasks_in_the_onnx(tmp_path) -> None:
    """A fact of one export (mask_rcnn's mask_output) is recorded beside the task's hook's,
    and wins over it when both name the same key."""

    class FactTask(ToyTask):
        def export_metadata(self, manifest) -> dict:
            return {"head": "task", "kept": 1}

    out = tmp_path / "m.onnx"
    export_onnx(TwoStage().eval(), manifest_for("two_stage"), out, ExportOptions(
        exporter="torchscript", metadata={"head": "export", "mask_output": "roi"}),
        task=FactTask())
    meta = load_runner(out).metadata
    assert (meta["head"], meta["kept"], meta["mask_output"]) == ("export", 1, "roi")


def test_outputs_with_zero_rows_compare_without_warnings(recwarn) -> None:
    """An image without detections: (0, 4) boxes match, no top-1 agreement of nothing."""
    from graft.optimize.parity import compare, criterion

    row = compare("boxes", "random", np.zeros((0, 4), np.float32),
                  np.zeros((0, 4), np.float32), criterion("fp32"))
    assert row.passed and row.top1_agreement is None and len(recwarn) == 0
    bad = compare("boxes", "random", np.zeros((1, 4), np.float32),
                  np.zeros((0, 4), np.float32), criterion("fp32"))
    assert bad.passed is False and "shape" in bad.note
