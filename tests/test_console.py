"""graft's console in a pipe or log: whole lines, literal text, tables not cut."""

from __future__ import annotations

import io

from rich.table import Table

from graft.console import RULE_WIDTH, GraftConsole, console, err_console, labeled

LONG_PATH = "/data/" + "/".join(f"folder_{i:03d}" for i in range(40)) + "/image [1].png"
HINT = "install the TensorRT extra: pip install 'graft[tensorrt]' (needs an NVIDIA GPU)"


def _piped() -> tuple[GraftConsole, io.StringIO]:
    out = io.StringIO()
    return GraftConsole(file=out), out


def test_a_long_message_is_one_line_in_a_pipe():
    con, out = _piped()
    message = f"cannot read {LONG_PATH}: " + "the file is empty " * 20
    assert len(message) > 600
    con.print(message)
    assert out.getvalue() == message + "\n"


def test_the_shared_consoles_write_whole_lines_to_captured_streams(capsys):
    console.print(f"wrote {LONG_PATH}")
    err_console.print(labeled("warning:", "yellow", LONG_PATH))
    captured = capsys.readouterr()
    assert captured.out == f"wrote {LONG_PATH}\n"
    assert captured.err == f"warning: {LONG_PATH}\n"


def test_markup_looking_text_is_printed_literally():
    con, out = _piped()
    for text in (HINT, "[bold]not bold[/]", "class [cat] at /a/:cat:/b", "[red]"):
        con.print(text)
        con.print(labeled("error:", "bold red", text))
    assert out.getvalue().splitlines() == [
        HINT, f"error: {HINT}", "[bold]not bold[/]", "error: [bold]not bold[/]",
        "class [cat] at /a/:cat:/b", "error: class [cat] at /a/:cat:/b", "[red]", "error: [red]"]


def test_a_table_with_long_cells_is_not_cut_in_a_pipe(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # as CI runners and pytest-xdist workers set it
    con, out = _piped()
    table = Table(title="evaluation")
    table.add_column("image")
    table.add_column("label [top-1]")
    table.add_row(LONG_PATH, "[cat]")
    con.print(table)
    text = out.getvalue()
    assert LONG_PATH in text and "label [top-1]" in text and "[cat]" in text
    assert "…" not in text


def test_a_rule_in_a_pipe_is_short_and_keeps_its_title():
    con, out = _piped()
    con.rule("pose: train [resnet18]")
    (line,) = out.getvalue().splitlines()
    assert "pose: train [resnet18]" in line and len(line) <= RULE_WIDTH


def test_a_label_without_a_message_has_no_trailing_blank():
    assert labeled("interrupted", "yellow", "").plain == "interrupted"
    assert labeled("done:", "green", "model.graft").plain == "done: model.graft"
