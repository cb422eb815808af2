"""The Python API: ``graft.load(path)`` returns a :class:`GraftModel` ready to predict."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graft import archive
from graft.errors import ArchiveError
from graft.nn.surgery import apply_layer_shapes, record_layer_shapes


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_module(manifest: dict[str, Any]) -> nn.Module:
    """Rebuild the network described by a manifest (architecture + recorded layer shapes)."""
    from graft import tasks

    task = tasks.get(manifest["task"])
    arch = manifest["architecture"]
    module = task.build_model(arch)
    if arch.get("layer_shapes"):
        apply_layer_shapes(module, arch["layer_shapes"])
    if arch.get("qat"):  # fake-quant wrappers go on after the (possibly pruned) shapes
        from graft.optimize.quantize import prepare_qat

        prepare_qat(module)
    return module


class GraftModel:
    """A network together with its manifest: classes, input spec, training spec, metrics."""

    def __init__(self, module: nn.Module, manifest: dict[str, Any]) -> None:
        self.module = module
        self.manifest = manifest

    @property
    def task(self):
        from graft import tasks

        return tasks.get(self.manifest["task"])

    @property
    def classes(self) -> list[str]:
        return list(self.manifest.get("classes", []))

    @property
    def num_params(self) -> int:
        return count_params(self.module)

    def predict(self, inputs: Any, **options: Any) -> Any:
        """Task-specific prediction on paths, PIL images, arrays or tensors."""
        return self.task.predict(self, inputs, **options)

    def to(self, device: str | torch.device) -> GraftModel:
        self.module.to(device)
        return self

    def save(self, path: str | Path, key: str | None = None) -> dict[str, Any]:
        """Write a ``.graft`` file (atomically); records the current layer shapes and params."""
        from graft import __version__

        manifest = dict(self.manifest)
        arch = dict(manifest.get("architecture", {}))
        arch["layer_shapes"] = record_layer_shapes(self.module)
        manifest["architecture"] = arch
        manifest["params"] = self.num_params
        manifest["graft_version"] = __version__
        manifest.setdefault(
            "created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        )
        self.manifest = archive.save(path, self.module.state_dict(), manifest, key=key)
        return self.manifest


def read(path: str | Path, key: str | None = None
         ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A ``.graft`` file's tensors and manifest (verified), with older files' layer names
    upgraded to today's by their task."""
    from graft import tasks

    tensors, manifest = archive.load(path, key=key)
    if manifest.get("task") in tasks.available():
        tensors, manifest = tasks.get(manifest["task"]).upgrade_archive(tensors, manifest)
    return tensors, manifest


def load(
    path: str | Path, key: str | None = None, device: str | torch.device = "cpu"
) -> GraftModel:
    """Load a ``.graft`` file (decrypting with ``key`` if needed) into an eval-mode model."""
    tensors, manifest = read(path, key=key)
    module = build_module(manifest)
    try:
        missing, unexpected = module.load_state_dict(tensors, strict=False)
    except RuntimeError as err:  # a tensor's shape differs from the rebuilt layer's
        detail = next((line.strip() for line in str(err).splitlines()
                       if "size mismatch" in line), str(err).splitlines()[0])
        raise ArchiveError(f"{path} does not match its architecture ({detail})",
                           "the file was written by an incompatible graft version") from None
    if missing or unexpected:
        raise ArchiveError(
            f"{path} does not match its architecture (missing {len(missing)}, unexpected "
            f"{len(unexpected)} tensors, e.g. {(missing or unexpected)[0]!r})",
            "the file was written by an incompatible graft version",
        )
    module.eval().to(device)
    return GraftModel(module, manifest)
