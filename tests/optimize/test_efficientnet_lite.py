"""Prune, export and INT8 on the ImageNet EfficientNet-Lite0: depthwise convs go with the layer
that produces their input, the pruned graph exports with parity, INT8 keeps the photos' labels."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import graft
from graft.optimize.cli import run_export, run_prune
from graft.optimize.prune import PruneOptions
from graft.tasks import get
from graft.tasks.classification.inference import infer
from tests.photos import CALIBRATION, LABELED, copy_photos

pytestmark = pytest.mark.slow


def _kept(original: torch.Tensor, pruned: torch.Tensor) -> list[int]:
    """Which original channels a pruned depthwise conv kept, found by their kernels."""
    flat = original.flatten(1)
    return [int(torch.nonzero((flat == row).all(1))[0]) for row in pruned.flatten(1)]


def test_pruned_channels_are_removed_from_expand_depthwise_and_project_together(
        imagenet_lite0: Path, tmp_path: Path) -> None:
    """The pruned network computes exactly what the original does with the removed inner
    channels cut at the projection: every coupled layer lost the same channels."""
    original = graft.load(imagenet_lite0).module.eval()
    pruned_path = tmp_path / "pruned.graft"
    result = run_prune(get("classification"), imagenet_lite0, pruned_path, None,
                       PruneOptions(threshold=0.5, granularity=8, min_num_filters=8))
    pruned = graft.load(pruned_path).module.eval()
    assert result.params_after < result.params_before
    assert pruned._conv_head.out_channels == original._conv_head.out_channels
    masked = copy.deepcopy(original)
    removed_total = 0
    for i, (old, new) in enumerate(zip(original._blocks, pruned._blocks, strict=True)):
        dw = new._depthwise_conv
        assert dw.in_channels == dw.out_channels == dw.groups == new._bn1.num_features
        assert new._project_conv.in_channels == dw.out_channels
        if hasattr(new, "_expand_conv"):
            assert new._expand_conv.out_channels == new._bn0.num_features == dw.in_channels
        # at this threshold the residual stream keeps its channels; inner ones go
        assert new._project_conv.out_channels == old._project_conv.out_channels
        kept = _kept(old._depthwise_conv.weight, dw.weight)
        removed = sorted(set(range(old._depthwise_conv.out_channels)) - set(kept))
        removed_total += len(removed)
        with torch.no_grad():
            masked._blocks[i]._project_conv.weight[:, removed] = 0
    assert removed_total > 100
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), masked(x), rtol=1e-4, atol=1e-4)

    onnx_path = tmp_path / "pruned.onnx"  # the parity gate compares it with PyTorch
    photos = copy_photos(LABELED, tmp_path / "photos")
    run_export(get("classification"), pruned_path, onnx_path, None, cal_image_dir=photos,
               batches=1, batch_size=2)
    assert onnx_path.is_file()


def test_int8_keeps_the_fp32_label_of_each_photo(imagenet_lite0: Path, tmp_path: Path) -> None:
    calibration = copy_photos(CALIBRATION, tmp_path / "calibration")  # none of the test photos
    photos = copy_photos(LABELED, tmp_path / "photos")
    int8 = tmp_path / "model.int8.onnx"
    run_export(get("classification"), imagenet_lite0, int8, None, data_type="int8",
               cal_image_dir=calibration, batches=2, batch_size=4)
    fp32 = {Path(r["image"]).name: r["label"] for r in
            infer(imagenet_lite0, photos, tmp_path / "fp32", progress=False)}
    quantized = {Path(r["image"]).name: r["label"] for r in
                 infer(int8, photos, tmp_path / "int8", progress=False)}
    assert quantized == fp32
    assert all(fp32[p] in names for p, names in LABELED.items())
