"""The TLT workflow through the command line on tiny KITTI data: train -> evaluate ->
inference -> prune -> export ONNX (with its DeepStream config) -> evaluate the ONNX model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graft.cli import main
from tests.tasks.detectnet_v2.conftest import make_kitti, write_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = make_kitti(tmp_path_factory.mktemp("dnet"), images=12)
    spec = write_spec(root, training_config={"num_epochs": 50},
                      evaluation_config={"validation_period_during_training": 25},
                      cost_function_config={"enable_autoweighting": False})
    assert main(["detectnet_v2", "train", "-e", str(spec), "-r", str(root / "run")]) == 0
    return root, spec


def test_train_keeps_the_best_model_by_validation_map(trained) -> None:
    root, _ = trained
    state = json.loads((root / "run" / "run.json").read_text())
    assert state["status"] == "finished" and state["monitor"] == "val/mAP"
    rows = [json.loads(line) for line in (root / "run" / "metrics.jsonl").read_text()
            .splitlines()]
    val = [r for r in rows if r["phase"] == "val"]
    assert [r["epoch"] for r in val] == [24, 49] and all("val/mAP" in r for r in val)
    assert state["best_score"] == max(r["val/mAP"] for r in val) > 0.3  # untrained: 0


def test_evaluate_inference_prune_export_and_evaluate_the_onnx(trained, capsys) -> None:
    root, spec = trained
    model = root / "run" / "model.graft"
    assert main(["detectnet_v2", "evaluate", "-e", str(spec), "-m", str(model), "-r",
                 str(root / "eval")]) == 0
    result = json.loads((root / "eval" / "results.json").read_text())
    assert result["mAP"] > 0.3 and result["backend"] == "pytorch"
    for name in ("per_class.csv", "pr_curve_car.png", "pr_curve_person.png",
                 "confusion_matrix.png", "confusion_matrix.csv", "coco/results.json"):
        assert (root / "eval" / name).is_file(), name

    (root / "images" / "broken.png").write_bytes(b"not an image")
    assert main(["detectnet_v2", "inference", "-e", str(spec), "-m", str(model), "-i",
                 str(root / "images"), "-o", str(root / "infer"), "-t", "0.1"]) == 0
    detections = json.loads((root / "infer" / "detections.json").read_text())
    broken = [e for e in detections["images"] if "error" in e]
    assert len(broken) == 1 and broken[0]["image"].endswith("broken.png")
    assert "1 unreadable image skipped" in capsys.readouterr().out
    line = (root / "infer" / "labels" / "000.txt").read_text().splitlines()[0]
    assert len(line.split()) == 16 and line.split()[0] in ("car", "person")
    assert (root / "infer" / "images" / "000.jpg").is_file()
    (root / "images" / "broken.png").unlink()

    pruned = root / "pruned.graft"
    assert main(["detectnet_v2", "prune", "-m", str(model), "-o", str(pruned), "-pth",
                 "0.3"]) == 0
    onnx = root / "model.onnx"
    assert main(["detectnet_v2", "export", "-m", str(model), "-o", str(onnx),
                 "--cal_image_dir", str(root / "images")]) == 0
    config = (root / "model_nvinfer_config.txt").read_text()
    assert "output-blob-names=output_cov/Sigmoid;output_bbox/BiasAdd" in config
    assert "num-detected-classes=2" in config and "onnx-file=model.onnx" in config
    assert (root / "model_labels.txt").read_text() == "car\nperson\n"
    assert main(["detectnet_v2", "evaluate", "-e", str(spec), "-m", str(onnx), "-r",
                 str(root / "eval_onnx")]) == 0
    exported = json.loads((root / "eval_onnx" / "results.json").read_text())
    assert exported["backend"] == "onnx"
    assert exported["mAP"] == pytest.approx(result["mAP"], abs=1e-3)


def test_inference_on_a_video(trained, tmp_path: Path, capsys) -> None:
    """Every frame gets a label file, a JSON entry and a rendered frame; the detections are the
    ones the detector finds on the decoded frames; a broken video is a one-line error."""
    import numpy as np

    from graft.data.images import read_rgb_array
    from graft.data.video import Mp4Writer, open_video
    from graft.tasks.detectnet_v2.detector import load_detector
    from graft.tasks.detectnet_v2.inference import as_records

    root, spec = trained
    model = root / "run" / "model.graft"
    clip = tmp_path / "clip.mp4"
    with Mp4Writer(clip, 4.0) as mp4:
        for image in sorted((root / "images").glob("*.png"))[:6]:
            mp4.write(read_rgb_array(image))
    out = tmp_path / "infer_video"
    assert main(["detectnet_v2", "inference", "-e", str(spec), "-m", str(model), "-i",
                 str(clip), "-o", str(out), "-t", "0.1", "--batch_size", "4"]) == 0
    assert "in 6 frames" in capsys.readouterr().out
    result = json.loads((out / "detections.json").read_text())
    assert [f["frame"] for f in result["frames"]] == list(range(6))
    assert result["frames"][5]["time"] == pytest.approx(1.25) and result["fps"] == 4.0

    detector = load_detector(model)
    decoded = [f for batch in open_video(clip).batches(6) for f in batch]
    expected = [[d for d in as_records(dets, detector.classes) if d["score"] >= 0.1]
                for dets in detector(decoded)]
    assert [f["detections"] for f in result["frames"]] == expected
    assert sum(len(e) for e in expected) >= 6  # the trained model finds the objects
    labels = sorted((out / "labels" / "clip").glob("*.txt"))
    assert [p.name for p in labels] == [f"{i:06d}.txt" for i in range(6)]
    assert len(labels[0].read_text().splitlines()) == len(expected[0])

    rendered = open_video(out / "clip.mp4")
    assert (rendered.num_frames, rendered.width, rendered.height) == (6, 64, 64)
    frames = next(rendered.batches(6)).float()
    assert (frames - next(open_video(clip).batches(6)).float()).abs().mean() > 1  # boxes drawn
    assert not np.isnan(frames.numpy()).any()

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    assert main(["detectnet_v2", "inference", "-e", str(spec), "-m", str(model), "-i",
                 str(broken), "-o", str(tmp_path / "infer_broken")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "broken.mp4" in err and "\n" not in err
    assert not (tmp_path / "infer_broken").exists()
