"""PNG plots of evaluation results: precision-recall curves and confusion matrices.

Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas: no pyplot state, no GUI
backend, safe in worker threads and on machines without a display. Every file is written
atomically (:mod:`graft.fsutil`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from graft.fsutil import atomic_path

Curve = tuple[np.ndarray, np.ndarray]  # (recall, precision), same length
MAX_LEGEND = 20  # more curves than this: no legend (it would cover the plot)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path, dpi: int = 110) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def plot_pr_curves(path: str | Path, panels: Mapping[str, Mapping[str, Curve]], *,
                   overall: str | None = None, title: str | None = None) -> Path:
    """Precision-recall curves, one panel per entry of ``panels`` (e.g. one per IoU).

    Each panel maps a label (a class, usually with its AP) to a (recall, precision) curve;
    the curve whose label starts with ``overall`` is drawn thick and black, the others thin.
    Empty curves (a class without ground truth) are left out. Returns ``path``.
    """
    fig = _figure(5.2 * max(len(panels), 1), 5.0)
    axes = fig.subplots(1, max(len(panels), 1), squeeze=False)[0]
    for ax, (panel_title, curves) in zip(axes, panels.items(), strict=False):
        drawn = 0
        for label, (recall, precision) in curves.items():
            if len(recall) == 0:
                continue
            is_overall = overall is not None and label.startswith(overall)
            ax.plot(recall, precision, label=label, color="black" if is_overall else None,
                    linewidth=2.4 if is_overall else 1.1, zorder=3 if is_overall else 2)
            drawn += 1
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
               title=panel_title)
        ax.grid(alpha=0.3)
        if 0 < drawn <= MAX_LEGEND:
            ax.legend(loc="lower left", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion_matrix(cm: np.ndarray, labels: Sequence[str], path: str | Path, *,
                          title: str = "confusion matrix (row-normalized, counts shown)",
                          true_axis: str = "true", predicted_axis: str = "predicted") -> Path:
    """A confusion matrix as a PNG: rows normalized (colour), counts written in the cells.

    ``cm`` is (rows, columns) with rows the true labels; ``labels`` names both axes (a
    detection matrix has "background" as its last label). Returns ``path``.
    """
    cm = np.asarray(cm)
    n = len(labels)
    if cm.shape != (n, n):
        raise ValueError(f"a {cm.shape} matrix for {n} labels")
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    size = max(4.0, 0.6 * n + 2)
    fig = _figure(size, size * 0.9)
    ax = fig.subplots()
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel(predicted_axis)
    ax.set_ylabel(true_axis)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)
