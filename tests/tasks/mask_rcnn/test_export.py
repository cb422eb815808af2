"""ONNX export at a fixed size: onnxruntime matches PyTorch, with and without detections."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from graft.api import GraftModel, load
from graft.spec import load_spec
from graft.tasks.mask_rcnn.export import export_model
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


def test_export_matches_pytorch_on_onnxruntime(model_file: Path, tmp_path: Path):
    import onnxruntime as ort

    model = load(model_file)
    image = torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(1))
    report = export_model(model, tmp_path / "m.onnx", image)
    assert report.passed
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    x = image.float().div(255)
    boxes, labels, scores, masks = session.run(None, {"image": x.numpy()})
    with torch.no_grad():
        want = model.module([x])[0]
    assert len(scores) == len(want["scores"]) > 0  # an untrained head scores every class
    np.testing.assert_allclose(boxes, want["boxes"].numpy(), atol=1e-2)
    np.testing.assert_array_equal(labels, want["labels"].numpy())
    assert masks.shape == (len(scores), 1, 64, 64)


def test_exported_graph_runs_an_image_without_detections(model_file: Path, tmp_path: Path):
    import onnxruntime as ort

    model = load(model_file)
    model.module.roi_heads.score_thresh = 0.99  # nothing an untrained head scores reaches it
    report = export_model(model, tmp_path / "none.onnx")
    assert report.passed
    session = ort.InferenceSession(str(tmp_path / "none.onnx"))
    outs = session.run(None, {"image": np.full((3, 64, 64), 0.5, np.float32)})
    assert [o.shape[0] for o in outs] == [0, 0, 0, 0]


def _nodes(graph):
    """Every node, also those inside If branches and Loop bodies."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g.node:
                yield from _nodes(attr.g)


def test_exported_ops_are_the_ones_checked_against_tensorrts_operator_list(
        model_file: Path, tmp_path: Path):
    """The export module's TensorRT notes hold for exactly these op types: a new one fails
    here until it is checked too. The mask-pasting Loop the notes warn about is asserted as
    described: its carried tensor is concatenated to, so its shape changes every iteration."""
    import onnx

    from graft.tasks.mask_rcnn.export import CHECKED_OPS

    export_model(load(model_file), tmp_path / "m.onnx")
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    ops = {n.op_type for n in _nodes(graph)}
    assert ops <= CHECKED_OPS, sorted(ops - CHECKED_OPS)
    assert {"RoiAlign", "NonZero", "TopK", "Loop", "If"} <= ops
    growing = []
    for loop in (n for n in graph.node if n.op_type == "Loop"):
        body = loop.attribute[0].g
        carried = [i.name for i in body.input[2:]]
        growing += [c for c in carried for n in body.node
                    if n.op_type == "Concat" and c in n.input
                    and n.output[0] in {o.name for o in body.output}]
    assert growing, "the mask-pasting Loop no longer grows a carried tensor: update the notes"
