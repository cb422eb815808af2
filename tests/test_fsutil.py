"""Atomic writes: permissions from the umask without touching it, and stale temporaries."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from graft import fsutil


def test_written_files_follow_the_umask_without_changing_it(tmp_path, monkeypatch) -> None:
    before = os.umask(0o027)
    try:
        def no_umask(_mask: int) -> int:  # changing the umask races with other threads
            raise AssertionError("atomic_path must not change the process umask")

        monkeypatch.setattr(os, "umask", no_umask)
        fsutil.write_text(tmp_path / "out.json", "{}")
    finally:
        monkeypatch.undo()
        os.umask(before)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o640


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_a_killed_writer_leaves_a_temporary_that_the_next_write_removes(tmp_path) -> None:
    target = tmp_path / "model.onnx"
    script = ("import os, sys; from graft.fsutil import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n"
              "    tmp.write_bytes(b'half an export')\n"
              "    os._exit(9)  # killed mid-write: no cleanup runs\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", script, str(target)], env=env, check=False)
    leftovers = list(tmp_path.glob(".model.onnx.*.tmp"))
    assert len(leftovers) == 1 and not target.exists()
    fsutil.write_text(target, "a whole export")
    assert target.read_text() == "a whole export"
    assert not list(tmp_path.glob(".*.tmp"))


def test_only_temporaries_of_dead_writers_on_this_host_are_removed(tmp_path) -> None:
    target = tmp_path / "m.graft"
    host = fsutil._HOST
    other_host = "0" * 8 if host != "0" * 8 else "1" * 8
    names = {
        "dead": f".m.graft.{host}-{_dead_pid()}.0badf00d.tmp",
        "legacy": ".m.graft.ab_cd123.tmp",  # mkstemp's naming, from before this process
        "live": f".m.graft.{host}-{os.getppid()}.cafebabe.tmp",
        "mine": f".m.graft.{host}-{os.getpid()}.deadbeef.tmp",  # another thread of ours
        "remote": f".m.graft.{other_host}-1.12345678.tmp",  # a writer on another machine
        "other target": f".m.graft.x.{host}-{_dead_pid()}.0badf00d.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_text("x")
    old = time.time() - 3600
    os.utime(tmp_path / names["legacy"], (old, old))
    removed = {p.name for p in fsutil.remove_stale_temporaries(target)}
    assert removed == {names["dead"], names["legacy"]}
    assert {p.name for p in tmp_path.iterdir()} == set(names.values()) - removed


@pytest.mark.parametrize("name", ["a[1].onnx", "*.onnx"])
def test_glob_characters_in_the_name_are_literal(tmp_path, name) -> None:
    pid = _dead_pid()
    mine = tmp_path / f".{name}.{fsutil._HOST}-{pid}.0badf00d.tmp"
    other = tmp_path / f".b.onnx.{fsutil._HOST}-{pid}.0badf00d.tmp"  # another target's
    mine.write_text("x")
    other.write_text("x")
    fsutil.write_text(tmp_path / name, "ok")
    assert not mine.exists() and other.exists()


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path) -> None:
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), fsutil.atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("killed mid-way")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    target.mkdir()  # an empty folder may be the target
    with fsutil.atomic_dir(target) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text("whole")
    assert (target / "sub" / "a.txt").read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    with pytest.raises(OSError), fsutil.atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("never merged into old outputs")
    assert sorted(p.name for p in target.iterdir()) == ["sub"]
    dead = tmp_path / f".out.{fsutil._HOST}-{_dead_pid()}.0badf00d.tmp"
    (dead / "x").mkdir(parents=True)  # a folder left by a killed writer is cleaned up
    fsutil.remove_stale_temporaries(target)
    assert not dead.exists()


def test_check_output_dir_names_the_path_and_the_fix(tmp_path) -> None:
    from graft.errors import UserError

    assert fsutil.check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # a check, not a mkdir
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(UserError, match="is an existing file, not a folder"):
        fsutil.check_output_dir(blocker)
    with pytest.raises(UserError, match=f"{blocker} is a file"):
        fsutil.check_output_dir(blocker / "a" / "b", "results folder")
    with pytest.raises(UserError, match="is a folder, not a file"):
        fsutil.check_output_file(tmp_path)
    with pytest.raises(UserError, match=f"{blocker} is a file"):
        fsutil.check_output_file(blocker / "model.onnx")
    assert fsutil.check_output_file(blocker) == blocker  # an existing file is replaced later


def test_check_fresh_dir_refuses_a_folder_with_files_unless_forced(tmp_path) -> None:
    from graft.errors import UserError

    (tmp_path / "empty").mkdir()
    fsutil.check_fresh_dir(tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty.*--force"):
        fsutil.check_fresh_dir(tmp_path / "full")
    with pytest.raises(UserError, match="empty it"):
        fsutil.check_fresh_dir(tmp_path / "full", fix="empty it")
    fsutil.check_fresh_dir(tmp_path / "full", force=True)


def test_atomic_dir_replaces_a_full_folder_only_when_asked(tmp_path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(OSError), fsutil.atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    with pytest.raises(RuntimeError), fsutil.atomic_dir(target, replace=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("the writer failed")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    with fsutil.atomic_dir(target, replace=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporaries left


def test_atomic_dir_replace_swaps_a_full_folder_only_on_success(tmp_path) -> None:
    target = tmp_path / "out"
    (target / "old").mkdir(parents=True)
    (target / "old" / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), fsutil.atomic_dir(target, replace=True) as tmp:
        (tmp / "new.txt").write_text("half")
        raise RuntimeError("killed mid-way")
    assert (target / "old" / "a.txt").read_text() == "old"  # a failure keeps the old folder
    with fsutil.atomic_dir(target, replace=True) as tmp:
        (tmp / "new.txt").write_text("whole")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing left beside it
