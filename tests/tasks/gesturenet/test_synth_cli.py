"""``graft synth hands`` through its command: files, summary line, and refused settings."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from graft.tasks import get


def _app() -> typer.Typer:
    name, command = get("gesturenet").synth_command()
    assert name == "hands"
    app = typer.Typer()
    app.command()(command)
    return app


def test_synth_hands_writes_the_dataset(tmp_path):
    out = tmp_path / "h"
    result = CliRunner().invoke(_app(), ["-o", str(out), "--frames", "6", "--users", "3",
                                         "--size", "128x96", "--max-hands", "2",
                                         "--val-users", "1", "--clip-frames", "4"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["size"] == [128, 96] and summary["val_users"] == ["user02"]
    assert sum(summary["frames"].values()) == 6
    hands = sum(sum(c.values()) for c in summary["hands"].values())
    assert len(list((out / "gesturenet").rglob("*.json"))) == hands
    assert 1 <= hands <= 12
    assert [c["frames"] for c in summary["clips"]] == [4]  # one clip by default
    assert len((out / "clips" / "clip_000.jsonl").read_text().splitlines()) == 4
    assert (out / "clips" / "clip_000.mp4").stat().st_size > 0


def test_as_many_val_users_as_users_is_refused(tmp_path):
    result = CliRunner().invoke(_app(), ["-o", str(tmp_path / "h"), "--users", "3",
                                         "--val-users", "3"])
    assert result.exit_code != 0
    assert not (tmp_path / "h").exists()
