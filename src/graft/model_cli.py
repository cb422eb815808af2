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
        typer.echo(json.dumps(m.to_dict(), indent=2))
        return
    inp, norm, prov = m.input, m.normalization, m.provenance
    t = Table(title=str(model), show_header=False)
    t.add_column(style="bold")
    t.add_column()
    rows = [
        ("task", m.task or "?"),
        ("architecture", json.dumps(m.stock_architecture)),
        ("pruned layers", str(count_pruned_layers(m, model))),
        ("parameters", f"{m.params or 0:,}"),
        ("classes", ", ".join(map(str, m.classes)) or "-"),
        ("input", f"{inp.channels}x{inp.height}x{inp.width} ({inp.dtype or ''})" if inp
         else "-"),
        ("normalization", json.dumps(norm.to_dict()) if norm else "-"),
        ("metrics", json.dumps(m.metrics)),
        ("chosen by", f"{prov.selected_by.monitor} ({prov.selected_by.mode})"
         if prov.selected_by else "-"),
        ("encrypted", str(m.encrypted)),
        ("content hash", m.content_hash or "?"),
        ("graft version", prov.graft_version or "?"),
        ("created", prov.created or "?"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if m.spec:
        import yaml

        console.print(Text("training spec", style="bold"))
        console.print(yaml.safe_dump(m.spec, sort_keys=False).rstrip(), highlight=False)

