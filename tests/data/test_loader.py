"""The shared DataLoader conventions every task's loaders go through."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from graft.data.loader import PREFETCH, make_loader


def test_workers_persist_and_prefetch() -> None:
    data = TensorDataset(torch.arange(10.0))
    loader = make_loader(data, 4, workers=1, drop_last=True)
    assert loader.persistent_workers and loader.prefetch_factor == PREFETCH
    assert [b[0].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert loader.pin_memory == torch.cuda.is_available()


def test_no_workers_loads_in_process_with_the_given_collate() -> None:
    data = TensorDataset(torch.arange(5.0))
    loader = make_loader(data, 2, workers=0, collate_fn=lambda items: len(items))
    assert not loader.persistent_workers and loader.prefetch_factor is None
    assert list(loader) == [2, 2, 1]


def test_the_spec_worker_count_is_kept_above_the_cpu_count() -> None:
    # the count shapes the augmentation stream: one spec trains alike on any machine
    assert make_loader(TensorDataset(torch.zeros(2)), 1, workers=64).num_workers == 64
