"""Per-output dynamic axes and task comparators: a detector-like output whose length depends on
the input (no batch axis), exported, run and compared after matching."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from graft.errors import UserError
from graft.optimize.export import ExportOptions, export_onnx, parity_path
from graft.optimize.parity import OutputParity, ParityError, compare, compare_outputs
from graft.runtime import load_runner

from .conftest import ToyTask, manifest_for

AXES = {"detections": {0: "detections"}}


class Detector(nn.Module):
    """``scores`` (B, 4) per image, and ``detections`` (N, 3): one row [image, channel, mean]
    per channel whose mean is positive, over the whole batch. With ``reorder_in_export`` the
    exported graph lists the rows in reverse order (as NMS tie-breaking may): the same set of
    detections, in a different order."""

    def __init__(self, reorder_in_export: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.reorder = reorder_in_export

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        means = self.conv(x).mean((2, 3))
        keep = torch.nonzero(means > 0)
        rows = torch.cat([keep.float(), means[keep[:, 0], keep[:, 1]][:, None]], 1)
        if self.reorder and torch.onnx.is_in_onnx_export():
            rows = rows.flip(0)
        return means, rows


def matched(got: dict[str, np.ndarray], want: dict[str, np.ndarray], inputs: str,
            rule: dict[str, Any]) -> list[OutputParity]:
    """Detections compared as sets: rows sorted before the element-wise rule; a different
    count is a failure that says so."""
    rows = [compare("scores", inputs, got["scores"], want["scores"], rule)]
    g, w = got["detections"], want["detections"]
    if len(g) != len(w):
        rows.append(OutputParity("detections", inputs, float("inf"), 0.0, passed=False,
                                 note=f"{len(g)} detections, PyTorch has {len(w)}"))
        return rows
    order = (lambda a: a[np.lexsort(a.T[::-1])])  # noqa: E731 - by image, then channel
    rows.append(compare("detections", inputs, order(g), order(w), rule))
    return rows


def _export(tmp_path, name: str, net: nn.Module, task: Any = None, **options: Any):
    if task is None:
        options.setdefault("dynamic_axes", AXES)
    options.setdefault("exporter", "torchscript")
    opts = ExportOptions(input_shape=(3, 8, 8), output_names=["scores", "detections"],
                         **options)
    return export_onnx(net.eval(), manifest_for("detector", size=8), tmp_path / name, opts,
                       task=task)


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_variable_length_output_keeps_its_own_axis_and_runs(tmp_path, exporter) -> None:
    report = _export(tmp_path, "det.onnx", Detector(), exporter=exporter)
    assert report.exporter == exporter
    assert report.passed and report.dynamic_axes["detections"] == {0: "detections"}
    assert report.dynamic_axes["scores"] == {0: "batch"}
    graph = onnx.load(str(tmp_path / "det.onnx")).graph
    dims = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
            for o in graph.output}
    assert dims == {"scores": ["batch", 4], "detections": ["detections", 3]}

    runner = load_runner(tmp_path / "det.onnx", device="cpu")
    assert [o.batched for o in runner.backend.outputs] == [True, False]
    x = np.random.default_rng(0).standard_normal((5, 3, 8, 8)).astype(np.float32)
    out = runner(x)
    counts = {len(runner(x[:n])["detections"]) for n in (1, 2, 5)}
    assert len(counts) > 1, "the detection count follows the input"
    assert out["scores"].shape == (5, 4) and out["detections"].shape[1] == 3
    assert len(out["detections"]) == int((out["scores"] > 0).sum())
    capped = load_runner(tmp_path / "det.onnx", device="cpu", batch_size=2)
    with pytest.raises(UserError, match="'detections' has no batch axis"):
        capped(x)  # 5 samples cannot be cut into parts and put back together


def test_default_comparator_fails_a_reordered_list_a_matching_one_passes(tmp_path) -> None:
    with pytest.raises(ParityError, match="'detections'"):
        _export(tmp_path, "reordered.onnx", Detector(reorder_in_export=True))
    saved = json.loads(parity_path(tmp_path / "reordered.onnx").read_text())
    failed = {r["name"] for r in saved["parity"] if r["passed"] is False}
    assert failed == {"detections"}  # the scores matched; only the order differs
    report = _export(tmp_path, "reordered.onnx", Detector(reorder_in_export=True),
                     comparator=matched)
    assert report.passed and (tmp_path / "reordered.onnx").is_file()


def test_the_task_declares_axes_and_comparator(tmp_path) -> None:
    class DetectorTask(ToyTask):
        def dynamic_axes(self, manifest: dict[str, Any]) -> dict[str, dict[int, str]]:
            return AXES

        def parity_comparator(self, manifest: dict[str, Any]):
            return matched

    report = _export(tmp_path, "task.onnx", Detector(reorder_in_export=True),
                     task=DetectorTask())
    assert report.passed and report.dynamic_axes["detections"] == {0: "detections"}


def test_a_count_mismatch_names_the_counts() -> None:
    rule = {"kind": "tolerance", "atol": 1e-4, "rtol": 1e-4, "gate": True}
    scores = np.zeros((1, 4), np.float32)
    rows = matched({"scores": scores, "detections": np.zeros((2, 3))},
                   {"scores": scores, "detections": np.zeros((3, 3))}, "random", rule)
    assert rows[1].passed is False and "2 detections, PyTorch has 3" in rows[1].note
    default = compare_outputs({"d": np.zeros((2, 3))}, {"d": np.zeros((3, 3))}, "random", rule)
    assert default[0].passed is False and "shape (2, 3)" in default[0].note


def test_axes_for_unknown_tensors_are_refused(tmp_path) -> None:
    with pytest.raises(UserError, match="'boxes'.*neither an input"):
        _export(tmp_path, "x.onnx", Detector(), dynamic_axes={"boxes": {0: "n"}})
