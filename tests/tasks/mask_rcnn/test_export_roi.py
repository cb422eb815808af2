"""The roi mask output without ONNX: the cut is torchvision's forward less the paste, boxes in
the input image's pixels at any size, paste_masks restores the pasted masks, and the choice of
mask output (defaults, refusals, the Loop warning)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from graft.api import GraftModel
from graft.cli import main
from graft.console import GraftConsole
from graft.errors import UserError
from graft.spec import load_spec
from graft.tasks.mask_rcnn.export import (
    RoiMasks,
    SingleImage,
    mask_output_for,
    mask_size,
    paste_masks,
)
from graft.tasks.mask_rcnn.spec import MaskRCNNSpec
from graft.tasks.mask_rcnn.train import build_network, manifest_for
from tests.tasks.mask_rcnn.conftest import tiny_spec


@pytest.fixture(scope="module")
def built(towers: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    """A random-init tiny detector (64x64) and its saved model file."""
    root = tmp_path_factory.mktemp("roi")
    (root / "spec.yaml").write_text(yaml.safe_dump(tiny_spec(towers)))
    spec = load_spec(root / "spec.yaml", MaskRCNNSpec)
    torch.manual_seed(0)
    net, arch = build_network(spec, ["a", "b"], [1, 2])
    GraftModel(net, manifest_for(spec, arch, {})).save(root / "model.graft")
    return net.eval(), root / "model.graft"


@pytest.mark.parametrize("hw", [(64, 64), (48, 80)])
def test_roi_cut_is_the_full_forward_less_the_paste(built, hw: tuple[int, int]) -> None:
    """Same detections as torchvision's forward, masks at 28x28, and pasting them gives its
    masks: at the model's size (the transform keeps it) and at another (resized, so the boxes
    must be mapped back to the input's pixels)."""
    net = built[0]
    x = torch.rand(3, *hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        resized = net.transform([x])[0].image_sizes[0]
        full = SingleImage(net)(x)
        roi = RoiMasks(net)(x)
    assert (tuple(resized) == hw) == (hw == (64, 64))  # rescaled only off the model's size
    n = len(full[2])
    assert n > 0 and roi[3].shape == (n, 1, mask_size(net), mask_size(net)) == (n, 1, 28, 28)
    for want, got in zip(full[:3], roi[:3], strict=True):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(paste_masks(roi[0], roi[3], *hw), full[3])


def test_paste_masks_takes_arrays_zero_masks_and_refuses_bad_shapes() -> None:
    boxes = torch.tensor([[2.0, 3.0, 9.0, 7.0]])
    pasted = paste_masks(boxes.numpy(), torch.ones(1, 1, 28, 28).numpy(), 12, 16)
    assert pasted.shape == (1, 1, 12, 16)
    inside = pasted[0, 0] > 0.5  # the box (its corners inclusive), grown by the mask's
    assert inside[3:8, 2:10].all() and inside.sum() == inside[2:9, 1:11].sum()  # 1-px pad
    assert paste_masks(torch.zeros(0, 4), torch.zeros(0, 1, 28, 28), 12, 16).shape == (
        0, 1, 12, 16)
    with pytest.raises(ValueError, match="masks"):
        paste_masks(boxes, torch.ones(1, 28, 28), 12, 16)


def test_mask_output_defaults_to_roi_with_an_engine_and_warns_on_image(capsys) -> None:
    con = GraftConsole(stderr=True)
    assert mask_output_for(None, None, con) == "image"
    assert mask_output_for(None, "m.engine", con) == "roi"
    assert mask_output_for("roi", None, con) == "roi"
    assert capsys.readouterr().err == ""
    assert mask_output_for("image", "m.engine", con) == "image"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Loop" in err and "--mask_output roi" in err
    with pytest.raises(UserError, match="not image or roi"):
        mask_output_for("pasted", None)


def test_an_unknown_mask_output_is_refused_before_writing(built, tmp_path: Path,
                                                          capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert main(["mask_rcnn", "export", "-m", str(built[1]), "-o", str(out / "m.onnx"),
                 "--mask_output", "full"]) == 2
    assert "not image or roi" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_help_explains_mask_output_with_an_example(capsys) -> None:
    assert main(["mask_rcnn", "export", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--mask_output" in out and "model_roi.onnx" in out and "paste_masks" in out
