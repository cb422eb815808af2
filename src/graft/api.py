"""The Python API: ``graft.load(path)`` returns a :class:`GraftModel` ready to predict."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graft import archive
from graft.errors import ArchiveError, UserError
from graft.nn.surgery import apply_layer_shapes, pruned_layers, record_layer_shapes


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


def _build_checked(manifest: dict[str, Any], path: str | Path,
                   build=build_module) -> nn.Module:
    """``build(manifest)``, with any way a manifest can miss its architecture as one line."""
    try:
        return build(manifest)
    except UserError as err:  # unknown task, a layer the architecture lacks, ...
        raise ArchiveError(f"{path}: {err.problem}", err.fix) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        detail = f"missing {err}" if isinstance(err, KeyError) else f"{type(err).__name__}: " + (
            str(err).strip().splitlines() or [""])[0][:200]
        raise ArchiveError(f"{path} has a manifest that does not describe a network graft can "
                           f"build ({detail})",
                           "the file was written by an incompatible graft version") from None


def count_pruned_layers(manifest: dict[str, Any], path: str | Path = "model") -> int:
    """Layers with fewer output channels than the stock architecture (0 for an unpruned model).

    The recorded count of a ``prune`` is used when present; otherwise (a pruned model retrained
    into a new file) the stock network is built, without weights, and compared."""
    recorded = (manifest.get("pruning") or {}).get("layers_pruned")
    if isinstance(recorded, int):
        return recorded
    arch = manifest.get("architecture") or {}
    shapes = arch.get("layer_shapes") if isinstance(arch, dict) else None
    if not shapes:
        return 0

    def stock_of(m: dict[str, Any]) -> nn.Module:
        from graft import tasks

        with torch.device("meta"):  # shapes only: no memory, no initialization
            return tasks.get(m["task"]).build_model(
                {k: v for k, v in m["architecture"].items() if k != "layer_shapes"})

    return len(pruned_layers(record_layer_shapes(_build_checked(manifest, path, stock_of)),
                             shapes))


def load(
    path: str | Path, key: str | None = None, device: str | torch.device = "cpu"
) -> GraftModel:
    """Load a ``.graft`` file (decrypting with ``key`` if needed) into an eval-mode model."""
    tensors, manifest = read(path, key=key)
    module = _build_checked(manifest, path)
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
