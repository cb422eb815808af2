"""ONNX export at a fixed size, image and roi masks: onnxruntime matches PyTorch, with and
without detections; pasting the roi export's masks gives the image export's."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from graft.api import GraftModel, load
from graft.runtime.metadata import read_metadata
from graft.spec import load_spec
from graft.tasks.mask_rcnn.export import OUTPUTS, RoiMasks, export_model, paste_masks
from graft.tasks.mask_rcnn.spec import MaskRCNNSpec
from graft.tasks.mask_rcnn.train import build_network, manifest_for
from tests.tasks.mask_rcnn.conftest import tiny_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_file(towers: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    (root / "spec.yaml").write_text(yaml.safe_dump(tiny_spec(towers)))
    spec = load_spec(root / "spec.yaml", MaskRCNNSpec)
    torch.manual_seed(0)
    net, arch = build_network(spec, ["a", "b"], [1, 2])
    GraftModel(net, manifest_for(spec, arch, {})).save(root / "model.graft")
    return root / "model.graft"


IMAGE = torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8,
                      generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def exports(model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both mask outputs exported from the same model on the same image: kind -> (report,
    path)."""
    root = tmp_path_factory.mktemp("exports")
    return {kind: (export_model(load(model_file), root / f"{kind}.onnx", IMAGE,
                                mask_output=kind), root / f"{kind}.onnx")
            for kind in ("image", "roi")}


def _run(path: Path, x: torch.Tensor) -> list[np.ndarray]:
    import onnxruntime as ort

    return ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})


def _metadata(path: Path) -> dict[str, Any]:
    import onnx

    return read_metadata({p.key: p.value for p in onnx.load(str(path)).metadata_props})


def _compared(report) -> list[str]:
    """The outputs the shared exporter's parity gate compared, all passed."""
    assert report.passed and all(p.passed for p in report.parity)
    return [p.name for p in report.parity]


def test_export_matches_pytorch_on_onnxruntime(model_file: Path, exports):
    model = load(model_file)
    report, path = exports["image"]
    assert _compared(report) == OUTPUTS
    x = IMAGE.float().div(255)
    boxes, labels, scores, masks = _run(path, x)
    with torch.no_grad():
        want = model.module([x])[0]
    assert len(scores) == len(want["scores"]) > 0  # an untrained head scores every class
    np.testing.assert_allclose(boxes, want["boxes"].numpy(), atol=1e-2)
    np.testing.assert_array_equal(labels, want["labels"].numpy())
    assert masks.shape == (len(scores), 1, 64, 64)
    assert _metadata(path)["mask_output"] == "image"


def test_roi_export_is_the_mask_heads_output_compared_with_pytorch(model_file: Path, exports):
    """The roi graph returns (N, 1, 28, 28) per detection, the metadata says so, and the
    parity gate compared all four outputs with the same cut in PyTorch."""
    report, path = exports["roi"]
    assert _compared(report) == OUTPUTS
    x = IMAGE.float().div(255)
    boxes, labels, scores, masks = _run(path, x)
    n = len(scores)
    assert n > 0 and boxes.shape == (n, 4) and labels.shape == (n,)
    assert masks.shape == (n, 1, 28, 28) and masks.min() >= 0 and masks.max() <= 1
    with torch.no_grad():
        want = RoiMasks(load(model_file).module.eval())(x)
    for got, w in zip((boxes, labels, scores, masks), want, strict=True):
        np.testing.assert_allclose(got, w.numpy(), atol=1e-4)
    meta = _metadata(path)
    assert (meta["mask_output"], meta["mask_size"]) == ("roi", 28)


def test_pasting_the_roi_exports_masks_gives_the_image_exports(exports):
    """What a consumer of the roi export does (paste_masks on onnxruntime's outputs) gives
    the image export's masks on the same image."""
    x = IMAGE.float().div(255)
    boxes, labels, _, image_masks = _run(exports["image"][1], x)
    roi_boxes, roi_labels, _, roi_masks = _run(exports["roi"][1], x)
    np.testing.assert_allclose(roi_boxes, boxes, atol=1e-4)
    np.testing.assert_array_equal(roi_labels, labels)
    pasted = paste_masks(roi_boxes, roi_masks, 64, 64).numpy()
    assert pasted.shape == image_masks.shape
    assert np.abs(pasted - image_masks).max() < 1e-3
    a, b = pasted > 0.5, image_masks > 0.5
    assert a.any() and (a & b).sum() / (a | b).sum() > 0.99


@pytest.mark.parametrize(("kind", "mask_shape"), [("image", (1, 64, 64)), ("roi", (1, 28, 28))])
def test_exported_graph_runs_an_image_without_detections(model_file: Path, tmp_path: Path,
                                                         kind: str, mask_shape: tuple):
    model = load(model_file)
    model.module.roi_heads.score_thresh = 0.99  # nothing an untrained head scores reaches it
    gray = torch.full((3, 64, 64), 128, dtype=torch.uint8)
    with torch.no_grad():  # the image the gate compares on has no detections
        assert len(model.module([gray.float().div(255)])[0]["scores"]) == 0
    report = export_model(model, tmp_path / "none.onnx", gray, mask_output=kind)
    assert _compared(report) == OUTPUTS
    outs = _run(tmp_path / "none.onnx", torch.full((3, 64, 64), 0.5))
    assert [o.shape[0] for o in outs] == [0, 0, 0, 0]
    assert outs[3].shape[1:] == mask_shape


def _nodes(graph):
    """Every node, also those inside If branches and Loop bodies."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g.node:
                yield from _nodes(attr.g)


def test_exported_ops_are_the_ones_checked_against_tensorrts_operator_list(exports):
    """The export module's TensorRT notes hold for exactly these op types: a new one in
    either graph fails here until it is checked too, and so does a listed one neither graph
    uses any more. The image graph's mask-pasting Loop the notes warn about is asserted as
    described (its carried tensor is concatenated to, so its shape changes every iteration);
    the roi graph has no Loop at all, in no subgraph either."""
    import onnx

    from graft.tasks.mask_rcnn.export import CHECKED_OPS

    graphs = {kind: onnx.load(str(path)).graph for kind, (_, path) in exports.items()}
    ops = {kind: {n.op_type for n in _nodes(g)} for kind, g in graphs.items()}
    for kind in ops:
        assert ops[kind] <= CHECKED_OPS, (kind, sorted(ops[kind] - CHECKED_OPS))
        assert {"RoiAlign", "NonZero", "TopK", "If"} <= ops[kind]
    assert sorted(CHECKED_OPS - ops["image"] - ops["roi"]) == []
    assert "Loop" in ops["image"] and "Loop" not in ops["roi"]
    growing = []
    for loop in (n for n in _nodes(graphs["image"]) if n.op_type == "Loop"):
        body = loop.attribute[0].g
        carried = [i.name for i in body.input[2:]]
        growing += [c for c in carried for n in body.node
                    if n.op_type == "Concat" and c in n.input
                    and n.output[0] in {o.name for o in body.output}]
    assert growing, "the mask-pasting Loop no longer grows a carried tensor: update the notes"
