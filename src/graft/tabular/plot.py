"""Histograms before and after the Gauss rank transform, one row per column, groups overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from graft.fsutil import atomic_path

MAX_GROUPS_SHOWN = 12


def _series_by_group(values: pd.Series, keys: pd.Series | None) -> list[tuple[str, np.ndarray]]:
    if keys is None:
        return [("all", values.to_numpy(dtype=float))]
    parts = []
    for key, part in values.groupby(keys, sort=True):
        parts.append((str(key), part.to_numpy(dtype=float)))
    return parts[:MAX_GROUPS_SHOWN]


def plot_histograms(
    before: pd.DataFrame,
    after: pd.DataFrame,
    columns: list[Any],
    path: str | Path,
    group_by: Any = None,
    bins: int = 60,
) -> Path:
    """Write a PNG: for each column, its raw histogram(s) and the transformed one(s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = before[group_by] if group_by is not None else None
    fig, axes = plt.subplots(len(columns), 2, figsize=(11, 3.2 * len(columns)), squeeze=False)
    grid = np.linspace(-4, 4, 200)
    for row, column in enumerate(columns):
        raw_ax, gauss_ax = axes[row]
        raw_parts = _series_by_group(before[column], keys)
        gauss_parts = _series_by_group(after[column], keys)
        for (label, raw), (_, gauss) in zip(raw_parts, gauss_parts, strict=True):
            raw, gauss = raw[~np.isnan(raw)], gauss[~np.isnan(gauss)]
            raw_ax.hist(raw, bins=bins, histtype="step", density=True, label=label)
            gauss_ax.hist(gauss, bins=bins, histtype="step", density=True, label=label)
        gauss_ax.plot(grid, scipy.stats.norm.pdf(grid), "k--", linewidth=1, label="N(0, 1)")
        raw_ax.set_title(f"{column}: before")
        gauss_ax.set_title(f"{column}: after Gauss rank")
        if keys is not None or row == 0:
            gauss_ax.legend(fontsize="small", ncols=2)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path
