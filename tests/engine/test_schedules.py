import math

import pytest

from graft.engine.config import LRScheduleSpec
from graft.engine.schedules import lr_factor


def test_soft_start_annealing_follows_tlt_shape():
    s = LRScheduleSpec(
        name="soft_start_annealing", learning_rate=2e-5, min_lr=8e-8, soft_start=0.05, annealing=0.5
    )
    floor = 8e-8 / 2e-5
    assert lr_factor(s, 0.0, 0) == pytest.approx(floor)
    assert lr_factor(s, 0.025, 0) == pytest.approx(math.sqrt(floor))  # geometric mid-ramp
    assert (
        lr_factor(s, 0.05, 0) == 1.0 and lr_factor(s, 0.3, 0) == 1.0 and lr_factor(s, 0.5, 0) == 1.0
    )
    assert lr_factor(s, 0.75, 0) == pytest.approx(math.sqrt(floor))
    assert lr_factor(s, 1.0, 0) == pytest.approx(floor)


def test_soft_anneal_divides_at_points():
    s = LRScheduleSpec(
        name="soft_anneal",
        learning_rate=0.1,
        soft_start=0.1,
        annealing_points=[0.3, 0.6],
        annealing_divider=10,
        min_lr=1e-6,
    )
    assert lr_factor(s, 0.2, 0) == 1.0
    assert lr_factor(s, 0.3, 0) == pytest.approx(0.1)
    assert lr_factor(s, 0.9, 0) == pytest.approx(0.01)


def test_step_and_cosine():
    step = LRScheduleSpec(name="step", step_size=2, gamma=0.5)
    assert [lr_factor(step, 0, e) for e in (0, 1.9, 2, 4.5)] == [1.0, 1.0, 0.5, 0.25]
    cos = LRScheduleSpec(name="cosine", learning_rate=1.0, min_lr=0.0, soft_start=0.0)
    assert lr_factor(cos, 0.0, 0) == pytest.approx(1.0) and lr_factor(cos, 0.5, 0) == pytest.approx(
        0.5
    )
    assert lr_factor(cos, 1.0, 0) == pytest.approx(0.0, abs=1e-9)


def test_annealing_must_follow_soft_start():
    with pytest.raises(ValueError, match="annealing must come after soft_start"):
        LRScheduleSpec(name="soft_start_annealing", soft_start=0.5, annealing=0.4)
