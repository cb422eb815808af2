"""Two-process DDP on CPU (gloo) through the real CLI: the run finishes, and the top-1 that chose
the model, gathered from both ranks, is the exact top-1 of that model on the 9 validation images
(the sampler gives each rank 5: a mean of the two ranks' means would count one image twice)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from graft.api import load
from graft.data.preprocess import normalize
from graft.spec import load_spec
from graft.tasks.classification.data import ClassificationData
from graft.tasks.classification.spec import ClassificationSpec
from tests.conftest import classification_spec_dict

pytestmark = pytest.mark.slow


def test_two_process_ddp_on_cpu(tmp_path: Path, shapes_dir: Path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(classification_spec_dict(shapes_dir, epochs=1)))
    results = tmp_path / "r"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MASTER_PORT": str(29500 + os.getpid() % 1000)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "graft.cli",
            "classification",
            "train",
            "-e",
            str(spec),
            "-r",
            str(results),
            "--gpus",
            "2",
            "--accelerator",
            "cpu",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((results / "run.json").read_text())
    assert state["status"] == "finished" and state["world_size"] == 2
    model = load(results / "model.graft")
    data = ClassificationData(load_spec(spec, ClassificationSpec).data, (32, 32))
    hits = []
    with torch.no_grad():
        for images, target in data.val_dataloader():
            logits = model.module(normalize(images, model.manifest.normalization))
            hits += (logits.argmax(1) == target).tolist()
    assert len(hits) == 9
    recorded = model.manifest.metrics["val/acc"]
    assert recorded == pytest.approx(sum(hits) / 9, abs=1e-6)
    assert model.manifest.provenance.selected_by.monitor == "val/acc"
