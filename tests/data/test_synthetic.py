"""``graft synth classification|pose``: a folder that holds files is refused unless --force,
which replaces it whole (old and new images never mix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graft.cli import main

SYNTH = {
    "classification": ["synth", "classification", "--classes", "2", "--per-class", "2",
                       "--size", "16"],
    "pose": ["synth", "pose", "--images", "2", "--size", "32x32", "--max_persons", "1"],
}


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", list(SYNTH))
def test_synth_refuses_a_folder_with_files_and_replaces_it_with_force(kind, tmp_path, capsys):
    out = tmp_path / "data"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert main([*SYNTH[kind], "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out} already exists and is not empty" in err and "--force" in err
    assert files(out) == ["mine.txt"]

    assert main([*SYNTH[kind], "-o", str(out), "--force"]) == 0
    fresh = files(out)
    assert "mine.txt" not in fresh and fresh
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no temporaries left

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*SYNTH[kind], "-o", str(empty)]) == 0  # an empty folder is fine
    assert files(empty) == fresh
