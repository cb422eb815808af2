"""``graft model info``: what is inside a .graft file."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from graft.cli_options import KEY
from graft.console import console

app = typer.Typer(no_args_is_help=True, help="Inspect .graft model files.")


@app.command()
def info(
    model: Path = typer.Argument(..., help="A .graft model file."),
    key: str | None = KEY,
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON."),
) -> None:
    """Show task, architecture, parameters, classes, input spec, metrics and training spec.

    The file is verified as loading it would (decryption, content hash): a truncated or edited
    model is an error, not a card.

    Example: graft model info results/model.graft

    Example (encrypted; or set GRAFT_KEY once): graft model info results/model.graft -k KEY
    """
    from graft.api import count_pruned_layers, read

    _, m = read(model, key=key)
    if as_json:
        typer.echo(json.dumps(m, indent=2))
        return
    arch = {k: v for k, v in m.get("architecture", {}).items() if k != "layer_shapes"}
    inp = m.get("input", {})
    norm = inp.get("normalization", {})
    t = Table(title=str(model), show_header=False)
    t.add_column(style="bold")
    t.add_column()
    rows = [
        ("task", m.get("task", "?")),
        ("architecture", json.dumps(arch)),
        ("pruned layers", str(count_pruned_layers(m, model))),
        ("parameters", f"{m.get('params', 0):,}"),
        ("classes", ", ".join(map(str, m.get("classes", []))) or "-"),
        (
            "input",
            f"{inp.get('channels')}x{inp.get('height')}x{inp.get('width')} "
            f"({inp.get('dtype', '')})",
        ),
        ("normalization", json.dumps(norm) if norm else "-"),
        ("metrics", json.dumps(m.get("metrics", {}))),
        ("encrypted", str(m.get("encrypted", False))),
        ("content hash", m.get("content_hash", "?")),
        ("graft version", m.get("graft_version", "?")),
        ("created", m.get("created", "?")),
    ]
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if m.get("spec"):
        import yaml

        console.print(Text("training spec", style="bold"))
        console.print(yaml.safe_dump(m["spec"], sort_keys=False).rstrip(), highlight=False)

