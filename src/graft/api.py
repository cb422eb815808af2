"""The Python API: ``graft.load(path)`` returns a :class:`GraftModel` ready to predict."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from graft import archive
from graft.errors import ArchiveError, UserError
from graft.manifest import Manifest
from graft.nn.surgery import apply_layer_shapes, pruned_layers, record_layer_shapes

if TYPE_CHECKING:
    from graft.tasks.base import Task


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_module(manifest: Manifest) -> nn.Module:
    """Rebuild the network described by a manifest (architecture + recorded layer shapes)."""
    from graft import tasks

    task = tasks.get(manifest.require_task())
    module = task.build_model(manifest.architecture)
    if manifest.layer_shapes:
        apply_layer_shapes(module, manifest.layer_shapes)
    if manifest.qat:  # fake-quant wrappers go on after the (possibly pruned) shapes
        from graft.optimize.quantize import prepare_qat

        prepare_qat(module)
    return module


class GraftModel:
    """A network together with its manifest: classes, input spec, training spec, metrics."""

    def __init__(self, module: nn.Module, manifest: Manifest | Mapping[str, Any]) -> None:
        self.module = module
        self.manifest = Manifest.of(manifest)

    @property
    def task(self) -> Task:
        from graft import tasks

        return tasks.get(self.manifest.require_task())

    @property
    def classes(self) -> list[str]:
        return list(self.manifest.classes)

    @property
    def num_params(self) -> int:
        return count_params(self.module)

    def predict(self, inputs: Any, **options: Any) -> Any:
        """Task-specific prediction on paths, PIL images, arrays or tensors."""
        return self.task.predict(self, inputs, **options)

    def to(self, device: str | torch.device) -> GraftModel:
        self.module.to(device)
        return self

    def save(self, path: str | Path, key: str | None = None) -> Manifest:
        """Write a ``.graft`` file (atomically); records the current layer shapes, params and
        provenance (graft version, creation time unless already set)."""
        from graft import __version__

        m = self.manifest
        created = m.provenance.created or _dt.datetime.now(_dt.timezone.utc).isoformat(
            timespec="seconds")
        manifest = m.updated(
            architecture={**m.architecture, "layer_shapes": record_layer_shapes(self.module)},
            params=self.num_params,
            provenance=m.provenance.model_copy(update={"graft_version": __version__,
                                                        "created": created}))
        stored = archive.save(path, self.module.state_dict(), manifest, key=key)
        self.manifest = Manifest.from_dict(stored)
        return self.manifest


def parse_manifest(data: Mapping[str, Any], path: str | Path) -> Manifest:
    """The typed manifest of a file, or a one-line :class:`ArchiveError` naming it."""
    try:
        return Manifest.from_dict(data)
    except ValueError as err:
        raise ArchiveError(f"{path} has a manifest graft cannot read ({err})",
                           "the file was written by an incompatible graft version") from None


def read(path: str | Path, key: str | None = None
         ) -> tuple[dict[str, torch.Tensor], Manifest]:
    """A ``.graft`` file's tensors and typed manifest (verified, older layouts migrated), with
    older files' layer names upgraded to today's by their task."""
    from graft import tasks

    tensors, raw = archive.load(path, key=key)
    manifest = parse_manifest(raw, path)
    if manifest.task in tasks.available():
        tensors, upgraded = tasks.get(manifest.task).upgrade_archive(tensors, manifest)
        manifest = Manifest.of(upgraded)  # a third-party hook may still return a dict
    return tensors, manifest


def read_manifest(path: str | Path, key: str | None = None) -> Manifest:
    """The typed manifest of a ``.graft`` file, without verifying or loading its weights."""
    return parse_manifest(archive.read_manifest(path, key), path)


def _build_checked(manifest: Manifest, path: str | Path,
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


def count_pruned_layers(manifest: Manifest, path: str | Path = "model") -> int:
    """Layers with fewer output channels than the stock architecture (0 for an unpruned model).

    The recorded count of a ``prune`` is used when present; otherwise (a pruned model retrained
    into a new file) the stock network is built, without weights, and compared."""
    if manifest.pruning is not None and manifest.pruning.layers_pruned is not None:
        return manifest.pruning.layers_pruned
    shapes = manifest.layer_shapes
    if not shapes:
        return 0

    def stock_of(m: Manifest) -> nn.Module:
        from graft import tasks

        with torch.device("meta"):  # shapes only: no memory, no initialization
            return tasks.get(m.require_task()).build_model(m.stock_architecture)

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
