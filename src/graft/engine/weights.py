"""Pretrained weights from every source a user may have: .graft, catalog, torchvision, raw files.

References accepted by ``pretrained_weights``:

- ``path/to/model.graft``: a graft model (its manifest can also supply the architecture);
- ``catalog:NAME[:VERSION]``: pulled from the model catalog and verified;
- ``torchvision:NAME``: torchvision weights, e.g. ``torchvision:ResNet18_Weights.IMAGENET1K_V1``
  or ``torchvision:resnet18`` for the default (uses torchvision's download cache);
- ``path/to/weights.safetensors`` or ``.pth``/``.pt``: a raw state dict (``weights_only=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graft.errors import UserError

_PREFIXES = ("module.", "net.", "model.", "_orig_mod.")


@dataclass
class Pretrained:
    state_dict: dict[str, torch.Tensor]
    manifest: dict[str, Any] | None = None
    source: str = ""


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    skipped_shape: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"loaded {len(self.loaded)} tensors, skipped {len(self.skipped_shape)} with other "
            f"shapes, {len(self.missing)} left at initialization"
        )


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


def resolve_pretrained(ref: str, key: str | None = None) -> Pretrained:
    """Read the weights behind a ``pretrained_weights`` reference."""
    if ref.startswith("torchvision:"):
        return Pretrained(_torchvision(ref.split(":", 1)[1]), None, ref)
    if ref.startswith("catalog:"):
        from graft.catalog import resolve

        ref_path = resolve(ref.split(":", 1)[1])
        return resolve_pretrained(str(ref_path), key)
    path = Path(ref)
    if not path.is_file():
        raise UserError(
            f"pretrained_weights not found: {ref}",
            "give a .graft/.safetensors/.pth file, catalog:NAME or torchvision:NAME",
        )
    from graft import archive

    if path.suffix == ".graft" or archive.is_encrypted(path):
        tensors, manifest = archive.load(path, key=key)
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


def load_matching(net: nn.Module, state_dict: dict[str, torch.Tensor]) -> LoadReport:
    """Copy every tensor whose name and shape match; report what was skipped (e.g. the head)."""
    own = net.state_dict()
    incoming = {_strip(k): v for k, v in state_dict.items()}
    report = LoadReport()
    matched: dict[str, torch.Tensor] = {}
    for name, tensor in own.items():
        src = incoming.get(name)
        if src is None:
            report.missing.append(name)
        elif tuple(src.shape) != tuple(tensor.shape):
            report.skipped_shape.append(name)
        else:
            matched[name] = src
            report.loaded.append(name)
    if not matched:
        raise UserError(
            "no pretrained tensor matches the network",
            "check that pretrained_weights belongs to the same architecture",
        )
    net.load_state_dict(matched, strict=False)
    return report
