"""The end-of-epoch evaluation: per-sample results come back in dataset order without the
distributed sampler's repeats, and the best checkpoint follows the evaluation's metric, skipping
the epochs it does not run in. (Gathering across two processes: tests/engine/test_ddp.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from graft.engine.checkpoints import read_checkpoint
from graft.engine.config import LRScheduleSpec, OptimizerSpec, RegularizerSpec, TrainerSpec
from graft.engine.evaluation import EpochEvaluation, Monitor, gather, in_sampler_order
from graft.engine.fit import Launch, fit
from graft.engine.module import GraftModule


@pytest.mark.parametrize(("n", "world"), [(9, 2), (10, 2), (7, 3), (5, 4), (1, 2), (6, 1)])
def test_results_return_in_dataset_order_without_the_samplers_repeats(n: int,
                                                                       world: int) -> None:
    parts = [[int(i) for i in DistributedSampler(range(n), num_replicas=world, rank=r,
                                                 shuffle=False)] for r in range(world)]
    assert sum(map(len, parts)) >= n  # the sampler pads with repeats
    assert in_sampler_order(parts, n) == list(range(n))


def test_a_missing_sample_is_an_error_not_a_silent_gap() -> None:
    with pytest.raises(ValueError, match="1 of 5 validation samples"):
        in_sampler_order([[0, 2], [1, 3]], 5)


def test_a_single_process_gathers_its_own_state() -> None:
    assert gather({"alone": True}, 1) == [{"alone": True}]  # two ranks: tests/engine/test_ddp.py


class Scripted(EpochEvaluation):
    """A metric that follows a script, per epoch; records what it saw."""

    monitor = Monitor("val/score", "max")

    def __init__(self, scores: dict[int, float], every: int) -> None:
        self.scores, self.every_n_epochs = scores, every
        self.batches = 0
        self.epoch = -1
        self.evaluated: list[int] = []

    def reset(self) -> None:
        self.batches = 0

    def update(self, outputs: Any, batch: Any) -> None:
        assert outputs["n"] == batch[0].shape[0]
        self.batches += 1

    def local_state(self, module: L.LightningModule, rank: int, world_size: int) -> Any:
        self.epoch = module.current_epoch
        return {"batches": self.batches}

    def reduce(self, states: list[Any]) -> dict[str, float]:
        assert states == [{"batches": 2}]
        self.evaluated.append(self.epoch)
        return {"val/score": self.scores[self.epoch], "val/other": -1.0}


class Tiny(GraftModule):
    def __init__(self) -> None:
        super().__init__(nn.Linear(4, 1), OptimizerSpec(), LRScheduleSpec(),
                         RegularizerSpec(type="none"))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.net(batch[0]).square().mean()

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, int]:
        self.log("val/loss", self.net(batch[0]).square().mean())
        return {"n": batch[0].shape[0]}


class Data(L.LightningDataModule):
    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=4)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(6, 4)), batch_size=3)


def test_the_best_checkpoint_follows_the_evaluation_and_skips_epochs_without_it(
        tmp_path: Path) -> None:
    # evaluated after epochs 1, 3 and 4 (every 2nd and the last); epoch 3 is the best
    evaluation = Scripted({1: 0.5, 3: 0.9, 4: 0.7}, every=2)
    result = fit(Tiny(), Data(), trainer=TrainerSpec(epochs=5, precision="32", seed=1,
                                                   channels_last=False, keep_checkpoints=0),
                 results_dir=tmp_path, monitor="val/score", mode="max",
                 launch=Launch(accelerator="cpu", progress=False), evaluation=evaluation)
    assert evaluation.evaluated == [1, 3, 4]
    assert result.best_score == pytest.approx(0.9)
    assert read_checkpoint(result.best_checkpoint)["epoch"] == 3
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    scored = {r["epoch"]: r["val/score"] for r in rows if r["phase"] == "val" and
              "val/score" in r and r["epoch"] in (1, 3, 4)}
    assert scored == pytest.approx({1: 0.5, 3: 0.9, 4: 0.7})
    assert all("val/loss" in r for r in rows if r["phase"] == "val")
