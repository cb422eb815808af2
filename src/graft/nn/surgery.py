"""Record and re-apply per-layer shapes, so a pruned model rebuilds from its JSON manifest.

Pruning changes channel counts inside a network built by a task's ``build_model``. Instead of
pickling the pruned module, the manifest stores the shape of every conv, linear and norm layer;
loading builds the stock architecture and swaps in layers of the recorded sizes before the
weights are loaded.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from graft.errors import ArchiveError

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _frozen_bn() -> type[nn.Module]:
    """torchvision's FrozenBatchNorm2d (detection backbones): BN statistics as buffers, with
    no ``num_features`` attribute (its size is its weight's)."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    return FrozenBatchNorm2d


def record_layer_shapes(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Shapes of every conv/linear/batch-norm (frozen too)/group-norm layer, keyed by name."""
    shapes: dict[str, dict[str, Any]] = {}
    frozen = _frozen_bn()
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Conv1d):
            shapes[name] = {"in": m.in_channels, "out": m.out_channels, "groups": m.groups}
        elif isinstance(m, nn.Linear):
            shapes[name] = {"in": m.in_features, "out": m.out_features}
        elif isinstance(m, _NORMS):
            shapes[name] = {"features": m.num_features}
        elif isinstance(m, frozen):
            shapes[name] = {"features": int(m.weight.numel())}
        elif isinstance(m, nn.GroupNorm):
            shapes[name] = {"features": m.num_channels, "groups": m.num_groups}
    return shapes


def _rebuilt(m: nn.Module, s: dict[str, Any]) -> nn.Module | None:
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Conv1d):
        if (m.in_channels, m.out_channels, m.groups) == (s["in"], s["out"], s["groups"]):
            return None
        kwargs = dict(
            kernel_size=m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
            groups=s["groups"],
            bias=m.bias is not None,
            padding_mode=m.padding_mode,
        )
        if isinstance(m, nn.ConvTranspose2d):
            kwargs["output_padding"] = m.output_padding
        return type(m)(s["in"], s["out"], **kwargs)
    if isinstance(m, nn.Linear):
        if (m.in_features, m.out_features) == (s["in"], s["out"]):
            return None
        return nn.Linear(s["in"], s["out"], bias=m.bias is not None)
    if isinstance(m, _NORMS):
        if m.num_features == s["features"]:
            return None
        return type(m)(
            s["features"],
            eps=m.eps,
            momentum=m.momentum,
            affine=m.affine,
            track_running_stats=m.track_running_stats,
        )
    if isinstance(m, frozen := _frozen_bn()):
        if int(m.weight.numel()) == s["features"]:
            return None
        return frozen(s["features"], eps=m.eps)
    if isinstance(m, nn.GroupNorm):
        if (m.num_channels, m.num_groups) == (s["features"], s["groups"]):
            return None
        return nn.GroupNorm(s["groups"], s["features"], eps=m.eps, affine=m.affine)
    return None


def pruned_layers(stock: dict[str, dict[str, Any]],
                  shapes: dict[str, dict[str, Any]]) -> list[str]:
    """Conv and linear layers with fewer output channels than the stock architecture's."""
    return [name for name, s in shapes.items()
            if isinstance(s, dict) and "out" in s and "out" in stock.get(name, {})
            and s["out"] < stock[name]["out"]]


_MISMATCH_FIX = "the model file was written for another architecture or graft version"


def apply_layer_shapes(model: nn.Module, shapes: dict[str, dict[str, Any]]) -> nn.Module:
    """Replace layers whose recorded shape differs from the freshly built one (in place).

    Raises :class:`ArchiveError` (one line) when a recorded layer is not in ``model`` or its
    record does not fit the layer's type: the manifest belongs to another architecture."""
    if not isinstance(shapes, dict):
        raise ArchiveError("the manifest's layer_shapes is not a mapping", _MISMATCH_FIX)
    modules = dict(model.named_modules())
    for name, s in shapes.items():
        m = modules.get(name)
        if m is None:
            raise ArchiveError(f"layer {name!r} of the manifest's layer_shapes is not in the "
                               f"{type(model).__name__} network", _MISMATCH_FIX)
        try:
            new = _rebuilt(m, s)
        except (KeyError, TypeError, ValueError) as err:
            raise ArchiveError(f"the recorded shape of layer {name!r} ({s!r}) does not fit "
                               f"its {type(m).__name__} ({type(err).__name__}: {err})",
                               _MISMATCH_FIX) from None
        if new is None:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = modules[parent_name] if parent_name else model
        setattr(parent, child, new)
    return model
