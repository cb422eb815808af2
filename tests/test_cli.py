"""The root command line in a pipe: whole help, one-line errors printed literally."""

from __future__ import annotations

from pathlib import Path

import pytest

from graft.cli import main


def test_piped_help_keeps_long_option_names_whole(capsys: pytest.CaptureFixture) -> None:
    assert main(["bpnet", "dataset_convert", "--help"]) == 0
    out = capsys.readouterr().out
    assert "-d, --dataset_spec, --dataset-spec" in out
    assert "--generate_masks, --generate-masks" in out
    assert "…" not in out and "╭" not in out
    # the example is one line a user can copy
    assert ("Example: graft bpnet dataset_convert -m train -o data/train --dataset_spec "
            "data/spec.json --generate_masks\n") in out


def test_piped_help_of_every_task_command_has_no_cut_text(capsys: pytest.CaptureFixture) -> None:
    for command in (["classification", "train"], ["classification", "export"],
                    ["bpnet", "train"], ["bpnet", "inference"], ["catalog", "push"], []):
        assert main([*command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "Example:" in out and "…" not in out, command


def test_an_error_is_one_literal_line_whatever_its_length(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    deep = tmp_path.joinpath(*[f"folder_{i:02d}[x]" for i in range(25)], "model [v1].graft")
    assert main(["model", "info", str(deep)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: model file not found: {deep} (check the -m/--model path)\n"
    assert len(captured.err) > 400 and captured.out == ""
