"""The results dir's state machinery without training: lock, spec checks, --force bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graft.engine.config import TrainerSpec
from graft.engine.rundir import LOCK, RunDir, first_difference
from graft.errors import UserError
from graft.spec import StrictModel


class Spec(StrictModel):
    trainer: TrainerSpec = TrainerSpec()


def test_a_second_holder_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    with run.locked():
        assert "pid" in (run.path / LOCK).read_text()
        with (pytest.raises(UserError, match=r"in use by another training \(pid \d+ on "),
              RunDir(tmp_path / "r").locked()):
            pass
    with RunDir(tmp_path / "r").locked():  # released: the next one gets it
        pass


def test_a_lock_file_left_by_a_dead_process_is_not_in_the_way(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text("pid 4194304 on some-host\n")  # a killed run's leftover
    with RunDir(tmp_path).locked():
        assert str(__import__("os").getpid()) in (tmp_path / LOCK).read_text()


def test_first_difference_is_one_short_line() -> None:
    old = {"trainer": {"epochs": 2}, "model": {"arch": "resnet10"}}
    assert first_difference(old, {"trainer": {"epochs": 3}, "model": {"arch": "x"}}) == \
        "trainer.epochs: 2 -> 3"
    big = {"x": {f"key{i}": list(range(50)) for i in range(30)}}
    added = first_difference(old, {**old, **big})
    assert added == "x: added (a section)"
    changed = first_difference({"a": list(range(100))}, {"a": list(range(101))})
    assert changed is not None and len(changed) < 140


def started(run: RunDir, task: str, spec: Spec, force: bool = False) -> None:
    """Begin a run and give it a checkpoint, as a training that got going would."""
    run.begin(task, spec, force=force)
    run.ckpt_dir.mkdir(exist_ok=True)
    (run.ckpt_dir / "last.ckpt").write_text(f"{task} {spec.trainer.epochs}")


def test_another_task_in_the_folder_is_named(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    started(run, "bpnet", Spec())
    with pytest.raises(UserError) as err:
        run.begin("classification", Spec(), force=False)
    assert str(err.value).startswith(f"{tmp_path} holds a bpnet run, not a classification one")
    message = str(err.value)
    assert "\n" not in message and len(message.replace(str(tmp_path), "")) < 200  # no dict diff


def test_a_run_recorded_before_the_task_field_names_its_spec_sections(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"status": "finished", "spec_hash": "x"}))
    (tmp_path / "spec.yaml").write_text("dataloader: {batch_size: 3}\nmodel: {stages: 2}\n")
    (tmp_path / "model.graft").write_bytes(b"a finished model")
    with pytest.raises(UserError, match="holds a run of another task .spec sections dataloader, "
                                        "model"):
        RunDir(tmp_path).begin("classification", Spec(), force=False)


def test_a_run_that_never_wrote_a_checkpoint_gives_way_to_another_spec(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.begin("t", Spec(), force=False)
    (tmp_path / "metrics.jsonl").write_text("stale\n")
    run.stopped("failed", "UserError: train directory not found")
    start = run.begin("t", Spec(trainer=TrainerSpec(epochs=3)), force=False)
    assert start.action == "train" and start.found["status"] == "failed"
    assert not (tmp_path / "metrics.jsonl").exists()
    assert "epochs: 3" in (tmp_path / "spec.yaml").read_text()


def test_force_moves_the_old_run_aside_and_gets_it_back_if_the_new_one_never_starts(
        tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    started(run, "t", Spec())
    (tmp_path / "metrics.jsonl").write_text("old\n")
    (tmp_path / "eval").mkdir()  # not part of a run: never moved
    start = run.begin("t", Spec(trainer=TrainerSpec(epochs=3)), force=True)
    assert start.action == "train" and start.replaced
    assert sorted(p.name for p in run.previous.iterdir()) == [
        "checkpoints", "metrics.jsonl", "run.json", "spec.yaml"]
    assert not (tmp_path / "metrics.jsonl").exists() and (tmp_path / "eval").is_dir()
    (tmp_path / "metrics.jsonl").write_text("new\n")
    assert run.stopped("failed", "boom") is True
    assert (tmp_path / "metrics.jsonl").read_text() == "old\n"
    assert (tmp_path / "checkpoints" / "last.ckpt").read_text() == "t 10"
    assert "epochs: 10" in (tmp_path / "spec.yaml").read_text() and not run.previous.exists()


def test_the_first_checkpoint_of_a_forced_run_drops_the_old_one(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    started(run, "t", Spec())
    run.begin("t", Spec(), force=True)
    assert run.previous.is_dir()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_text("new")
    run.checkpoint_saved(tmp_path / "checkpoints" / "last.ckpt", {"epoch": 0})
    assert not run.previous.exists() and run.read_state()["epochs_done"] == 1
    assert run.stopped("interrupted", None) is False
    assert run.read_state()["status"] == "interrupted"


class NewerSpec(StrictModel):
    """Spec as a newer graft knows it: one more field, with a default."""

    trainer: TrainerSpec = TrainerSpec()
    load_graph: bool = False


def test_a_run_resumes_after_graft_added_a_spec_field_at_its_default(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    started(run, "t", Spec())  # recorded before load_graph existed
    assert run.begin("t", NewerSpec(), force=False).action == "resume"
    assert "load_graph: false" in (tmp_path / "spec.yaml").read_text()  # the record is updated
    with pytest.raises(UserError, match=r"different spec \(load_graph: False -> True\)"):
        run.begin("t", NewerSpec(load_graph=True), force=False)
