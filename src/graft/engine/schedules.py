"""Learning-rate schedules as a factor of the peak rate, evaluated per optimizer step."""

from __future__ import annotations

import math

from graft.engine.config import LRScheduleSpec


def _soft_start(spec: LRScheduleSpec, progress: float) -> float | None:
    """Exponential ramp from ``min_lr`` to the peak over the first ``soft_start`` of training."""
    if spec.soft_start <= 0.0 or progress >= spec.soft_start:
        return None
    floor = max(spec.min_lr, 1e-12) / spec.learning_rate
    return floor ** (1.0 - progress / spec.soft_start)


def lr_factor(spec: LRScheduleSpec, progress: float, epoch: float) -> float:
    """Multiplier of ``spec.learning_rate`` at ``progress`` in [0, 1] (epoch for step schedules)."""
    progress = min(max(progress, 0.0), 1.0)
    floor = max(spec.min_lr, 1e-12) / spec.learning_rate
    if spec.name == "constant":
        return 1.0
    if spec.name == "step":
        return spec.gamma ** math.floor(epoch / spec.step_size)
    warm = _soft_start(spec, progress)
    if warm is not None:
        return warm
    if spec.name == "soft_start_annealing":
        if progress <= spec.annealing:
            return 1.0
        t = (progress - spec.annealing) / (1.0 - spec.annealing)
        return floor**t
    if spec.name == "soft_anneal":
        passed = sum(1 for p in spec.annealing_points if progress >= p)
        return max(spec.annealing_divider ** (-passed), floor)
    # cosine decay to min_lr after the soft start
    start = spec.soft_start
    t = (progress - start) / max(1.0 - start, 1e-12)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
