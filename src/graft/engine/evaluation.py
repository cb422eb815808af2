"""End-of-epoch evaluation: a task's real metric on the validation set picks the best model.

The validation loss says little about what a user measures (top-1, keypoint AP, mAP), and a
batch-averaged metric under DDP counts the samples the distributed sampler repeats to even out
the ranks. A task that can do better hands the train driver an :class:`EpochEvaluation`:

1. ``reset`` before a validation epoch it is due in (every ``every_n_epochs`` epochs and the
   last one: a slow metric need not run every epoch);
2. ``update(outputs, batch)`` with what each ``validation_step`` returned, on every rank;
3. ``local_state(module, rank, world_size)``: this rank's share, picklable (per-sample hits,
   the predictions of its slice of the images, ...);
4. every rank's share is gathered to every rank (:func:`gather`, ``all_gather_object``) and
   ``reduce(states)`` turns them into metrics, identical on all ranks, logged at epoch end
   (so they land in ``metrics.jsonl``, TensorBoard and the checkpoint's score).

The best checkpoint follows the task's ``monitor`` (name and mode, e.g. ``val/acc``, max);
epochs the evaluation skips are not compared (:class:`~graft.engine.checkpoints.BestCheckpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import lightning as L
from lightning.pytorch.callbacks import Callback


@dataclass(frozen=True)
class Monitor:
    """The logged metric that picks the best checkpoint, and which way is better."""

    name: str
    mode: Literal["min", "max"]


class EpochEvaluation:
    """A task's metric over the whole validation set; see the module docstring."""

    monitor: Monitor
    every_n_epochs: int = 1

    def reset(self) -> None:
        """Forget the last epoch's results."""

    def update(self, outputs: Any, batch: Any) -> None:
        """One validation batch on this rank: ``outputs`` is what ``validation_step`` returned.
        Tasks that evaluate outside the validation loop (on the original images) ignore it."""

    def local_state(self, module: L.LightningModule, rank: int, world_size: int) -> Any:
        """This rank's part of the result, picklable (it travels to every other rank)."""
        raise NotImplementedError

    def reduce(self, states: list[Any]) -> dict[str, float]:
        """Every rank's part, in rank order -> metrics (``monitor.name`` among them)."""
        raise NotImplementedError

    def due(self, epoch: int, max_epochs: int | None) -> bool:
        """Whether the 0-based ``epoch`` is evaluated: every ``every_n_epochs``-th and the last."""
        last = max_epochs is not None and epoch + 1 >= max_epochs
        return last or (epoch + 1) % max(self.every_n_epochs, 1) == 0


def gather(state: Any, world_size: int) -> list[Any]:
    """Every rank's ``state`` in rank order, on every rank; ``[state]`` in a single process."""
    import torch.distributed as dist

    if world_size <= 1 or not (dist.is_available() and dist.is_initialized()):
        return [state]
    states: list[Any] = [None] * world_size
    dist.all_gather_object(states, state)
    return states


def in_sampler_order(parts: list[list[Any]], n: int) -> list[Any]:
    """Per-sample results of ``len(parts)`` ranks back in dataset order, without the repeats.

    Lightning gives each rank of a validation run a ``DistributedSampler`` (no shuffling), which
    pads the dataset to a multiple of the world size with its first samples and deals them out
    round robin: rank ``r``'s ``i``-th sample is sample ``r + i * world_size``. Positions at or
    past ``n`` (the dataset's length) are those repeats and are dropped.
    """
    world = len(parts)
    out: list[Any] = [None] * n
    for rank, part in enumerate(parts):
        for i, value in enumerate(part):
            position = rank + i * world
            if position < n:
                out[position] = value
    missing = sum(v is None for v in out)
    if missing:
        raise ValueError(f"{missing} of {n} validation samples have no result: the ranks did "
                         "not see the whole validation set")
    return out


class EvaluationCallback(Callback):
    """Runs an :class:`EpochEvaluation` at the end of the validation epochs it is due in."""

    def __init__(self, evaluation: EpochEvaluation) -> None:
        self.evaluation = evaluation
        self.active = False
        self.evaluated_epoch: int | None = None  # the last epoch that logged the metrics

    def ran_this_epoch(self, trainer: L.Trainer) -> bool:
        return self.evaluated_epoch == trainer.current_epoch

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule
                                  ) -> None:
        self.active = not trainer.sanity_checking and self.evaluation.due(
            trainer.current_epoch, trainer.max_epochs)
        if self.active:
            self.evaluation.reset()

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        if self.active:
            self.evaluation.update(outputs, batch)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.active:
            return
        world = trainer.world_size
        states = gather(self.evaluation.local_state(pl_module, trainer.global_rank, world), world)
        metrics = self.evaluation.reduce(states)
        monitor = self.evaluation.monitor.name
        for name, value in metrics.items():  # the same values on every rank: no sync
            pl_module.log(name, float(value), prog_bar=name == monitor, sync_dist=False)
        self.evaluated_epoch = trainer.current_epoch
        self.active = False
