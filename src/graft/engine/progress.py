"""Training progress for logs and pipes: whole lines, never a redrawn bar.

Lightning's rich progress bar redraws one region in a terminal; written to a file or a pipe
(``graft ... > train.log``, CI, ``nohup``) each epoch's final frame lands there with its
metrics column hard-wrapped over several lines, which nobody can grep. When the output is not a
terminal, :class:`LineProgress` prints instead one line per training epoch (steps, seconds,
seconds per step, the epoch's train and validation metrics) and, inside a long epoch, one line
per ``every_s`` seconds, so a log still shows that training moves.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar

from graft.console import console


def metrics_text(metrics: dict[str, Any], prefixes: tuple[str, ...], within_epoch: bool = False
                 ) -> str:
    """``name value`` pairs of the metrics starting with one of ``prefixes``, name-sorted.

    Within an epoch only the step values (``*_step``) are current: everything else still holds
    the previous epoch's means. At an epoch's end the step values are left out (the means say
    more) and so is ``x`` when ``x_epoch`` exists (Lightning logs both for one value)."""
    keys = [k for k in metrics if k.startswith(prefixes)]
    if within_epoch:
        keys = [k for k in keys if k.endswith("_step")]
    else:
        keys = [k for k in keys if not k.endswith("_step") and f"{k}_epoch" not in metrics]
    return ", ".join(f"{k} {float(metrics[k]):.4g}" for k in sorted(keys))


def epoch_line(epoch: int, epochs: int, steps: int, seconds: float,
               metrics: dict[str, Any]) -> str:
    """``epoch 3/6: 60 steps in 87 s (1.45 s/step); train/loss_epoch 1.6, val/segm_AP 0.12``
    (epochs counted from 1, as people count them)."""
    rate = f" ({seconds / steps:.2f} s/step)" if steps else ""
    text = metrics_text(metrics, ("train/", "val/"))
    return f"epoch {epoch + 1}/{epochs}: {steps} steps in {seconds:.0f} s{rate}" + (
        f"; {text}" if text else "")


class LineProgress(ProgressBar):
    """Lightning's progress bar slot filled with whole lines (see the module docstring)."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._enabled = True
        self._epoch_start = self._last_line = 0.0
        self._steps = 0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = self._last_line = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self._steps += 1
        now = time.perf_counter()
        if not self._enabled or now - self._last_line < self.every_s:
            return
        self._last_line = now
        total = self.total_train_batches
        of = f"/{int(total)}" if float(total) != float("inf") else ""
        loss = metrics_text(trainer.callback_metrics, ("train/",), within_epoch=True)
        console.print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: step "
                      f"{batch_idx + 1}{of}, {now - self._epoch_start:.0f} s"
                      + (f"; {loss}" if loss else ""), highlight=False)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._enabled or not trainer.is_global_zero:
            return
        console.print(epoch_line(trainer.current_epoch, int(trainer.max_epochs or 0),
                                 self._steps, time.perf_counter() - self._epoch_start,
                                 dict(trainer.callback_metrics)), highlight=False)


def progress_bar() -> ProgressBar:
    """Lightning's rich bar in a terminal, :class:`LineProgress` in a pipe or log file."""
    if console.is_terminal:
        from lightning.pytorch.callbacks import RichProgressBar

        return RichProgressBar(leave=True)
    return LineProgress()
