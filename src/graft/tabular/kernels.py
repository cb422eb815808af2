"""The Gauss rank transform of one column, written once for every backend.

Ranks to scores
    A value of (mean, for ties) rank ``r`` among ``n`` training values gets the plotting
    position ``p = (r + 0.5) / n`` and the score ``ndtri(p)``. No epsilon is needed (``p`` never
    reaches 0 or 1), the scores have mean 0 and a standard deviation that tends to 1, and the
    map has an exact inverse: ``r = ndtr(z) * n - 0.5``. The ``"seed"`` flavour reproduces the
    RAPIDS blog recipe instead: ``erfinv(clip(2 * r / (n - 1) - 1, -1 + eps, 1 - eps))``.

Table
    Fitting keeps the sorted training values ("knots"; every value, or ``n_quantiles`` of them
    at evenly spaced ranks). ``transform`` maps a value to a fractional rank by linear
    interpolation over the distinct knots and their mean ranks; ``inverse_transform`` maps a
    score to a fractional rank with ``ndtr``, which is directly a position in the knot array, so
    it needs two gathers and a blend, no search. Rank indices are computed in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graft.tabular.errors import GaussRankInputError

FLAVORS = ("exact", "seed")
# Fractional ranks this close to an integer are snapped to it, so that the inverse of a
# training value's score returns that value bit for bit despite ndtr/ndtri rounding (~1e-9).
_SNAP_RANKS = 1e-6


@dataclass
class Tails:
    """Host scalars for linear extrapolation beyond the training range, one line per side."""

    lo_value: float
    lo_score: float
    lo_slope: float  # d score / d value on the first segment
    hi_value: float
    hi_score: float
    hi_slope: float


@dataclass(eq=False)
class ColumnTable:
    """What ``fit`` learns for one column (of one group)."""

    knots: Any  # sorted values at ranks j * step, j = 0..m-1 (backend array, work dtype)
    n: int  # number of non-NaN training values
    flavor: str = "exact"
    epsilon: float = 1e-6
    _forward: tuple[Any, Any] | None = field(default=None, repr=False)
    _tails: Tails | None = field(default=None, repr=False)

    @property
    def m(self) -> int:
        return int(self.knots.shape[0])

    @property
    def step(self) -> float:
        """Rank distance between consecutive knots (1 for an exact table)."""
        return (self.n - 1) / (self.m - 1) if self.m > 1 else 1.0


def scores_from_ranks_(backend: Any, ranks: Any, n: int, flavor: str, epsilon: float) -> Any:
    """Gaussian scores of (fractional) ranks; overwrites the float64 ``ranks``.

    The upper half is computed as ``-ndtri((n - r - 0.5) / n)``: exactly antisymmetric, and
    accurate in the upper tail where ``p`` close to 1 would lose digits.
    """
    if flavor == "exact":
        ranks += 0.5
        upper = ranks > n / 2
        backend.rsub_where_(ranks, n, upper)
        ranks /= n
        backend.ndtri_(ranks)
        backend.negate_where_(ranks, upper)
        return ranks
    if n == 1:
        ranks *= 0.0
        return ranks
    ranks /= n - 1
    ranks -= 0.5
    ranks *= 2.0
    backend.clip_nan_low_(ranks, -1.0 + epsilon, 1.0 - epsilon)
    return backend.erfinv_(ranks)


def ranks_from_scores(backend: Any, scores: Any, n: int, flavor: str) -> Any:
    """Fractional ranks (float64, a new array) of Gaussian scores: the inverse of the above."""
    ranks = backend.to_float64(scores)
    if flavor == "exact":
        upper = ranks > 0
        backend.negate_where_(ranks, upper)  # ndtr of -|z|: the tail mass, without rounding
        backend.ndtr_(ranks)
        ranks *= n
        ranks -= 0.5
        backend.rsub_where_(ranks, n - 1, upper)  # upper half: n - 0.5 - n * ndtr(-z)
        return ranks
    backend.erf_(ranks)
    ranks *= 0.5
    ranks += 0.5
    ranks *= max(n - 1, 0)
    return ranks


def exact_scores_without_ties(backend: Any, n: int) -> Any:
    """``ndtri((arange(n) + 0.5) / n)`` computing only half: the scores are antisymmetric."""
    scores = backend.arange(n)
    half = (n + 1) // 2
    first = scores[:half]
    first += 0.5
    first /= n
    backend.ndtri_(first)
    backend.mirror_(scores, half)
    return scores


def _gather_blend(backend: Any, values: Any, positions: Any) -> Any:
    """Linear interpolation of ``values`` at fractional ``positions`` in [0, len - 1].

    Overwrites and returns the float64 ``positions``; an integer position returns the stored
    value exactly.
    """
    last = int(values.shape[0]) - 1
    index = backend.floor_index(positions)
    positions -= index  # now the weight of the upper neighbour
    low_values = backend.take(values, index)
    index += 1
    backend.clamp_max_(index, last)
    high_values = backend.take(values, index)
    high_values -= low_values
    positions *= high_values
    positions += low_values
    return positions


def _run_bounds(backend: Any, knots: Any, index: int) -> tuple[int, int]:
    """[start, stop) of the run of knots equal to ``knots[index]``."""
    value = backend.scalar(knots, index)
    return backend.count_less(knots, value), backend.count_less_equal(knots, value)


def tails(backend: Any, table: ColumnTable) -> Tails | None:
    """The extrapolation lines of a table, or None when it has a single distinct value."""
    if table._tails is not None:
        return table._tails
    m = table.m
    lo0, lo1 = _run_bounds(backend, table.knots, 0)
    hi0, hi1 = _run_bounds(backend, table.knots, m - 1)
    if lo1 >= m:
        return None
    next_lo = _run_bounds(backend, table.knots, lo1)
    prev_hi = _run_bounds(backend, table.knots, hi0 - 1)
    runs = [(lo0, lo1), next_lo, prev_hi, (hi0, hi1)]
    from graft.tabular.backends import NumpyBackend

    host = NumpyBackend()
    ranks = host.xp.array([(a + b - 1) / 2 * table.step for a, b in runs], dtype=float)
    scores = scores_from_ranks_(host, ranks, table.n, table.flavor, table.epsilon).tolist()
    values = [backend.scalar(table.knots, a) for a, _ in runs]
    table._tails = Tails(
        lo_value=values[0],
        lo_score=scores[0],
        lo_slope=(scores[1] - scores[0]) / (values[1] - values[0]),
        hi_value=values[3],
        hi_score=scores[3],
        hi_slope=(scores[3] - scores[2]) / (values[3] - values[2]),
    )
    return table._tails


def forward_table(backend: Any, table: ColumnTable) -> tuple[Any, Any]:
    """Distinct knot values (float64) and their mean ranks (float64), built once per table."""
    if table._forward is None:
        knots = table.knots
        if backend.has_ties(knots):
            starts, counts = backend.tie_runs(knots)
            values = backend.take(knots, starts)
            ranks = mean_ranks_of_runs(backend, starts, counts)
        else:
            values, ranks = knots, backend.arange(table.m)
        if table.step != 1.0:
            ranks = ranks * table.step
        table._forward = (backend.cast(values, backend.xp_float64), ranks)
    return table._forward


def mean_ranks_of_runs(backend: Any, starts: Any, counts: Any) -> Any:
    """Mean rank of each run of ties: ``start + (count - 1) / 2``, in float64."""
    ranks = backend.cast(counts, backend.xp_float64) - 1.0
    ranks *= 0.5
    ranks += backend.cast(starts, backend.xp_float64)
    return ranks


def _subsample(backend: Any, sorted_values: Any, n_quantiles: int) -> Any:
    """``n_quantiles`` values at evenly spaced ranks 0..n-1 (linear between neighbours)."""
    n = int(sorted_values.shape[0])
    positions = backend.arange(n_quantiles)
    positions *= (n - 1) / (n_quantiles - 1)
    backend.clip_nan_low_(positions, 0.0, n - 1.0)
    knots = _gather_blend(backend, sorted_values, positions)
    return backend.cast(knots, sorted_values.dtype)


def fit_column(
    backend: Any,
    x: Any,
    *,
    name: str,
    flavor: str = "exact",
    epsilon: float = 1e-6,
    n_quantiles: int | None = None,
    score_dtype: Any = None,
) -> tuple[ColumnTable, Any]:
    """Learn the table of ``x`` (1-D); with ``score_dtype`` also return the training scores.

    One sort per column: the training scores come from the ranks directly, so
    ``fit_transform`` never searches the table.
    """
    x = backend.cast(x, backend.work_dtype(x))
    valid_values, valid_rows = backend.drop_nan(x)
    n = int(valid_values.shape[0])
    if n == 0:
        raise GaussRankInputError(
            f"column {name} has no values to fit (empty or all NaN)",
            "drop the column or fit on data that has values in it",
        )
    sorted_values, order = backend.sort_with_index(valid_values)
    ties = backend.has_ties(sorted_values)
    if n_quantiles is not None and n > n_quantiles:
        knots = _subsample(backend, sorted_values, n_quantiles)
    else:
        knots = sorted_values
    table = ColumnTable(knots=knots, n=n, flavor=flavor, epsilon=epsilon)
    if score_dtype is None:
        return table, None
    if ties:
        starts, counts = backend.tie_runs(sorted_values)
        mean_ranks = mean_ranks_of_runs(backend, starts, counts)
        run_scores = scores_from_ranks_(backend, mean_ranks * 1.0, n, flavor, epsilon)
        scores = backend.repeat(run_scores, counts, n)  # one ndtri per distinct value
        if knots is sorted_values:  # the forward table comes for free
            table._forward = (backend.cast(backend.take(knots, starts), backend.xp_float64),
                              mean_ranks)
    elif flavor == "exact":
        scores = exact_scores_without_ties(backend, n)
    else:
        scores = scores_from_ranks_(backend, backend.arange(n), n, flavor, epsilon)
    out = backend.full(int(x.shape[0]), float("nan"), score_dtype)
    rows = order if valid_rows is None else backend.take(valid_rows, order)
    backend.scatter(out, rows, scores)
    return table, out


def transform_column(
    backend: Any, table: ColumnTable, x: Any, *, extrapolate: bool, out_dtype: Any
) -> Any:
    """Scores of new values through the fitted table (no re-ranking of ``x``)."""
    if table.m == 1 or backend.scalar(table.knots, 0) == backend.scalar(table.knots, -1):
        return backend.keep_nan_(backend.full(int(x.shape[0]), 0.0, out_dtype), x)
    values, ranks = forward_table(backend, table)
    scores = scores_from_ranks_(
        backend, backend.interp(x, values, ranks), table.n, table.flavor, table.epsilon
    )
    if extrapolate:
        line = tails(backend, table)
        below, above = x < line.lo_value, x > line.hi_value
        scores = backend.where(below, (x - line.lo_value) * line.lo_slope + line.lo_score, scores)
        scores = backend.where(above, (x - line.hi_value) * line.hi_slope + line.hi_score, scores)
    return backend.cast(scores, out_dtype)


def inverse_column(
    backend: Any, table: ColumnTable, scores: Any, *, extrapolate: bool, out_dtype: Any
) -> Any:
    """Values on the training scale for Gaussian ``scores``: two gathers and a blend."""
    positions = ranks_from_scores(backend, scores, table.n, table.flavor)
    if table.step != 1.0:
        positions /= table.step
    backend.clip_nan_low_(positions, 0.0, table.m - 1.0)
    if backend.itemsize(scores) >= 8:  # float32 scores cannot place a rank this finely
        positions = backend.snap_(positions, _SNAP_RANKS)
    values = backend.keep_nan_(_gather_blend(backend, table.knots, positions), scores)
    if extrapolate:
        line = tails(backend, table)
        if line is not None:
            below, above = scores < line.lo_score, scores > line.hi_score
            values = backend.where(
                below, (scores - line.lo_score) / line.lo_slope + line.lo_value, values
            )
            values = backend.where(
                above, (scores - line.hi_score) / line.hi_slope + line.hi_value, values
            )
    return backend.cast(values, out_dtype)
