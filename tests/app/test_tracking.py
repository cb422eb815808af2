"""ByteTrack ids per box and the per-track gesture memory (smoothing, interval, forgetting)."""

from __future__ import annotations

import numpy as np
import pytest

from graft.app.tracking import HandTracker, TrackLabels
from graft.errors import UserError


def test_two_moving_hands_keep_their_ids_in_any_input_order() -> None:
    tracker = HandTracker()
    ids = []
    for f in range(12):
        a = [10 + 3 * f, 20, 60 + 3 * f, 80]
        b = [300 - 2 * f, 200, 360 - 2 * f, 270]
        boxes = np.array([a, b] if f % 2 == 0 else [b, a], float)
        got = tracker.update(boxes, np.array([0.9, 0.8]))
        ids.append(tuple(got) if f % 2 == 0 else tuple(got[::-1]))
    assert ids[0] == (-1, -1)  # a track is confirmed on its second frame
    confirmed = set(ids[1:])
    assert len(confirmed) == 1
    a_id, b_id = confirmed.pop()
    assert a_id >= 0 and b_id >= 0 and a_id != b_id


def test_no_detections_gives_no_ids() -> None:
    assert HandTracker().update(np.zeros((0, 4)), np.zeros(0)).shape == (0,)


def probs(k: int, p: float = 0.8, n: int = 3) -> np.ndarray:
    v = np.full(n, (1 - p) / (n - 1))
    v[k] = p
    return v


def test_majority_and_mean_smoothing() -> None:
    maj = TrackLabels(window=3, smoothing="majority")
    mean = TrackLabels(window=3, smoothing="mean")
    history = [probs(0, 0.55), probs(0, 0.55), probs(1, 0.99)]
    for f, p in enumerate(history):
        maj.add(7, p, f)
        mean.add(7, p, f)
    k, conf, _ = maj.label(7)
    assert k == 0 and conf == pytest.approx((0.55 + 0.55 + 0.005) / 3, abs=1e-6)
    assert mean.label(7)[0] == 1  # the confident vote wins the mean
    for f in range(3, 6):  # the window forgets the old frames
        maj.add(7, probs(2), f)
    assert maj.label(7)[0] == 2
    assert maj.label(99) is None


def test_classify_every_n_frames_and_untracked_always() -> None:
    labels = TrackLabels(every=3)
    assert labels.due(1, 0)
    labels.add(1, probs(0), 0)
    assert [labels.due(1, f) for f in (1, 2, 3)] == [False, False, True]
    assert labels.due(-1, 1)
    labels.add(-1, probs(0), 1)  # untracked boxes leave no memory
    assert len(labels) == 1


def test_tracks_gone_for_max_age_are_forgotten() -> None:
    labels = TrackLabels(max_age=10)
    for tid in range(100):
        labels.add(tid, probs(0), tid)
        labels.seen([tid], tid)
    assert len(labels) == 11  # only those seen in the last 10 frames


def test_bad_settings() -> None:
    with pytest.raises(UserError):
        TrackLabels(window=0)
    with pytest.raises(UserError):
        TrackLabels(smoothing="median")  # type: ignore[arg-type]
