"""The train driver's results-dir contract, through tiny classification runs on the CPU:
"finished" means a loadable model, failures and interrupts are recorded and resumed, --force
never leaves a mix, one training per folder, kept and encrypted checkpoints, torch.compile."""

from __future__ import annotations

import errno
import json
import signal
from pathlib import Path

import pytest
import torch
import yaml

from graft.api import GraftModel, load
from graft.cli import main
from graft.engine.checkpoints import read_checkpoint
from graft.engine.rundir import RunDir
from graft.errors import UserError
from graft.tasks.classification.module import ClassificationModule
from graft.tasks.classification.train import train
from tests.conftest import classification_spec_dict


def write_spec(tmp_path: Path, shapes_dir: Path, **trainer) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(classification_spec_dict(shapes_dir, **trainer)))
    return path


def cli_train(spec: Path, results: Path, *extra: str) -> int:
    return main(["classification", "train", "-e", str(spec), "-r", str(results),
                 "--accelerator", "cpu", *extra])


def state(results: Path) -> dict:
    return json.loads((results / "run.json").read_text())


def fail_in_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int, exc: BaseException) -> None:
    original = ClassificationModule.training_step

    def step(self, batch, batch_idx):
        if self.current_epoch == epoch:
            raise exc
        return original(self, batch, batch_idx)

    monkeypatch.setattr(ClassificationModule, "training_step", step)


def test_a_failed_model_save_is_not_finished_and_the_rerun_writes_the_model(
        tmp_path: Path, shapes_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    spec, results = write_spec(tmp_path, shapes_dir, epochs=1), tmp_path / "r"

    def full_disk(self, path, key=None):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(GraftModel, "save", full_disk)
    with pytest.raises(OSError):
        train(spec, results, accelerator="cpu", progress=False)
    s = state(results)
    assert s["status"] == "failed" and "No space left on device" in s["error"]
    assert s["model_checkpoint"] == "best.ckpt" and not (results / "model.graft").exists()
    monkeypatch.undo()
    metrics = (results / "metrics.jsonl").read_text()
    capsys.readouterr()
    summary = train(spec, results, accelerator="cpu", progress=False)
    assert "training had completed; writing" in capsys.readouterr().out
    assert summary.written and (results / "metrics.jsonl").read_text() == metrics  # no retraining
    assert state(results)["status"] == "finished"
    assert load(results / "model.graft").manifest["metrics"]["val/acc"] == s["best_score"]
    (results / "model.graft").unlink()  # a finished run whose model went missing: written again
    assert train(spec, results, accelerator="cpu", progress=False).written
    assert train(spec, results, accelerator="cpu", progress=False).already_finished


def test_a_failure_is_recorded_with_its_error_line(
        tmp_path: Path, shapes_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, results = write_spec(tmp_path, shapes_dir, epochs=2), tmp_path / "r"
    fail_in_epoch(monkeypatch, 1, RuntimeError("the loss exploded"))
    with pytest.raises(RuntimeError):
        train(spec, results, accelerator="cpu", progress=False)
    s = state(results)
    assert s["status"] == "failed" and s["error"] == "RuntimeError: the loss exploded"
    assert s["epochs_done"] == 1


def test_an_interrupt_is_recorded_and_the_encrypted_run_resumes_where_it_stopped(
        tmp_path: Path, shapes_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    spec, results = write_spec(tmp_path, shapes_dir, epochs=2), tmp_path / "r"
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs in background
    fail_in_epoch(monkeypatch, 1, KeyboardInterrupt())
    assert cli_train(spec, results, "-k", "s3cret") == 130
    out = capsys.readouterr()
    assert "interrupted" in out.err and f"rerun the same command to resume {results}" in out.out
    assert state(results)["status"] == "interrupted"
    assert signal.getsignal(signal.SIGINT) is handler_before  # Lightning leaves SIG_IGN behind
    monkeypatch.undo()
    for ckpt in (results / "checkpoints").glob("*.ckpt"):  # the weights are encrypted at rest
        assert ckpt.read_bytes().startswith(b"GRAFTENC\n"), ckpt.name
    with pytest.raises(UserError, match="is encrypted"):
        read_checkpoint(results / "checkpoints" / "last.ckpt")
    assert cli_train(spec, results) == 2  # resuming needs the key
    assert "last.ckpt is encrypted (pass the run's key with -k/--key)" in capsys.readouterr().err
    assert cli_train(spec, results, "-k", "s3cret") == 0
    assert f"resuming {results} after epoch 1 of 2" in capsys.readouterr().out
    rows = [json.loads(r) for r in (results / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if r["phase"] == "train"] == [0, 1]
    assert state(results)["status"] == "finished"
    assert read_checkpoint(results / "checkpoints" / "best.ckpt", "s3cret")["state_dict"]


def test_force_then_a_failing_run_gives_the_old_run_back_and_a_clean_one_replaces_it(
        tmp_path: Path, shapes_dir: Path, capsys: pytest.CaptureFixture) -> None:
    spec, results = write_spec(tmp_path, shapes_dir, epochs=1), tmp_path / "r"
    assert cli_train(spec, results) == 0
    names = ("run.json", "spec.yaml", "metrics.jsonl", "model.graft", "checkpoints/last.ckpt")
    before = {n: (results / n).read_bytes() for n in names}
    assert cli_train(spec, results, "--force", "--set", f"data.train_dir={tmp_path}/none") == 2
    assert "train directory not found" in capsys.readouterr().err
    assert {n: (results / n).read_bytes() for n in names} == before
    assert not (results / ".previous").exists()

    assert cli_train(spec, results, "--force", "--set", "trainer.epochs=2") == 0
    assert not (results / ".previous").exists() and state(results)["epochs"] == 2
    rows = [json.loads(r) for r in (results / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if r["phase"] == "train"] == [0, 1]  # no old rows
    assert len(list((results / "tensorboard").rglob("events.out.tfevents*"))) == 1


def test_a_second_training_into_a_held_folder_is_refused(
        tmp_path: Path, shapes_dir: Path, capsys: pytest.CaptureFixture) -> None:
    spec, results = write_spec(tmp_path, shapes_dir, epochs=1), tmp_path / "r"
    with RunDir(results).locked():  # what a running training holds
        assert cli_train(spec, results) == 2
    err = capsys.readouterr().err
    assert f"{results} is in use by another training (pid" in err and len(err.splitlines()) == 1
    assert not (results / "run.json").exists()


def test_unsupported_accelerators_and_missing_gpus_are_refused_before_anything_is_written(
        tmp_path: Path, shapes_dir: Path, capsys: pytest.CaptureFixture) -> None:
    spec, results = write_spec(tmp_path, shapes_dir, epochs=1), tmp_path / "r"
    assert main(["classification", "train", "-e", str(spec), "-r", str(results),
                 "--accelerator", "tpu"]) == 2
    err = capsys.readouterr().err
    assert "--accelerator 'tpu' is not supported (use one of: auto | cpu | gpu)" in err
    assert len(err.splitlines()) == 1
    if not torch.cuda.is_available():
        for flags in (["--gpus", "2"], ["--gpus", "2", "--accelerator", "gpu"]):
            assert main(["classification", "train", "-e", str(spec), "-r", str(results),
                         *flags]) == 2
            assert "visible" in capsys.readouterr().err
    assert not results.exists()


def test_only_the_recent_epoch_checkpoints_are_kept(tmp_path: Path, shapes_dir: Path) -> None:
    spec, results = write_spec(tmp_path, shapes_dir, epochs=3), tmp_path / "r"
    assert cli_train(spec, results) == 0
    assert sorted(p.name for p in (results / "checkpoints").iterdir()) == [
        "best.ckpt", "epoch=001.ckpt", "epoch=002.ckpt", "last.ckpt"]


def test_compile_trains_and_keeps_plain_parameter_names(tmp_path: Path, shapes_dir: Path) -> None:
    from torch._dynamo.utils import counters

    # the eager backend traces like inductor but generates no code: seconds, not minutes
    spec = write_spec(tmp_path, shapes_dir, epochs=1, compile=True, compile_backend="eager")
    results = tmp_path / "r"
    counters.clear()
    try:
        assert cli_train(spec, results, "--set", "trainer.keep_checkpoints=0") == 0
        assert counters["stats"]["unique_graphs"] > 0  # the network really went through dynamo
    finally:
        torch._dynamo.reset()
    names = list(read_checkpoint(results / "checkpoints" / "last.ckpt")["state_dict"])
    assert names and not any("_orig_mod" in n for n in names)
    assert sorted(p.name for p in (results / "checkpoints").iterdir()) == ["best.ckpt",
                                                                           "last.ckpt"]
    assert load(results / "model.graft").num_params > 0
