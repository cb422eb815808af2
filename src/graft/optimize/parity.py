"""Does the exported model compute what PyTorch computes? The export's parity verdict.

Every export runs the ONNX model in onnxruntime and the PyTorch network on the same inputs
(random ones, and real preprocessed images when given) and compares each output:

- FP32 and FP16 must *match*: per output and input kind,
  ``max|onnx - torch| <= atol + rtol * max|torch|``. The relative term is scaled to the output's
  largest magnitude (not element by element as in ``numpy.allclose``), so a near-zero element
  does not demand an exact match while a logit of 20 may differ by more than a heatmap of 0.1.
  Defaults in :data:`TOLERANCES` (fp32: 1e-4 + 1e-4 x max; fp16: 1e-3 + 1e-2 x max, FP16 keeps
  about 3 significant digits per op). A failure is a gate: :class:`ParityError` (exit code 3)
  unless the caller accepts the mismatch knowingly (``--allow_parity_mismatch``).
- INT8 cannot match to float tolerance (each tensor is rounded to 256 levels), so it is judged by
  *agreement* on real images only (random inputs fall outside the calibrated ranges): the
  cosine similarity between the INT8 and the float outputs of each image must reach
  :data:`INT8_MIN_COSINE`. Relative L2 error and, for (N, K) outputs, top-1 agreement are
  reported beside it. How much agreement a task needs depends on its metric, so a low agreement
  is a warning, not a gate: evaluate the INT8 model (``graft TASK evaluate -m model.onnx``) to
  decide.

A task whose outputs have no fixed layout (a detection list whose length depends on the image)
gives its own :data:`Comparator` (``Task.parity_comparator``): it sees every output of one input
kind at once, so it can match detections before comparing them, or compare only when the counts
agree; :func:`compare_outputs` (each output by :func:`compare`) is the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.errors import UserError

if TYPE_CHECKING:
    from graft.runtime.runner import Runner

TOLERANCES: dict[str, tuple[float, float]] = {"fp32": (1e-4, 1e-4), "fp16": (1e-3, 1e-2)}
INT8_MIN_COSINE = 0.99
PARITY_EXIT_CODE = 3


class ParityError(UserError):
    """The exported model does not match PyTorch within tolerance (exit code 3)."""

    exit_code = PARITY_EXIT_CODE


@dataclass
class OutputParity:
    """One output on one kind of input ("random" or "real")."""

    name: str
    inputs: str
    max_abs_diff: float
    max_abs_reference: float
    tolerance: float | None = None  # atol + rtol * max|reference| (fp32 / fp16)
    cosine: float | None = None  # lowest per-sample cosine similarity
    relative_error: float | None = None  # highest per-sample ||onnx - torch|| / ||torch||
    top1_agreement: float | None = None  # share of samples with the same argmax, (N, K) outputs
    passed: bool | None = None  # None: not judged (INT8 on random inputs)
    note: str | None = None  # why it failed or was not judged, when the numbers do not say


# (onnx outputs, torch outputs, input kind, rule) -> one judged row per output (or more)
Comparator = Callable[[dict[str, np.ndarray], dict[str, np.ndarray], str, dict[str, Any]],
                      list[OutputParity]]


def criterion(data_type: str, atol: float | None = None,
              rtol: float | None = None) -> dict[str, Any]:
    """The rule a data type is judged by, as written to ``OUT.parity.json``."""
    if data_type in TOLERANCES:
        a, r = TOLERANCES[data_type]
        a, r = (a if atol is None else atol), (r if rtol is None else rtol)
        return {"kind": "tolerance", "atol": a, "rtol": r, "gate": True,
                "rule": "per output: max|onnx - torch| <= atol + rtol * max|torch|"}
    return {"kind": "agreement", "min_cosine": INT8_MIN_COSINE, "gate": False,
            "rule": "per output, on real images: the lowest per-image cosine similarity of "
                    "onnx and torch outputs >= min_cosine (a warning only)"}


def _per_sample(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(lowest cosine similarity, highest relative L2 error) over the batch's samples."""
    n = max(1, len(want)) if want.ndim else 1
    g, w = got.reshape(n, -1), want.reshape(n, -1)
    gn, wn = np.linalg.norm(g, axis=1), np.linalg.norm(w, axis=1)
    dot = (g * w).sum(axis=1)
    both_zero = (gn == 0) & (wn == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(both_zero, 1.0, dot / (gn * wn))
        rel = np.where(wn == 0, np.where(gn == 0, 0.0, np.inf), np.linalg.norm(g - w, axis=1) / wn)
    cos = np.nan_to_num(cos, nan=0.0)
    return float(cos.min()), float(rel.max())


def compare(name: str, inputs: str, got: np.ndarray, want: np.ndarray,
            rule: dict[str, Any]) -> OutputParity:
    """Compare one output (onnxruntime ``got`` vs PyTorch ``want``) and judge it by ``rule``."""
    g, w = got.astype(np.float64), want.astype(np.float64)
    if g.shape != w.shape:
        return OutputParity(name, inputs, float("inf"), float(np.abs(w).max(initial=0.0)),
                            passed=False, note=f"shape {g.shape} differs from PyTorch's {w.shape}")
    row = OutputParity(name, inputs, float(np.abs(g - w).max(initial=0.0)),
                       float(np.abs(w).max(initial=0.0)))
    row.cosine, row.relative_error = _per_sample(g, w)
    if w.ndim == 2 and w.shape[1] > 1 and len(w):  # none for zero rows (no detections)
        row.top1_agreement = float((g.argmax(axis=1) == w.argmax(axis=1)).mean())
    if np.isnan(g).any() or np.isnan(w).any():
        row.max_abs_diff = float("nan")
    if rule["kind"] == "tolerance":
        row.tolerance = rule["atol"] + rule["rtol"] * row.max_abs_reference
        row.passed = bool(row.max_abs_diff <= row.tolerance)  # NaN compares False
    elif inputs == "real":
        row.passed = bool(row.cosine >= rule["min_cosine"])
    return row


def compare_outputs(got: dict[str, np.ndarray], want: dict[str, np.ndarray], inputs: str,
                    rule: dict[str, Any]) -> list[OutputParity]:
    """The default :data:`Comparator`: every output on its own, element by element."""
    return [compare(name, inputs, got[name], w, rule) for name, w in want.items()]


def run_parity(reference: Runner, exported: Runner, inputs: dict[str, dict[str, np.ndarray]],
               rule: dict[str, Any], comparator: Comparator | None = None) -> list[OutputParity]:
    """Run the exported model and the PyTorch one on the same inputs (``{kind: feed}``, kinds
    such as "random" and "real") and judge the outputs with ``comparator``."""
    rows: list[OutputParity] = []
    for kind, feed in inputs.items():
        want = reference(feed, returns="numpy")
        got = exported(feed, returns="numpy")
        rows.extend((comparator or compare_outputs)(got, want, kind, rule))
    return rows


def verdict(rows: list[OutputParity]) -> bool | None:
    """All judged rows passed (True), one failed (False), or nothing was judged (None)."""
    judged = [r.passed for r in rows if r.passed is not None]
    return all(judged) if judged else None


def worst(rows: list[OutputParity]) -> OutputParity | None:
    """The failed row to name in a one-line message (largest excess over its tolerance)."""
    failed = [r for r in rows if r.passed is False]
    if not failed:
        return None
    if all(r.tolerance is not None for r in failed):
        return max(failed, key=lambda r: (np.nan_to_num(r.max_abs_diff, nan=np.inf)
                                          - (r.tolerance or 0.0)))
    return min(failed, key=lambda r: r.cosine if r.cosine is not None else 1.0)


def describe(row: OutputParity) -> str:
    """``output 'logits' on random inputs: max abs diff 0.3 > tolerance 0.001``."""
    if row.note:
        return f"output {row.name!r} on {row.inputs} inputs: {row.note}"
    if row.tolerance is not None:
        return (f"output {row.name!r} on {row.inputs} inputs: max abs diff "
                f"{row.max_abs_diff:.3g} > tolerance {row.tolerance:.3g}")
    return (f"output {row.name!r} on {row.inputs} images: cosine similarity "
            f"{row.cosine:.4f} < {INT8_MIN_COSINE}")


def print_parity(rows: list[OutputParity], title: str, console: Any) -> None:
    """The comparison table: one row per output and input kind, with its verdict (names and
    the title as Text: printed literally whatever the console's markup setting)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title))
    for col in ("output", "inputs", "max abs diff", "max |torch|", "tolerance", "cosine",
                "verdict"):
        table.add_column(col, justify="left" if col in ("output", "inputs", "verdict")
                         else "right")
    marks = {True: Text("ok", "green"), False: Text("FAIL", "bold red"), None: Text("-", "dim")}
    for r in rows:
        table.add_row(Text(r.name), r.inputs, f"{r.max_abs_diff:.3g}",
                      f"{r.max_abs_reference:.3g}",
                      "-" if r.tolerance is None else f"{r.tolerance:.3g}",
                      "-" if r.cosine is None else f"{r.cosine:.4f}", marks[r.passed])
    console.print(table)
