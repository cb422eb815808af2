"""The one way graft builds a DataLoader, so every task loads alike: with worker processes,
they persist between epochs (no re-fork and dataset copy every epoch) and each keeps
:data:`PREFETCH` batches in flight; batches go to pinned memory when CUDA is present.

The spec's worker count is used as given, even above the machine's CPU count (PyTorch then
warns): each worker draws the random augmentations of the batches it loads, so the count
shapes the training stream, and capping it per machine would make one spec and seed train
differently on a laptop and a workstation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

PREFETCH = 4


def make_loader(dataset: Dataset, batch_size: int, *, workers: int, shuffle: bool = False,
                collate_fn: Callable[[list[Any]], Any] | None = None,
                drop_last: bool = False) -> DataLoader:
    """A DataLoader with the module docstring's conventions."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      collate_fn=collate_fn, num_workers=workers, persistent_workers=workers > 0,
                      prefetch_factor=PREFETCH if workers else None,
                      pin_memory=torch.cuda.is_available())
