"""train -> evaluate -> inference through the CLI on a tiny generated set, and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from pycocotools import mask as mask_utils

from graft.cli import main
from graft.tasks.mask_rcnn.inference import read_labels
from tests.tasks.mask_rcnn.conftest import tiny_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(towers: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("mrcnn")
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(towers, epochs=2)))
    assert main(["mask_rcnn", "train", "-e", str(spec), "-d", str(root / "run"),
                 "--accelerator", "cpu"]) == 0
    return spec, root / "run"


def test_train_picks_the_best_epoch_by_segm_ap(trained: tuple[Path, Path]):
    from graft.api import read_manifest

    _, run = trained
    manifest = read_manifest(run / "model.graft")
    assert manifest.task == "mask_rcnn"
    assert manifest.provenance.selected_by.monitor == "val/segm_AP"
    assert {"val/bbox_AP", "val/segm_AP50"} <= set(manifest.metrics)
    assert manifest.classes == ["panel_antenna", "dish", "radio_unit"]
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum("val/segm_AP" in r for r in rows) == 2  # evaluated after each epoch


def test_evaluate_writes_bbox_and_segm_reports(trained: tuple[Path, Path], tmp_path: Path,
                                               capsys):
    spec, run = trained
    assert main(["mask_rcnn", "evaluate", "-e", str(spec), "-m", str(run / "model.graft"),
                 "-r", str(tmp_path / "ev")]) == 0
    assert "segm AP" in capsys.readouterr().out
    for kind in ("bbox", "segm"):
        summary = json.loads((tmp_path / "ev" / kind / "results.json").read_text())
        assert summary["iou_type"] == kind and summary["images"] == 2
        assert (tmp_path / "ev" / kind / "pr_curves.png").exists()


def test_inference_with_zero_and_some_detections(trained: tuple[Path, Path], towers: Path,
                                                 tmp_path: Path, capsys):
    _, run = trained
    images = tmp_path / "in"
    images.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(images / "blank.png")
    Image.open(towers / "images" / "00000.png").save(images / "tower.png")
    labels = tmp_path / "labels.txt"
    labels.write_text("panel\ndish\nrru")  # no final newline: "rru" keeps its last letter
    assert read_labels(labels) == ["panel", "dish", "rru"]
    assert main(["mask_rcnn", "inference", "-m", str(run / "model.graft"), "-i", str(images),
                 "-o", str(tmp_path / "none"), "-t", "1.0", "--include_mask", "-l",
                 str(labels)]) == 0
    assert "0 detections in 2 images" in capsys.readouterr().out
    assert json.loads((tmp_path / "none" / "results.json").read_text()) == []
    assert (tmp_path / "none" / "images" / "blank.png").exists()
    assert main(["mask_rcnn", "inference", "-m", str(run / "model.graft"), "-i", str(images),
                 "-o", str(tmp_path / "all"), "-t", "0", "--include_mask", "-b", "2"]) == 0
    found = json.loads((tmp_path / "all" / "results.json").read_text())
    listed = json.loads((tmp_path / "all" / "images.json").read_text())
    assert [im["file_name"] for im in listed["images"]] == ["blank.png", "tower.png"]
    for r in found:
        mask = mask_utils.decode({"size": r["segmentation"]["size"],
                                  "counts": r["segmentation"]["counts"].encode()})
        assert mask.shape == (64, 64) and r["category_id"] in (1, 2, 3)
    capsys.readouterr()
    two = tmp_path / "two.txt"
    two.write_text("a\nb\n")
    assert main(["mask_rcnn", "inference", "-m", str(run / "model.graft"), "-i", str(images),
                 "-o", str(tmp_path / "x"), "-l", str(two)]) == 2
    assert "names 2 classes, the model has 3" in capsys.readouterr().err


def test_interrupted_run_resumes(towers: Path, tmp_path: Path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(towers, epochs=4)))
    results = tmp_path / "r"
    cmd = [sys.executable, "-m", "graft.cli", "mask_rcnn", "train", "-e", str(spec), "-r",
           str(results), "--accelerator", "cpu"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def restore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=restore_sigint)
    state = results / "run.json"

    def epochs_done() -> int:
        try:
            return json.loads(state.read_text()).get("epochs_done", 0)
        except (OSError, ValueError):  # not written yet, or being replaced
            return 0

    deadline = time.time() + 400
    while epochs_done() < 1 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert epochs_done() >= 1, "training never recorded its first checkpoint"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming {results} after epoch " in done.stdout
    rows = [json.loads(r) for r in (results / "metrics.jsonl").read_text().splitlines()]
    train_epochs = [r["epoch"] for r in rows if r["phase"] == "train"]
    assert sorted(set(train_epochs)) == [0, 1, 2, 3] and train_epochs.count(0) == 1
    assert (results / "model.graft").exists()
