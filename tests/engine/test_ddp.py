"""Two-process DDP on CPU (gloo) through the real CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
    assert (results / "model.graft").exists()
