"""``graft bpnet ...`` end to end on a tiny generated dataset (one epoch, light backbone)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from graft.cli import main

COMMANDS = ["dataset_convert", "train", "evaluate", "inference", "sample_calibration",
            "check_labels"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bpnet_cli")
    assert main(["synth", "pose", "-o", str(root / "data"), "--images", "8", "--size", "64x64",
                 "--max_persons", "2", "--seed", "3"]) == 0
    spec = {
        "trainer": {"epochs": 1, "precision": "32", "log_every_n_steps": 1,
                    "channels_last": False},
        "dataloader": {"batch_size": 3, "workers": 0,
                       "image_config": {"image_dims": {"height": 64, "width": 64}},
                       "dataset_config": {"dataset_spec": "data/dataset_spec.json"}},
        "model": {"backbone": "mobilenet_v2", "stages": 2},
        "optimizer": {"name": "sgd", "momentum": 0.9},
        "lr_schedule": {"name": "constant", "learning_rate": 1e-6},
    }
    (root / "train.yaml").write_text(yaml.safe_dump(spec))
    (root / "infer.yaml").write_text(yaml.safe_dump(
        {"input_shape": [64, 64], "keep_aspect_ratio_mode": "pad_image_input",
         "heatmap_threshold": 0.05}))
    return root


@pytest.fixture(scope="module")
def trained(workspace: Path) -> Path:
    code = main(["bpnet", "train", "-e", str(workspace / "train.yaml"), "-r",
                 str(workspace / "res"), "--accelerator", "cpu"])
    assert code == 0
    return workspace / "res" / "model.graft"


def test_every_command_has_help_with_an_example(capsys: pytest.CaptureFixture) -> None:
    for command in COMMANDS:
        assert main(["bpnet", command, "--help"]) == 0
        assert "Example: graft bpnet" in capsys.readouterr().out
    assert main(["synth", "pose", "--help"]) == 0


def test_train_writes_the_model_and_resolved_spec(workspace: Path, trained: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    from graft.api import load

    model = load(trained)
    assert model.manifest["task"] == "bpnet"
    assert model.manifest["architecture"]["backbone"] == "mobilenet_v2"
    assert len(model.manifest["architecture"]["pose_config"]["joints"]) == 18
    assert model.manifest["input"]["height"] == 64
    resolved = yaml.safe_load((workspace / "res" / "spec.yaml").read_text())
    assert resolved["model"]["stages"] == 2 and resolved["regularizer"]["type"] == "l1"
    capsys.readouterr()
    assert main(["bpnet", "train", "-e", str(workspace / "train.yaml"), "-r",
                 str(workspace / "res")]) == 0
    assert "already holds a finished run" in capsys.readouterr().out
    people = model.predict([np.zeros((48, 80, 3), np.uint8)], inference_spec={
        "input_shape": [64, 64]})
    assert isinstance(people, list) and len(people) == 1


def test_the_resolved_spec_loads_from_another_directory(
        workspace: Path, trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    from graft.spec import load_spec
    from graft.tasks.bpnet.spec import BpnetTrainSpec

    resolved = workspace / "res" / "spec.yaml"
    monkeypatch.chdir(tmp_path)
    spec = load_spec(resolved, BpnetTrainSpec)
    assert Path(spec.dataloader.dataset_config.dataset_spec).is_file()
    capsys.readouterr()
    assert main(["bpnet", "train", "-e", str(resolved), "-r", str(workspace / "res")]) == 0
    assert "already holds a finished run" in capsys.readouterr().out


def test_evaluate_writes_the_ten_numbers(workspace: Path, trained: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    out = workspace / "eval"
    assert main(["bpnet", "evaluate", "--inference_spec", str(workspace / "infer.yaml"),
                 "-m", str(trained), "--dataset_spec", str(workspace / "data/dataset_spec.json"),
                 "-r", str(out)]) == 0
    metrics = json.loads((out / "results.json").read_text())
    assert list(metrics) == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm",
                             "ARl"]
    assert all(0.0 <= v <= 1.0 or v == -1.0 for v in metrics.values())
    assert (out / "results.csv").read_text().startswith("metric,value\nAP,")
    assert "AP75" in capsys.readouterr().out


def test_inference_and_calibration(workspace: Path, trained: Path) -> None:
    images = workspace / "data" / "images" / "val"
    out = workspace / "infer"
    assert main(["bpnet", "inference", "--inference_spec", str(workspace / "infer.yaml"),
                 "-m", str(trained), "--input_type", "dir", "--input", str(images), "-r",
                 str(out), "--dump_visualizations"]) == 0
    det = json.loads((out / "detections.json").read_text())
    assert len(det["frames"]) == len(list(images.iterdir()))
    assert len(list((out / "images").glob("*.png"))) == len(det["frames"])
    calib = workspace / "calib"
    assert main(["bpnet", "sample_calibration", "-a",
                 str(workspace / "data/annotations/person_keypoints_train.json"),
                 "-i", str(workspace / "data/images/train"), "-o", str(calib), "-n", "2",
                 "--randomize"]) == 0
    assert len(list(calib.glob("*.jpg"))) == 2


def test_dataset_convert_and_bad_inputs(workspace: Path, trained: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    out = workspace / "converted"
    assert main(["bpnet", "dataset_convert", "-m", "test", "-o", str(out), "--dataset_spec",
                 str(workspace / "data/dataset_spec.json")]) == 0
    assert (out / "index.npz").is_file()
    capsys.readouterr()
    assert main(["bpnet", "evaluate", "-m", str(workspace / "missing.graft"), "--dataset_spec",
                 str(workspace / "data/dataset_spec.json")]) == 2
    err = capsys.readouterr().err
    assert "model file not found" in err and "Traceback" not in err
    assert main(["bpnet", "inference", "-m", str(trained), "--input_type", "webcam",
                 "--input", str(workspace), "-r", str(workspace / "x")]) == 2
    assert main(["bpnet", "evaluate", "-m", str(trained), "--dataset_spec",
                 str(workspace / "data/dataset_spec.json"),
                 "--set", "keep_aspect_ratio_mod=x"]) == 2
    assert "did you mean 'keep_aspect_ratio_mode'" in capsys.readouterr().err


def test_prune_then_rebuild_the_pruned_graph_for_retraining(workspace: Path, trained: Path) -> None:
    from graft.api import load
    from graft.tasks.bpnet.module import build_network
    from graft.tasks.bpnet.pose_config import PoseConfig
    from graft.tasks.bpnet.spec import ModelSpec

    pruned = workspace / "pruned.graft"
    assert main(["bpnet", "prune", "-m", str(trained), "-o", str(pruned), "-pth", "0.9"]) == 0
    small = load(pruned)
    assert small.num_params < load(trained).num_params
    assert [h.out_channels for h in small.module.heads()] == [38, 19, 38, 19]
    net, arch = build_network(ModelSpec(backbone="mobilenet_v2", stages=2, load_graph=True,
                                        pretrained_weights=str(pruned)), PoseConfig())
    assert sum(p.numel() for p in net.parameters()) == small.num_params
    assert arch["layer_shapes"]


def test_check_labels_reports_the_round_trip(workspace: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    out = workspace / "labels"
    assert main(["bpnet", "check_labels", "--dataset_spec",
                 str(workspace / "data/dataset_spec.json"), "-e", str(workspace / "train.yaml"),
                 "-r", str(out), "--num_images", "1"]) == 0
    assert "round-trip AP" in capsys.readouterr().out
    result = json.loads((out / "check_labels.json").read_text())
    # 64x64 images: most limbs are shorter than a stride-8 cell, so only a low bar holds here
    assert 0.0 < result["round_trip_ap"]["AP"] <= 1.0


def test_exported_onnx_evaluates_and_infers_like_the_graft_model(
        workspace: Path, trained: Path, capsys: pytest.CaptureFixture) -> None:
    onnx_path = workspace / "export" / "model.onnx"
    assert main(["bpnet", "export", "-m", str(trained), "-o", str(onnx_path), "--cal_image_dir",
                 str(workspace / "data/images/train")]) == 0
    parity = json.loads((workspace / "export" / "model.parity.json").read_text())
    assert "real" in json.dumps(parity)  # FP32 is checked on real images too when given
    loose = workspace / "infer_loose.yaml"  # an untrained net: decode whatever it outputs
    loose.write_text(yaml.safe_dump({
        "input_shape": [64, 64], "keep_aspect_ratio_mode": "pad_image_input",
        "heatmap_threshold": 0.0, "paf_threshold": -1.0,
        "decoder": {"min_parts": 1, "min_mean_score": 0.0, "min_paf_ratio": 0.0}}))
    runs = {}
    for name, model in (("graft", trained), ("onnx", onnx_path)):
        out = workspace / f"eval_{name}"
        assert main(["bpnet", "evaluate", "-i", str(loose), "-m", str(model), "--dataset_spec",
                     str(workspace / "data/dataset_spec.json"), "-r", str(out),
                     "--device", "cpu"]) == 0
        runs[name] = json.loads((out / "predictions.json").read_text())["results"]
    assert runs["graft"], "the loose decoder settings should find something"
    assert len(runs["onnx"]) == len(runs["graft"])
    for a, b in zip(runs["graft"], runs["onnx"], strict=True):
        assert a["image_id"] == b["image_id"]
        np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=0.05)
    assert "fixed 64x64 input" in capsys.readouterr().out
    assert main(["bpnet", "inference", "-i", str(loose), "-m", str(onnx_path), "--input_type",
                 "dir", "--input", str(workspace / "data/images/val"), "-r",
                 str(workspace / "infer_onnx"), "--dump_visualizations"]) == 0
    assert (workspace / "infer_onnx" / "detections.json").is_file()
    assert main(["bpnet", "evaluate", "-m", str(onnx_path), "--dataset_spec",
                 str(workspace / "data/dataset_spec.json"),
                 "--set", "multi_scale_inference=true"]) == 2
    assert "multi_scale_inference" in capsys.readouterr().err
