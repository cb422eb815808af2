"""``graft TASK ACTION``: a thin command line over the Python API.

Each task contributes its own sub-app (``Task.cli``); this module only mounts them, adds the
task-independent commands (model, synth, convert, split, catalog, gaussrank, demo) and turns
:class:`UserError` into a one-line message with exit code 2. ``--help`` is drawn by rich in
a terminal and as plain, unwrapped text in a pipe or file (rich would fit its panels into 80
columns there and cut long option names).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from graft import __version__, tasks
from graft.console import PIPE_WIDTH, console, err_console, labeled
from graft.errors import UserError

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="graft",
    help="Transfer learning for computer vision: train, evaluate, prune, quantize and export "
    "models from spec files.\n\nExample: graft classification train -e spec.yaml -r results/",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
    add_completion=False,
)
synth_app = typer.Typer(
    help="Generate small datasets (offline) for demos, tests and smoke runs.\n\n"
    "Example: graft synth classification -o data/shapes",
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"graft {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """graft command line."""


_mounted = False


def _mount() -> None:
    global _mounted
    if _mounted:
        return
    _mounted = True
    from graft.app.cli import app as app_app
    from graft.app.deepstream import deepstream_command
    from graft.catalog.cli import app as catalog_app
    from graft.data.cli import convert_app, split_app
    from graft.demo import demo
    from graft.deploy.triton import triton_command
    from graft.metrics.cli import app as evaluate_app
    from graft.model_cli import app as model_app
    from graft.tabular.cli import app as gaussrank_app

    for name in tasks.available():
        task = tasks.get(name)
        sub = task.cli()
        if task.spec_kinds():
            sub.command("spec")(spec_command(task))
        app.add_typer(sub, name=name, help=task.summary)
        synth = task.synth_command()
        if synth is not None:
            synth_app.command(synth[0])(synth[1])
    app.add_typer(model_app, name="model", help="Inspect .graft model files.")
    app.add_typer(synth_app, name="synth", help="Generate offline datasets.")
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(convert_app, name="convert")
    app.add_typer(split_app, name="split")
    app.add_typer(gaussrank_app, name="gaussrank", help="Gauss rank transform for tabular data.")
    deploy_app = typer.Typer(no_args_is_help=True, help="Deployment artifacts for exported models.")
    deploy_app.command("triton")(triton_command)
    deploy_app.command("deepstream")(deepstream_command)
    app.add_typer(deploy_app, name="deploy")
    app.add_typer(evaluate_app, name="evaluate", help="Score result files (COCO AP).")
    app.add_typer(app_app, name="app")
    app.command("demo")(demo)


def spec_command(task: tasks.Task):
    """``graft TASK spec [KIND]``: the whole spec as commented YAML (or Markdown)."""
    kinds = list(task.spec_kinds())  # the models themselves are imported when it runs

    def spec(
        kind: str = typer.Argument(kinds[0], help=f"Which spec: {', '.join(kinds)}."),
        output: Path | None = typer.Option(None, "-o", "--output",
                                           help="Write it to this file instead of printing it."),
        markdown: bool = typer.Option(False, "--markdown",
                                      help="The Markdown reference instead of YAML."),
    ) -> None:
        from graft.fsutil import check_output_file, write_text
        from graft.spec_doc import spec_markdown, spec_yaml

        models = task.spec_models()
        if kind not in models:
            raise UserError(f"{task.name} has no {kind!r} spec", f"choose one of: "
                            f"{', '.join(models)}")
        title = f"graft {task.name} {kind} spec"
        text = spec_markdown(models[kind], title, level=1) if markdown else \
            spec_yaml(models[kind], title)
        if output is None:
            console.print(text, end="", highlight=False)
            return
        check_output_file(output, "output (-o)")
        write_text(output, text)
        console.print(f"wrote {output}", highlight=False)

    spec.__doc__ = (
        f"Print a {task.name} spec with every section and key: type, default, allowed values "
        "and meaning, as commented YAML to start from (keys marked REQUIRED have no default)."
        f"\n\nExample: graft {task.name} spec {kinds[0]} -o {kinds[0]}.yaml")
    return spec


def _click_exceptions():
    """typer >= 0.29 vendors click as ``typer._click``; older releases use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions
    return exceptions


def one_line(exc: UserError) -> str:
    """The user-facing line of an error; errors raised in DataLoader workers arrive wrapped
    with the worker's traceback, whose last line is the original message."""
    text = str(exc).strip()
    if "Traceback" in text:
        text = text.splitlines()[-1]
        text = text.split(": ", 1)[1] if text.startswith(("graft.errors.", "UserError")) else text
    return text


def _help_for_this_output() -> None:
    """Rich help in a terminal; click's plain help, one line per paragraph, in a pipe or file.

    typer reads both settings from the root app each time it builds the command tree.
    """
    if console.is_terminal:
        app.rich_markup_mode, app.info.context_settings = "rich", CONTEXT
    else:
        app.rich_markup_mode = None
        app.info.context_settings = {**CONTEXT, "terminal_width": PIPE_WIDTH,
                                     "max_content_width": PIPE_WIDTH}


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        _mount()
        _help_for_this_output()
        code = app(args=argv, standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C in a command into this exit code itself
            raise KeyboardInterrupt
        if isinstance(code, int):
            return code
    except UserError as exc:
        err_console.print(labeled("error:", "bold red", one_line(exc)), highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print(labeled("interrupted", "yellow", ""))
        return 130
    except SystemExit as exc:  # typer.Exit inside commands
        return int(exc.code or 0)
    except Exception as exc:  # usage errors carry their own exit code and message
        ce = _click_exceptions()
        if isinstance(exc, ce.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, typer.Exit):
            return exc.exit_code
        if isinstance(exc, typer.Abort):
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
