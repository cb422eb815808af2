"""Training checkpoints: which are kept, how they are written and read back.

A results dir keeps ``last.ckpt`` (the resume point, written after every epoch), ``best.ckpt``
(the best monitored score; only when the run validates) and the ``keep_checkpoints`` most recent
``epoch=NNN.ckpt`` files (one every ``checkpoint_interval`` epochs); older ones are deleted.

Checkpoints are Lightning's ``torch.save`` files: they are read back only with
``weights_only=True`` (tensors and plain types, no code), written atomically (a run killed while
saving never leaves a truncated file), and encrypted with the model's key when one is given,
using the scheme of :mod:`graft.archive`, so ``-k`` protects the weights at rest in every file.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from graft import archive
from graft.engine.config import TrainerSpec
from graft.errors import UserError
from graft.fsutil import atomic_path, write_bytes

LAST = "last"
BEST = "best"
SUFFIX = ".ckpt"

OnSaved = Callable[[Path, dict[str, Any]], None]


def read_checkpoint(path: str | Path, key: str | None = None,
                    map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint's content (decrypted with ``key`` if it is encrypted), ``weights_only``."""
    p = Path(path)
    if not archive.is_encrypted(p):
        return torch.load(p, map_location=map_location, weights_only=True)
    if not key:
        raise UserError(f"checkpoint {p} is encrypted", "pass the run's key with -k/--key")
    plain = archive.decrypt_bytes(p.read_bytes(), key, p)
    return torch.load(io.BytesIO(plain), map_location=map_location, weights_only=True)


def load_checkpoint_weights(module: torch.nn.Module, path: str | Path,
                            key: str | None = None) -> None:
    """Load a checkpoint's model weights into ``module``."""
    module.load_state_dict(read_checkpoint(path, key)["state_dict"])


class GraftCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O: atomic writes, encryption with ``key``, a hook after each save.

    Lightning calls it on the global-zero process only; ``on_saved`` lets the run record its
    progress (and drop a run replaced by ``--force`` once the new one has a checkpoint).
    """

    def __init__(self, key: str | None = None, on_saved: OnSaved | None = None) -> None:
        super().__init__()
        self.key = key
        self.on_saved = on_saved

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any | None = None) -> None:
        target = Path(path)
        if self.key:
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            write_bytes(target, archive.encrypt_bytes(buffer.getvalue(), self.key))
        else:
            with atomic_path(target) as tmp:
                torch.save(checkpoint, tmp)
        if self.on_saved is not None:
            self.on_saved(target, checkpoint)

    def load_checkpoint(self, path: Any, map_location: Any = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        return read_checkpoint(path, self.key, map_location or "cpu")


class BestCheckpoint(ModelCheckpoint):
    """``best.ckpt``: the best monitored score. With ``scored`` (the end-of-epoch evaluation's
    "did it run this epoch"), epochs without a fresh score are skipped: Lightning would otherwise
    refuse a missing metric, or compare the last evaluation's value again."""

    def __init__(self, *, scored: Callable[[L.Trainer], bool] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scored = scored

    @property
    def state_key(self) -> str:
        """As a plain ``ModelCheckpoint``'s: runs checkpointed before this class resume."""
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.scored is None or self.scored(trainer):  # the same answer on every rank
            super().on_validation_end(trainer, pl_module)


def checkpoint_callbacks(ckpt_dir: Path, trainer: TrainerSpec, monitor: str, mode: str,
                         validates: bool, scored: Callable[[L.Trainer], bool] | None = None
                         ) -> tuple[ModelCheckpoint | None, list[L.Callback]]:
    """The best-model callback (None without validation) and every checkpoint callback.

    Order matters: ``last.ckpt`` is written after the epoch history and the best model have
    been updated, so a resumed run knows which files it already keeps.
    """
    history: list[L.Callback] = []
    if trainer.keep_checkpoints != 0:
        history.append(ModelCheckpoint(
            dirpath=ckpt_dir, filename="epoch={epoch:03d}", auto_insert_metric_name=False,
            monitor="epoch", mode="max", save_top_k=trainer.keep_checkpoints,
            every_n_epochs=trainer.checkpoint_interval, save_on_train_epoch_end=True,
            enable_version_counter=False))
    best = BestCheckpoint(
        dirpath=ckpt_dir, filename=BEST, monitor=monitor, mode=mode, save_top_k=1,
        auto_insert_metric_name=False, enable_version_counter=False,
        save_on_train_epoch_end=False, scored=scored) if validates else None
    last = ModelCheckpoint(
        dirpath=ckpt_dir, filename=LAST, save_top_k=1, every_n_epochs=1,
        save_on_train_epoch_end=True, enable_version_counter=False)
    return best, [*history, *([best] if best else []), last]
