"""Classification through the optimization workflow: prune -> retrain (load_graph) -> export
FP32/INT8 ONNX -> evaluate the ONNX models; and QAT training -> QDQ export."""

import json
from pathlib import Path

import onnx
import pytest
import torch
import yaml

import graft
from graft.cli import main
from tests.conftest import classification_spec_dict

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(tmp_path_factory, shapes_dir) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("opt")
    spec = root / "spec.yaml"
    data = classification_spec_dict(shapes_dir, epochs=1)
    data["model"]["arch"] = "resnet18"
    spec.write_text(yaml.safe_dump(data))
    assert main(["classification", "train", "-e", str(spec), "-r", str(root / "train")]) == 0
    return spec, root


def test_prune_retrain_export_and_evaluate_onnx(base, shapes_dir, tmp_path):
    spec, root = base
    # L1-regularized training spreads filter norms apart; one epoch on 27 images does not, so
    # shrink the last 60 % of every conv's filters the way a long L1 run would.
    model = tmp_path / "trained.graft"
    trained = graft.load(root / "train" / "model.graft")
    with torch.no_grad():
        for m in trained.module.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight[int(0.4 * m.out_channels) :] *= 0.05
    trained.save(model)
    pruned = tmp_path / "pruned.graft"
    assert (
        main(
            [
                "classification",
                "prune",
                "-m",
                str(model),
                "-o",
                str(pruned),
                "-pth",
                "0.3",
                "-pg",
                "8",
                "-nf",
                "8",
            ]
        )
        == 0
    )
    before, after = graft.load(model), graft.load(pruned)
    assert after.num_params < 0.5 * before.num_params
    for name, m in after.module.named_modules():
        if hasattr(m, "out_channels") and name != "fc":
            assert m.out_channels % 8 == 0, name
    assert after.module.fc.out_features == 3  # the head is never pruned

    # retrain the pruned graph
    retrain = yaml.safe_load(spec.read_text())
    retrain["model"].update({"pretrained_weights": str(pruned), "load_graph": True})
    retrain_spec = tmp_path / "retrain.yaml"
    retrain_spec.write_text(yaml.safe_dump(retrain))
    assert (
        main(["classification", "train", "-e", str(retrain_spec), "-r", str(tmp_path / "re")]) == 0
    )
    retrained = graft.load(tmp_path / "re" / "model.graft")
    assert retrained.num_params == after.num_params

    # export FP32 and INT8 and evaluate them like the PyTorch model
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m.int8.onnx"
    assert (
        main(
            [
                "classification",
                "export",
                "-m",
                str(tmp_path / "re" / "model.graft"),
                "-o",
                str(fp32),
            ]
        )
        == 0
    )
    parity = (
        json.loads(fp32.with_suffix(".parity.json").read_text())
        if fp32.with_suffix(".parity.json").exists()
        else json.loads((tmp_path / "m.onnx.parity.json").read_text())
    )
    assert json.dumps(parity)  # written next to the model
    assert (
        main(
            [
                "classification",
                "export",
                "-m",
                str(tmp_path / "re" / "model.graft"),
                "-o",
                str(int8),
                "--data_type",
                "int8",
                "--cal_image_dir",
                str(shapes_dir / "train"),
                "--batches",
                "2",
                "--batch_size",
                "4",
            ]
        )
        == 0
    )
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(int8)).graph.node)
    results = {}
    for name, path in (("torch", tmp_path / "re" / "model.graft"), ("fp32", fp32), ("int8", int8)):
        out = tmp_path / f"eval_{name}"
        assert (
            main(["classification", "evaluate", "-e", str(spec), "-m", str(path), "-r", str(out)])
            == 0
        )
        results[name] = json.loads((out / "evaluation.json").read_text())
    assert results["fp32"]["backend"] != "pytorch"
    assert results["fp32"]["top1_accuracy"] == pytest.approx(results["torch"]["top1_accuracy"])
    assert results["fp32"]["loss"] == pytest.approx(results["torch"]["loss"], abs=1e-4)


def test_int8_export_refuses_without_images(base, tmp_path, capsys):
    _, root = base
    assert (
        main(
            [
                "classification",
                "export",
                "-m",
                str(root / "train" / "model.graft"),
                "-o",
                str(tmp_path / "x.onnx"),
                "--data_type",
                "int8",
            ]
        )
        == 2
    )
    assert "calibrat" in capsys.readouterr().err


def test_qat_training_exports_qdq(shapes_dir, tmp_path):
    data = classification_spec_dict(shapes_dir, epochs=1)
    data["model"]["enable_qat"] = True
    spec = tmp_path / "qat.yaml"
    spec.write_text(yaml.safe_dump(data))
    assert main(["classification", "train", "-e", str(spec), "-r", str(tmp_path / "q")]) == 0
    model = graft.load(tmp_path / "q" / "model.graft")
    assert model.manifest["architecture"]["qat"] is True
    onnx_path = tmp_path / "q.onnx"
    assert (
        main(
            [
                "classification",
                "export",
                "-m",
                str(tmp_path / "q" / "model.graft"),
                "-o",
                str(onnx_path),
            ]
        )
        == 0
    )
    ops = {n.op_type for n in onnx.load(str(onnx_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    out = tmp_path / "ev"
    assert (
        main(["classification", "evaluate", "-e", str(spec), "-m", str(onnx_path), "-r", str(out)])
        == 0
    )
