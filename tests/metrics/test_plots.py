"""PR curves and confusion matrices are written as PNG files, atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graft.metrics.plots import plot_confusion_matrix, plot_pr_curves


def _curve(level: float) -> tuple[np.ndarray, np.ndarray]:
    recall = np.linspace(0, 1, 101)
    return recall, np.where(recall < level, 1 - recall * 0.3, 0.0)


def test_pr_curves_one_panel_per_entry(tmp_path: Path) -> None:
    path = tmp_path / "plots" / "pr.png"
    panels = {"IoU 0.50": {"car 0.8": _curve(0.9), "ship": (np.zeros(0), np.zeros(0)),
                           "all classes 0.7": _curve(0.8)},
              "IoU 0.50:0.95": {"car 0.5": _curve(0.6), "all classes 0.4": _curve(0.5)}}
    assert plot_pr_curves(path, panels, overall="all classes", title="t") == path
    with Image.open(path) as image:
        width, height = image.size
    assert width > 1.5 * height  # two panels side by side
    one = plot_pr_curves(tmp_path / "one.png", {"IoU 0.7": {"car": _curve(0.5)}})
    with Image.open(one) as image:
        assert image.size[0] < width
    assert sorted(p.name for p in path.parent.iterdir()) == ["pr.png"]  # no temporaries


def test_many_classes_draw_without_a_legend(tmp_path: Path) -> None:
    curves = {f"class {i}": _curve(i / 40) for i in range(40)}
    path = plot_pr_curves(tmp_path / "many.png", {"IoU 0.50": curves})
    assert path.stat().st_size > 5_000


def test_confusion_matrix_png(tmp_path: Path) -> None:
    cm = np.array([[5, 1, 0], [0, 3, 2], [1, 0, 0]])
    path = plot_confusion_matrix(cm, ["car", "ship", "background"], tmp_path / "cm.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 200
    with pytest.raises(ValueError, match=r"a \(3, 3\) matrix for 2 labels"):
        plot_confusion_matrix(cm, ["car", "ship"], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
