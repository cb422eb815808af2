"""``graft gaussrank fit|transform|inverse|plot``: the Gauss rank scaler on CSV/Parquet files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from graft.console import console, err_console
from graft.errors import UserError
from graft.fsutil import check_output_file

if TYPE_CHECKING:
    from graft.tabular.scaler import GaussRankScaler

_OUTPUT_WHAT = "output (-o)"

app = typer.Typer(
    help="Gauss rank transform for tabular data: fit per column (and per group), transform, "
    "map predictions back, plot.\n\n"
    "Example: graft gaussrank fit -i train.csv --columns target --group_by type -o scaler.npz",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_SCALER = typer.Option(..., "--scaler", "-s", help="Scaler file written by `fit` (.npz).")
_INPUT = typer.Option(..., "--input", "-i", help="Input table (.csv, .parquet).")


@contextmanager
def _steps(total: int) -> Iterator[Any]:
    """A progress bar over the few steps of a command (reading a big table takes a while)."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=not err_console.is_terminal,
    ) as progress:
        task = progress.add_task("starting", total=total)

        def advance(description: str) -> None:
            progress.update(task, description=description)
            progress.advance(task)

        progress.update(task, description="reading")
        yield advance


def _selected(scaler: GaussRankScaler) -> list[Any]:
    """The input columns the scaler was fitted on, in their fit order (key column included)."""
    names = getattr(scaler, "feature_names_in_", None)
    if names is None:
        raise UserError("this scaler was not fitted on named columns", "refit it with the CLI")
    return [str(name) for name in names]


def _read_and_transform(scaler_path: Path, input_path: Path, step: Any) -> tuple[Any, Any, Any]:
    """Load the scaler and the table, check the fitted columns, and transform them."""
    from graft.tabular import io
    from graft.tabular.scaler import GaussRankScaler

    scaler = GaussRankScaler.load(scaler_path)
    frame = io.read_table(input_path)
    selected = _selected(scaler)
    io.require_columns(frame, selected, input_path)
    io.require_numeric(frame, [str(c) for c in scaler.columns_], input_path)
    step("transforming")
    return scaler, frame, scaler.transform(frame[selected])


@app.command("fit")
def fit(
    input_path: Path = _INPUT,
    columns: str | None = typer.Option(
        None, "--columns", "-c", help="Comma-separated columns (default: all numeric ones)."
    ),
    group_by: str | None = typer.Option(
        None, "--group_by", "--group-by", "-g", help="Key column: one table per group."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Scaler file to write (.npz)."),
    n_quantiles: int | None = typer.Option(
        None, "--n-quantiles", help="Keep this many knots per table (default: exact)."
    ),
    extrapolate: bool = typer.Option(
        False, "--extrapolate", help="Extrapolate the tails linearly instead of clipping."
    ),
    flavor: str = typer.Option("exact", "--flavor", help='"exact" or "seed" (the blog recipe).'),
) -> None:
    """Fit a Gauss rank scaler on columns of a table and save it.

    Example: graft gaussrank fit -i train.csv --columns scalar_coupling_constant
    --group_by type -o scaler.npz
    """
    from graft.tabular import io
    from graft.tabular.scaler import GaussRankScaler

    check_output_file(output, _OUTPUT_WHAT)
    with _steps(3) as step:
        frame = io.read_table(input_path)
        exclude = [group_by] if group_by else []
        names = io.parse_columns(columns) or io.numeric_columns(frame, exclude)
        if not names:
            raise UserError(f"no numeric columns in {input_path}", "pass --columns")
        if group_by in names:
            raise UserError(f"{group_by!r} is both a value column and the group key",
                            "remove it from --columns")
        io.require_columns(frame, names + exclude, input_path)
        io.require_numeric(frame, names, input_path)
        step("fitting")
        scaler = GaussRankScaler(
            group_by=group_by, n_quantiles=n_quantiles, extrapolate=extrapolate, flavor=flavor
        )
        scaler.fit(frame[names + exclude])
        step("saving")
        scaler.save(output)
        step("done")
    table = Table(title=f"fitted {output}", title_justify="left")
    for heading in ("column", "group", "rows", "knots", "min", "max"):
        table.add_column(heading)
    for group, tables in list(scaler.tables_.items())[:20]:
        for name, fitted in zip(scaler.columns_, tables, strict=True):
            table.add_row(str(name), "-" if group is None else str(group), f"{fitted.n:,}",
                          f"{fitted.m:,}", f"{float(fitted.knots[0]):.6g}",
                          f"{float(fitted.knots[-1]):.6g}")
    console.print(table)


@app.command("transform")
def transform(
    scaler_path: Path = _SCALER,
    input_path: Path = _INPUT,
    output: Path = typer.Option(..., "--output", "-o", help="Table to write (.csv, .parquet)."),
) -> None:
    """Replace the fitted columns of a table by their Gaussian scores (other columns kept).

    Example: graft gaussrank transform -s scaler.npz -i test.csv -o test_gauss.csv
    """
    from graft.tabular import io

    check_output_file(output, _OUTPUT_WHAT)
    with _steps(3) as step:
        scaler, frame, scores = _read_and_transform(scaler_path, input_path, step)
        for name in scaler.columns_:
            frame[name] = scores[name]
        step("writing")
        io.write_table(frame, output)
        step("done")
    console.print(
        f"wrote {output} ({len(frame):,} rows, columns {', '.join(scaler.columns_)})")


def _inverse_pairs(spec: str | None, scaler: GaussRankScaler, frame: Any, path: Path):
    """``--columns`` entries: ``name`` or ``input_column=fitted_column``."""
    from graft.tabular import io

    if spec is None:
        pairs = [(name, name) for name in scaler.columns_ if name in frame.columns]
        if not pairs:
            raise UserError(
                f"none of the fitted columns ({', '.join(scaler.columns_)}) is in {path}",
                "name the columns to map back, e.g. --columns prediction=target",
            )
        return pairs
    pairs = []
    for item in io.parse_columns(spec):
        source, _, fitted = item.partition("=")
        pairs.append((source.strip(), (fitted or source).strip()))
    unknown = [fitted for _, fitted in pairs if fitted not in scaler.columns_]
    if unknown:
        raise UserError(
            f"column(s) {', '.join(map(repr, unknown))} were not fitted",
            f"fitted columns: {', '.join(scaler.columns_)} (map others with input=fitted)",
        )
    io.require_columns(frame, [source for source, _ in pairs], path)
    return pairs


@app.command("inverse")
def inverse(
    scaler_path: Path = _SCALER,
    input_path: Path = _INPUT,
    output: Path = typer.Option(..., "--output", "-o", help="Table to write (.csv, .parquet)."),
    columns: str | None = typer.Option(
        None, "--columns", "-c",
        help="Columns to map back: NAME or INPUT=FITTED (default: the fitted names present).",
    ),
) -> None:
    """Map Gaussian values (e.g. predictions) back to the training scale of each column.

    Example: graft gaussrank inverse -s scaler.npz -i predictions.csv
    --columns prediction=scalar_coupling_constant -o predictions_orig.csv
    """
    from graft.tabular import io
    from graft.tabular.scaler import GaussRankScaler

    check_output_file(output, _OUTPUT_WHAT)
    with _steps(3) as step:
        scaler = GaussRankScaler.load(scaler_path)
        frame = io.read_table(input_path)
        pairs = _inverse_pairs(columns, scaler, frame, input_path)
        io.require_numeric(frame, [source for source, _ in pairs], input_path)
        keys = None
        if scaler.groups_ is not None:
            io.require_columns(frame, [scaler.group_by], input_path)
            keys = frame[scaler.group_by]
        step("mapping back")
        for source, fitted in pairs:
            frame[source] = scaler.inverse_transform_column(frame[source], fitted, groups=keys)
        step("writing")
        io.write_table(frame, output)
        step("done")
    console.print(f"wrote {output} ({len(frame):,} rows, columns "
                  f"{', '.join(source for source, _ in pairs)})")


@app.command("plot")
def plot(
    scaler_path: Path = _SCALER,
    input_path: Path = _INPUT,
    output: Path = typer.Option(..., "--output", "-o", help="PNG file to write."),
) -> None:
    """Plot histograms of the fitted columns before and after the transform (per group).

    Example: graft gaussrank plot -s scaler.npz -i train.csv -o hist.png
    """
    from graft.tabular.plot import plot_histograms

    check_output_file(output, _OUTPUT_WHAT)
    with _steps(3) as step:
        scaler, frame, scores = _read_and_transform(scaler_path, input_path, step)
        step("plotting")
        plot_histograms(frame, scores, list(scaler.columns_), output, group_by=scaler.group_by)
        step("done")
    console.print(f"wrote {output}")
