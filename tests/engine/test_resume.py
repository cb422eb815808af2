"""Ctrl-C a training run mid-way: it says "interrupted" and exits 130 like every command, records
the interrupt, and the same command resumes from its last checkpoint and ends at the same epoch."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import classification_spec_dict

pytestmark = pytest.mark.slow


def graft_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "graft.cli", *args]


def test_killed_run_resumes_from_last_checkpoint(tmp_path: Path, shapes_dir: Path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(classification_spec_dict(shapes_dir, epochs=6)))
    results = tmp_path / "r"
    cmd = graft_cmd(
        "classification", "train", "-e", str(spec), "-r", str(results), "--accelerator", "cpu"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A suite started in the background (nohup, `cmd &`) passes SIGINT on as ignored; the
    # child must see Ctrl-C the way a terminal user's process does.
    def restore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=restore_sigint)
    target = results / "checkpoints" / "epoch=001.ckpt"
    deadline = time.time() + 240
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert target.exists(), "training never reached its second checkpoint"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "interrupted"
    assert "rerun the same command to resume" in out
    assert not (results / "model.graft").exists()
    assert json.loads((results / "run.json").read_text())["status"] == "interrupted"

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming {results} after epoch " in done.stdout
    assert "(the last run was interrupted)" in done.stdout
    state = json.loads((results / "run.json").read_text())
    assert state["status"] == "finished" and state["epochs"] == 6
    rows = [json.loads(r) for r in (results / "metrics.jsonl").read_text().splitlines()]
    train_epochs = [r["epoch"] for r in rows if r["phase"] == "train"]
    assert sorted(set(train_epochs)) == list(range(6))
    assert train_epochs[:2] == [0, 1]  # the first run's epochs were not repeated from scratch
    assert train_epochs.count(0) == 1
    assert (results / "model.graft").exists()
