"""The runner on every backend here: .graft (PyTorch) and ONNX (onnxruntime); TensorRT engines
when TensorRT and a GPU are there. Named inputs and outputs, batching, devices, metadata."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import graft.api
from graft.errors import UserError
from graft.optimize.export import ExportOptions, export_onnx
from graft.runtime import Runner, is_exported, load_runner, resolve_device
from graft.runtime.torch_backend import TorchBackend
from graft.runtime.trt_backend import tensorrt_available

from ..optimize.conftest import ExportDrift, TinyResNet, ToyTask, TwoStage, manifest_for

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")


@pytest.fixture
def pose_files(tmp_path, toy_task):
    """A two-output toy model as a .graft file and its ONNX export."""
    model = TwoStage().eval()
    graft_path, onnx_path = tmp_path / "pose.graft", tmp_path / "pose.onnx"
    graft.api.GraftModel(model, manifest_for("two_stage")).save(graft_path)
    export_onnx(model, manifest_for("two_stage"), onnx_path,
                ExportOptions(exporter="torchscript"), task=toy_task)
    return graft_path, onnx_path


def test_graft_and_onnx_run_alike_with_named_outputs(pose_files) -> None:
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    runs = {}
    for path in pose_files:
        runner = load_runner(path, device="cpu", task="toy")
        assert runner.input_names == ["input"] and runner.output_names == ["paf", "heatmap"]
        assert runner.info.task == "toy" and runner.info.input_size == (32, 32)
        assert runner.info.normalization == manifest_for("two_stage")["input"]["normalization"]
        assert runner.manifest["architecture"]["name"] == "two_stage"
        runs[runner.kind] = runner(x)
        assert all(isinstance(v, np.ndarray) for v in runs[runner.kind].values())
        as_torch = runner(torch.from_numpy(x))  # tensors in: tensors out, on the device
        assert all(isinstance(v, torch.Tensor) and v.device == runner.device
                   for v in as_torch.values())
        only = runner({"input": x}, outputs=["heatmap"], returns="torch")
        assert list(only) == ["heatmap"] and torch.equal(only["heatmap"],
                                                         as_torch["heatmap"])
        with pytest.raises(UserError, match="no output 'pafs'"):
            runner(x, outputs=["pafs"])
        with pytest.raises(UserError, match="takes the inputs input"):
            runner({"image": x})
    assert set(runs) == {"pytorch", "onnx"}
    for name in ("paf", "heatmap"):
        assert runs["onnx"][name].shape == runs["pytorch"][name].shape
        np.testing.assert_allclose(runs["onnx"][name], runs["pytorch"][name], atol=1e-4)
    assert load_runner(pose_files[0], device="cpu").fixed_input_size is None
    assert load_runner(pose_files[1], device="cpu").fixed_input_size == (32, 32)


def test_a_model_of_another_task_is_refused(pose_files) -> None:
    graft_path, onnx_path = pose_files
    with pytest.raises(UserError, match="is a 'toy' model, not 'bpnet'"):
        load_runner(graft_path, task="bpnet")
    with pytest.raises(UserError, match="not a bpnet export"):
        load_runner(onnx_path, task="bpnet")


def test_missing_junk_and_unknown_files_are_user_errors(tmp_path) -> None:
    with pytest.raises(UserError, match="model file not found"):
        load_runner(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(UserError, match="cannot load"):
        load_runner(tmp_path / "junk.onnx")
    (tmp_path / "junk.graft").write_bytes(b"not a model either")
    with pytest.raises(UserError):
        load_runner(tmp_path / "junk.graft")
    assert is_exported("a.onnx") and is_exported("a.engine") and is_exported("a.PLAN")
    assert not is_exported("a.graft")


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed")
def test_engine_without_tensorrt_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "m.engine").write_bytes(b"\0")
    with pytest.raises(UserError, match=r"graft\[tensorrt\]"):
        load_runner(tmp_path / "m.engine")


def test_a_batch_larger_than_a_static_onnx_batch_is_split_and_padded(tmp_path) -> None:
    """A third-party export with a static batch of 4 (no graft metadata): 11 samples run as
    4 + 4 + 3 (padded to 4, the padding cut off), 2 samples as one padded run."""
    model = TinyResNet().eval()
    path = tmp_path / "fixed.onnx"
    torch.onnx.export(model, (torch.rand(4, 3, 32, 32),), str(path), dynamo=False,
                      input_names=["images"], output_names=["logits"])
    runner = load_runner(path, device="cpu")
    assert runner.backend.fixed_batch and runner.max_batch == 4
    with pytest.raises(Exception, match="Expected: 4"):  # onnxruntime alone, fed 11 at once
        runner.backend.run({"images": np.zeros((11, 3, 32, 32), np.float32)})
    x = np.random.default_rng(1).standard_normal((11, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    for n in (11, 2, 4):
        got = runner(x[:n])["logits"]
        assert got.shape == (n, 4)
        np.testing.assert_allclose(got, want[:n], atol=1e-4)


class SeenBatches(nn.Module):
    """Records the batch size of every call (to see how the runner splits)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.seen: list[int] = []

    def forward(self, image: torch.Tensor, offset: torch.Tensor) -> dict[str, torch.Tensor]:
        self.seen.append(len(image))
        y = self.conv(image) + offset[:, :, None, None]
        return {"sum": y.sum((2, 3)), "map": y}


def test_named_inputs_in_any_form_and_a_batch_size_cap() -> None:
    net = SeenBatches()
    backend = TorchBackend(net, ["image", "offset"], ["map", "sum"], device=torch.device("cpu"))
    image, offset = torch.rand(7, 3, 4, 4), torch.rand(7, 2)
    whole = Runner(backend)((image, offset))
    assert net.seen == [7] and whole["map"].shape == (7, 2, 4, 4)  # dict outputs by name
    capped = Runner(backend, batch_size=3)
    by_name = capped({"offset": offset, "image": image})
    assert net.seen[1:] == [3, 3, 1]
    for name in ("map", "sum"):
        torch.testing.assert_close(by_name[name], whole[name])
    with pytest.raises(UserError, match="different batch sizes"):
        capped({"image": image, "offset": offset[:5]})
    with pytest.raises(UserError, match="takes 2 input"):
        capped((image,))
    with pytest.raises(UserError, match="batch size must be >= 1"):
        Runner(backend, batch_size=0)


def test_device_is_chosen_once_and_checked() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(UserError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    model = graft.api.GraftModel(TinyResNet(), manifest_for("tiny_resnet"))
    backend = TorchBackend(model.module, ["input"], ["logits"], device=resolve_device("cpu"))
    assert backend.device.type == "cpu"
    assert next(model.module.parameters()).device.type == "cpu"


@no_cuda
def test_asking_for_a_gpu_that_is_not_there_is_a_user_error(pose_files) -> None:
    assert resolve_device("auto") == torch.device("cpu")
    for device in ("cuda", "cuda:1"):
        with pytest.raises(UserError, match="needs a CUDA GPU"):
            resolve_device(device)
        for path in pose_files:
            with pytest.raises(UserError):
                load_runner(path, device=device)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_graft_runner_on_the_gpu_returns_tensors_there(pose_files) -> None:
    runner = load_runner(pose_files[0], device="cuda")
    assert runner.device.type == "cuda" and runner.module is not None
    out = runner(np.zeros((2, 3, 32, 32), np.float32), returns="torch")
    assert out["paf"].device.type == "cuda"
    cpu = load_runner(pose_files[0], device="cpu")(np.zeros((2, 3, 32, 32), np.float32))
    np.testing.assert_allclose(out["paf"].cpu().numpy(), cpu["paf"], atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not tensorrt_available() or not torch.cuda.is_available(),
                    reason="needs TensorRT (pip install 'graft[tensorrt]') and a CUDA GPU")
@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
def test_tensorrt_engine_matches_onnxruntime(tmp_path, data_type: str) -> None:
    model = TinyResNet().eval()
    onnx_path, engine = tmp_path / "m.onnx", tmp_path / "m.engine"
    export_onnx(model, manifest_for("tiny_resnet"), onnx_path, ExportOptions(
        data_type=data_type, engine_file=engine, max_batch_size=8), task=ToyTask())
    x = np.random.default_rng(0).standard_normal((11, 3, 32, 32)).astype(np.float32)
    runner = load_runner(engine)
    assert runner.kind == "tensorrt" and runner.max_batch == 8
    trt_out = runner(x)["logits"]  # 11 > max batch 8: split into two runs
    ort_out = load_runner(onnx_path, device="cpu")(x)["logits"]
    assert np.abs(trt_out - ort_out).max() < (1e-3 if data_type == "fp32" else 2e-2)
    assert runner.info.classes == ["a", "b", "c", "d"]


def test_an_export_with_dynamic_spatial_axes_takes_any_size(tmp_path) -> None:
    axes = {"input": {0: "batch", 2: "height", 3: "width"},
            "out": {0: "batch", 2: "height", 3: "width"}}
    net = ExportDrift().eval()
    export_onnx(net, manifest_for("drift", size=8), tmp_path / "any.onnx", ExportOptions(
        input_shape=(3, 8, 8), output_names=["out"], dynamic_axes=axes, exporter="torchscript"))
    runner = load_runner(tmp_path / "any.onnx", device="cpu")
    assert runner.backend.inputs[0].shape == ("batch", 3, "height", "width")
    assert runner.fixed_input_size is None and runner.info.input_size == (8, 8)
    x = torch.rand(2, 3, 12, 20)
    with torch.no_grad():
        torch.testing.assert_close(runner(x)["out"], net(x), atol=1e-5, rtol=1e-5)
