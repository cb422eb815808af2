"""train -> evaluate -> inference -> export on a tiny generated set; the model file carries
the crop rule and normalization; an interrupted run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from graft.api import load
from graft.data.images import read_rgb
from graft.tasks import get
from graft.tasks.gesturenet.crop import CLASSES
from graft.tasks.gesturenet.evaluate import evaluate, infer
from graft.tasks.gesturenet.labels import read_split
from graft.tasks.gesturenet.train import train
from tests.tasks.gesturenet.conftest import spec_dict

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(splits_dir, tmp_path_factory) -> Path:
    spec = splits_dir / "spec_1.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(epochs=1)))
    results = tmp_path_factory.mktemp("train") / "r"
    train(spec, results, accelerator="cpu", progress=False)
    return results / "model.graft"


def test_model_file_records_task_crop_rule_and_normalization(trained):
    manifest = load(trained).manifest
    assert manifest.task == "gesturenet" and manifest.classes == CLASSES
    assert manifest.input.to_dict()["crop"] == {"ratio": 1.1, "square": True,
                                                "border": "zeros"}
    assert manifest.input.normalization.mode == "torch"
    assert (manifest.input.height, manifest.input.width) == (32, 32)


def test_evaluate_scores_unseen_users_and_writes_reports(trained, splits_dir, tmp_path):
    spec = splits_dir / "spec_1.yaml"
    m = evaluate(spec, trained, split_file=splits_dir / "test.json", results_dir=tmp_path / "e")
    test = read_split(splits_dir / "test.json")
    assert m["images"] == len(test) and m["users"] == ["user03"]
    matrix = m["confusion_matrix"]["matrix"]
    assert sum(map(sum, matrix)) == len(test)
    assert m["top1_accuracy"] == pytest.approx(
        sum(matrix[k][k] for k in range(len(CLASSES))) / len(test))
    assert (tmp_path / "e" / "confusion_matrix.png").stat().st_size > 0


def test_inference_and_predict_agree_with_the_recorded_crop(trained, splits_dir, tmp_path):
    results = infer(trained, splits_dir / "test.json", tmp_path / "i", render=False)
    first = read_split(splits_dir / "test.json")[0]
    image = read_rgb(first.image)
    box = first.pixel_box(image.shape[-1], image.shape[-2])
    pred = get("gesturenet").predict(load(trained), image, boxes=[box])[0]
    assert pred["label"] == results[0]["label"]
    assert pred["score"] == pytest.approx(results[0]["score"], abs=1e-5)
    assert sum(pred["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert json.loads((tmp_path / "i" / "results.json").read_text())[0]["label"] in CLASSES


def test_onnx_export_keeps_the_crop_rule_and_the_scores(trained, splits_dir, tmp_path):
    onnx = tmp_path / "model.onnx"
    cmd = [sys.executable, "-m", "graft.cli", "gesturenet", "export", "-m", str(trained),
           "-o", str(onnx)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    spec = splits_dir / "spec_1.yaml"
    a = evaluate(spec, trained, split_file=splits_dir / "test.json")
    b = evaluate(spec, onnx, split_file=splits_dir / "test.json")
    assert b["backend"] == "onnx" and b["crop"] == a["crop"]
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-3)


def test_interrupted_training_resumes_from_its_checkpoint(splits_dir, tmp_path):
    spec = splits_dir / "spec_3.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(epochs=3)))
    results = tmp_path / "r"
    cmd = [sys.executable, "-m", "graft.cli", "gesturenet", "train", "-e", str(spec), "-r",
           str(results), "--accelerator", "cpu"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def restore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=restore_sigint)
    target = results / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert target.exists(), "training never reached its first checkpoint"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert not (results / "model.graft").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming {results} after epoch " in done.stdout
    rows = [json.loads(r) for r in (results / "metrics.jsonl").read_text().splitlines()]
    train_epochs = [r["epoch"] for r in rows if r["phase"] == "train"]
    assert sorted(set(train_epochs)) == [0, 1, 2] and train_epochs.count(0) == 1
    assert load(results / "model.graft").manifest.task == "gesturenet"
