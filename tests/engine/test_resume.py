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


def _start_with_workers(tmp_path: Path, shapes_dir: Path) -> tuple[subprocess.Popen, Path]:
    """A 2-worker training run in its own process group, once its first checkpoint is out."""
    data = classification_spec_dict(shapes_dir, epochs=200)
    data["data"]["workers"] = 2
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    results = tmp_path / "r"
    proc = subprocess.Popen(graft_cmd("classification", "train", "-e", str(spec), "-r",
                                      str(results), "--accelerator", "cpu"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    deadline = time.time() + 240
    while not (results / "checkpoints" / "last.ckpt").exists() and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    return proc, results


def test_sigterm_to_the_whole_process_group_is_an_interrupt(tmp_path, shapes_dir):
    # Slurm's scancel, `kill -TERM -PGID` and `pkill -f` also stop the loader workers, which
    # PyTorch reports as "DataLoader worker ... killed by signal: Terminated" (was a traceback)
    proc, results = _start_with_workers(tmp_path, shapes_dir)
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted"
    assert f"SIGTERM: rerun the same command to resume {results}" in out
    assert json.loads((results / "run.json").read_text())["status"] == "interrupted"


def test_a_killed_loader_worker_is_a_one_line_error(tmp_path, shapes_dir):
    # what the kernel's OOM killer does to one worker
    proc, results = _start_with_workers(tmp_path, shapes_dir)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    if not children.exists():
        proc.kill()
        pytest.skip("needs Linux's /proc to find the loader workers")
    os.kill(int(children.read_text().split()[0]), signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err[-2000:]
    assert "Traceback" not in err
    # PyTorch names the signal, or finds the worker gone while waiting for its batch
    assert ("a data loader process got signal Killed; out of memory?" in err
            or "a data loader process exited unexpectedly; out of memory?" in err), err[-2000:]
    state = json.loads((results / "run.json").read_text())
    assert state["status"] == "failed" and "out of memory?" in state["error"]
