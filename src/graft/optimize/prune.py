"""Structured filter pruning with TLT semantics on Torch-Pruning's dependency graph.

TLT scores each filter by the L2 norm of its kernel, normalized within its layer by one of
TLT's ``-n`` normalizers (:func:`normalize_scores`: ``max`` divides by the layer's largest
norm; ``L2`` divides by the L2 norm of the layer's norm vector and multiplies by the number of
filters; ``off`` keeps raw norms), and keeps the filters scoring above ``-pth``: at least ``-nf``
of them, rounded up to a multiple of ``-pg`` so that the pruned channel counts stay fast on
tensor cores. Layers whose outputs meet in an element-wise op
(residual adds) must keep the same channels: they form an equalization group whose per-channel
scores are merged by ``-eq`` (union = max, intersection = min, arithmetic or geometric mean).

Depthwise convs, as in TLT, score their own channels (the L2 norm of each channel's kernel,
normalized like any layer) and are equalized with the layer that produces their input by the
same ``-eq`` criterion, since both must keep the same channels. TLT merges the two pairwise,
after any element-wise equalization of the producer; graft merges every score of a coupled
group at once, which is the same for union and intersection and for a producer that is not in
an element-wise group, but weighs a depthwise conv equally with each residual branch for the
two means. TLT supports depth multiplier 1 only (it raises otherwise); graft keeps the channels
of any other grouped conv, and of the layers coupled to it, unpruned.

Torch-Pruning traces the network and yields one *group* per set of coupled channels, with the
index mapping through concatenations, flattens and adds already worked out, so any graph a task
builds is handled without task-specific code. Output layers (the task's heads, anything whose
channels reach a network output) and ``-el`` layers are never pruned.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from graft.errors import UserError
from graft.fsutil import atomic_open, write_json

Normalizer = Literal["max", "L2", "off"]
Equalization = Literal["union", "intersection", "arithmetic_mean", "geometric_mean"]
NORMALIZERS: tuple[str, ...] = ("max", "L2", "off")
EQUALIZATIONS: tuple[str, ...] = ("union", "intersection", "arithmetic_mean", "geometric_mean")
_SCORED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
           nn.ConvTranspose3d, nn.Linear)
_SCORED_NAMES = frozenset(t.__name__ for t in _SCORED)


@dataclass(frozen=True)
class PruneOptions:
    """TLT ``prune`` flags."""

    threshold: float = 0.1  # -pth
    normalizer: Normalizer = "max"  # -n
    equalization: Equalization = "union"  # -eq
    granularity: int = 8  # -pg
    min_num_filters: int = 16  # -nf
    excluded_layers: tuple[str, ...] = ()  # -el

    def __post_init__(self) -> None:
        if self.normalizer not in NORMALIZERS:
            raise UserError(f"unknown normalizer {self.normalizer!r}",
                            "use -n max, -n L2 or -n off")
        if self.equalization not in EQUALIZATIONS:
            raise UserError(f"unknown equalization {self.equalization!r}",
                            f"use -eq with one of: {', '.join(EQUALIZATIONS)}")
        if self.granularity < 1:
            raise UserError(f"-pg must be >= 1, got {self.granularity}")
        if self.min_num_filters < 1:
            raise UserError(f"-nf must be >= 1, got {self.min_num_filters}")
        if self.threshold < 0:
            raise UserError(f"-pth must be >= 0, got {self.threshold}")


@dataclass
class LayerReport:
    """One row of the pruning table."""

    name: str
    type: str
    channels_before: int
    channels_after: int
    params_before: int
    params_after: int
    ratio: float  # params after / before


@dataclass
class PruneResult:
    module: nn.Module
    layers: list[LayerReport]
    options: PruneOptions
    params_before: int
    params_after: int
    groups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.params_after / max(self.params_before, 1)

    @property
    def layers_pruned(self) -> int:
        """Conv and linear layers that lost output channels."""
        return sum(1 for r in self.layers
                   if r.type in _SCORED_NAMES and r.channels_after < r.channels_before)

    def summary(self) -> dict[str, Any]:
        return {
            "options": asdict(self.options),
            "params_before": self.params_before,
            "params_after": self.params_after,
            "ratio": round(self.ratio, 6),
            "layers_pruned": self.layers_pruned,
            "layers": [asdict(r) for r in self.layers],
            "groups": self.groups,
        }


# -- TLT's retained-filter rule ----------------------------------------------------------------


def filter_norms(module: nn.Module) -> torch.Tensor:
    """L2 norm of every output filter's kernel (bias excluded), as float64."""
    w = module.weight.detach().double()
    if isinstance(module, nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d):
        # weight is (in, out / groups, *k); fold groups so the rows are the output filters
        g = module.groups
        w = w.reshape(g, w.shape[0] // g, *w.shape[1:]).transpose(1, 2)  # (g, out/g, in/g, *k)
    return w.reshape(module.out_channels if hasattr(module, "out_channels") else w.shape[0],
                     -1).norm(dim=1)


def normalize_scores(norms: torch.Tensor, normalizer: Normalizer) -> torch.Tensor:
    """TLT's ``normalize_stat``: a layer's filter norms made comparable with ``-pth``.

    ``max``: ``s / max(s)``; ``L2``: ``s / ||s||_2 * len(s)``; ``off``: ``s``. An all-zero layer
    scores 0 everywhere (TLT would divide by zero).
    """
    if normalizer == "off":
        return norms
    scale = norms.max() if normalizer == "max" else norms.norm() / norms.numel()
    return norms / scale if scale > 0 else torch.zeros_like(norms)


def merge_scores(per_layer: Sequence[torch.Tensor], equalization: Equalization) -> torch.Tensor:
    """Merge the (normalized) scores of coupled layers, channel by channel."""
    stacked = torch.stack(list(per_layer))
    if equalization == "union":
        return stacked.max(dim=0).values
    if equalization == "intersection":
        return stacked.min(dim=0).values
    if equalization == "arithmetic_mean":
        return stacked.mean(dim=0)
    # geometric mean; a zero-norm filter makes the channel's mean zero, as it should
    return stacked.clamp_min(0).log().mean(dim=0).exp()


def num_retained(scores: torch.Tensor, options: PruneOptions) -> int:
    """Filters kept: those above threshold, at least ``nf``, rounded up to ``pg``, at most all."""
    total = int(scores.numel())
    above = int((scores > options.threshold).sum())
    keep = max(above, options.min_num_filters)
    keep = int(math.ceil(keep / options.granularity) * options.granularity)
    return min(keep, total)


def retained_indices(scores: torch.Tensor, options: PruneOptions) -> list[int]:
    """Indices of the highest-scoring filters, in their original order."""
    keep = num_retained(scores, options)
    # stable: among equal scores the earlier channel wins, so results are reproducible
    order = sorted(range(scores.numel()), key=lambda i: (-float(scores[i]), i))
    return sorted(order[:keep])


# -- the pruning pass --------------------------------------------------------------------------


def _flatten(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, list | tuple):
        return [t for o in out for t in _flatten(o)]
    return []


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def _channels(module: nn.Module) -> int | None:
    for attr in ("out_channels", "out_features", "num_features", "num_channels"):
        if hasattr(module, attr):
            return int(getattr(module, attr))
    return None


def resolve_layers(model: nn.Module, names: Iterable[str]) -> list[nn.Module]:
    """Modules for the ``-el`` names, with a did-you-mean for typos."""
    import difflib

    modules = dict(model.named_modules())
    found = []
    for name in names:
        if name not in modules:
            close = difflib.get_close_matches(name, [n for n in modules if n], n=3, cutoff=0.4)
            hint = (f"did you mean {', '.join(close)}?" if close
                    else "use names from the pruning table (OUT.prune.csv)")
            raise UserError(f"excluded layer {name!r} is not in the model", hint)
        found.append(modules[name])
    return found


def prune_module(
    model: nn.Module,
    example_input: torch.Tensor | Sequence[torch.Tensor],
    options: PruneOptions,
    output_layers: Iterable[nn.Module] = (),
    check_rebuild: bool = True,
) -> PruneResult:
    """Prune ``model`` in place (TLT semantics) and return it with the per-layer report.

    ``output_layers`` (the task's heads) and ``options.excluded_layers`` keep all their filters;
    so does every layer whose channels reach a network output. With ``check_rebuild`` the pruned
    shapes are re-applied to a pristine copy through :mod:`graft.nn.surgery`, which proves the
    result reloads from its manifest (or names the layer that would not).
    """
    import torch_pruning as tp

    model.eval()
    pristine = copy.deepcopy(model) if check_rebuild else None
    names = {m: n for n, m in model.named_modules()}
    before = {n: (_channels(m), _params(m), type(m).__name__) for n, m in model.named_modules()
              if _params(m)}
    params_before = sum(p.numel() for p in model.parameters())
    inputs = tuple(example_input) if isinstance(example_input, list | tuple) else (example_input,)
    with torch.no_grad():
        shapes_before = [tuple(t.shape) for t in _flatten(model(*inputs))]

    protected = set(output_layers) | set(resolve_layers(model, options.excluded_layers))
    traced: list[Any] = []

    def keep_output(out: Any) -> Any:
        traced.append(out)
        return out

    with torch.enable_grad():
        graph = tp.DependencyGraph().build_dependency(
            model, example_inputs=inputs, output_transform=keep_output, verbose=False)
    output_fns = {t.grad_fn for t in _flatten(traced[0]) if t.grad_fn is not None}

    groups_log: list[dict[str, Any]] = []
    for group in graph.get_all_groups(ignored_layers=list(protected), root_module_types=_SCORED):
        if any(dep.target.grad_fn in output_fns and graph.is_out_channel_pruning_fn(dep.handler)
               for dep, _ in group):
            continue  # pruning would change the shape of a network output
        if any(_grouped_not_depthwise(item.dep.target.module) for item in group):
            continue  # TLT prunes depthwise convs with multiplier 1 only; keep these whole
        scored: list[tuple[str, torch.Tensor, list[int]]] = []  # (layer, scores, root idxs)
        for item in group:
            dep, idxs = item.dep, item.idxs
            layer = dep.target.module
            if not (isinstance(layer, _SCORED) and graph.is_out_channel_pruning_fn(dep.handler)):
                continue
            scores = normalize_scores(filter_norms(layer), options.normalizer)
            if max(idxs, default=-1) >= scores.numel():  # broadcast (e.g. a 1-channel gate)
                scored = []
                break
            scored.append((names.get(layer, "?"), scores[list(idxs)], list(item.root_idxs)))
        if not scored:
            continue  # nothing to score, or channels that cannot be pruned one by one
        n_root = graph.get_out_channels(group[0].dep.target.module)
        merged = _merge_by_root(scored, n_root, options.equalization)
        keep = retained_indices(merged, options)
        pruned = [i for i in range(n_root) if i not in set(keep)]
        groups_log.append({"layers": [s[0] for s in scored], "channels_before": n_root,
                           "channels_after": len(keep)})
        if pruned:
            group.prune(idxs=pruned)

    with torch.no_grad():
        shapes_after = [tuple(t.shape) for t in _flatten(model(*inputs))]
    if shapes_after != shapes_before:  # would be a bug in the protection above; never save it
        raise RuntimeError(f"pruning changed the output shapes {shapes_before} -> {shapes_after}")
    if pristine is not None:
        check_rebuildable(pristine, model)

    layers = []
    for n, m in model.named_modules():
        if n not in before:
            continue
        ch_b, p_b, kind = before[n]
        p_a = _params(m)
        layers.append(LayerReport(n, kind, ch_b or 0, _channels(m) or 0, p_b, p_a,
                                  round(p_a / p_b, 6) if p_b else 1.0))
    return PruneResult(model, layers, options, params_before,
                       sum(p.numel() for p in model.parameters()), groups_log)


def _grouped_not_depthwise(module: Any) -> bool:
    """A grouped conv other than a depthwise one with depth multiplier 1 (in = out = groups):
    its channels cannot be removed one by one without changing its groups."""
    groups = getattr(module, "groups", 1)
    return isinstance(module, _SCORED) and groups > 1 and not (
        module.in_channels == groups == module.out_channels)


def _merge_by_root(scored: list[tuple[str, torch.Tensor, list[int]]], n_root: int,
                   equalization: Equalization) -> torch.Tensor:
    """Per root channel, merge the scores of every layer that produces it."""
    per_root: list[list[torch.Tensor]] = [[] for _ in range(n_root)]
    for _, scores, roots in scored:
        for s, r in zip(scores, roots, strict=True):
            per_root[r].append(s)
    merged = torch.zeros(n_root, dtype=torch.float64)
    for r, vals in enumerate(per_root):
        if vals:
            merged[r] = merge_scores([v.reshape(1) for v in vals], equalization)[0]
    return merged


def check_rebuildable(pristine: nn.Module, pruned: nn.Module) -> None:
    """Raise if the stock net + recorded layer shapes would not hold the pruned weights."""
    from graft.nn.surgery import apply_layer_shapes, record_layer_shapes

    rebuilt = apply_layer_shapes(pristine, record_layer_shapes(pruned))
    want = {k: tuple(v.shape) for k, v in pruned.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    bad = sorted(k for k in want if have.get(k) != want[k])
    if bad or set(have) != set(want):
        layer = (bad or sorted(set(have) ^ set(want)))[0]
        raise UserError(
            f"the pruned model changes {layer!r}, a layer type graft cannot rebuild from the "
            "manifest yet",
            f"exclude its producer with -el, or teach graft.nn.surgery "
            f"{layer.rsplit('.', 1)[0]!r}",
        )


# -- reporting ---------------------------------------------------------------------------------


def print_table(result: PruneResult, console: Any | None = None) -> None:
    """The per-layer table, as TLT prints it after pruning."""
    from rich.table import Table

    from graft.console import console as stdout_console

    table = Table(title=f"pruning (pth={result.options.threshold}, -n {result.options.normalizer}, "
                        f"-eq {result.options.equalization}, -pg {result.options.granularity}, "
                        f"-nf {result.options.min_num_filters})")
    for col in ("layer", "type", "channels", "params before", "params after", "ratio"):
        table.add_column(col, justify="left" if col in ("layer", "type") else "right")
    for r in result.layers:
        style = "dim" if r.channels_after == r.channels_before and r.ratio == 1 else None
        table.add_row(r.name, r.type, f"{r.channels_before} -> {r.channels_after}",
                      f"{r.params_before:,}", f"{r.params_after:,}", f"{r.ratio:.3f}", style=style)
    table.add_row("total", "", "", f"{result.params_before:,}", f"{result.params_after:,}",
                  f"{result.ratio:.3f}", style="bold")
    (console or stdout_console).print(table)


def save_report(result: PruneResult, stem: str | Path) -> tuple[Path, Path]:
    """Write ``STEM.csv`` and ``STEM.json`` (atomically); returns both paths."""
    import csv

    stem = Path(stem)
    csv_path, json_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".json")
    with atomic_open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["layer", "type", "channels_before", "channels_after", "params_before",
                         "params_after", "ratio"])
        for r in result.layers:
            writer.writerow([r.name, r.type, r.channels_before, r.channels_after, r.params_before,
                             r.params_after, r.ratio])
        writer.writerow(["total", "", "", "", result.params_before, result.params_after,
                         round(result.ratio, 6)])
    write_json(json_path, result.summary())
    return csv_path, json_path
