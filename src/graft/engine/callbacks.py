"""Callbacks: RNG state in checkpoints, metrics as JSON lines, the exception that ended a fit."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback


class RngStateCallback(Callback):
    """Stores Python, NumPy and torch RNG states in checkpoints so a resumed run continues the
    same random stream. Only plain types and tensors: loadable with ``weights_only=True``."""

    def state_dict(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        py_state = random.getstate()
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
            "python": [py_state[0], list(py_state[1]), py_state[2]],
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        kind, keys, *rest = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class JsonlMetricsLogger(Callback):
    """Appends one JSON line per epoch (train and validation metrics) to ``metrics.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _write(self, trainer: L.Trainer, phase: str) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        row: dict[str, Any] = {
            "phase": phase,
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
        }
        for k, v in trainer.callback_metrics.items():
            if k.startswith("train/" if phase == "train" else "val/"):
                row[k] = float(v)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, "train")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """After the module's own ``on_validation_epoch_end`` (Lightning calls callbacks'
        epoch-end hooks first), so a metric computed over the whole epoch there (an mAP) lands
        in this epoch's row, not the next one's."""
        self._write(trainer, "val")


class ExceptionRecorder(Callback):
    """Keeps the exception that ended a fit: Lightning turns Ctrl-C into ``sys.exit(1)``, so this
    is the only way to tell an interrupt from a failure afterwards."""

    def __init__(self) -> None:
        self.exception: BaseException | None = None

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule,
                     exception: BaseException) -> None:
        self.exception = exception
