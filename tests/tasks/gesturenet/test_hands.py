"""The hand generator: "random" poses a person would not take for a gesture, users that
differ, and frames that depend on the seed alone."""

from __future__ import annotations

from collections import Counter

import numpy as np

from graft.tasks.gesturenet.hands import (
    CURLED,
    EXTENDED,
    POSES,
    RANDOM_MIN_FINGERS,
    RANDOM_POSES,
    User,
    pose_distance,
    pose_for,
)
from graft.tasks.gesturenet.synth import make_hands_dataset, render_frame


def test_every_random_pose_is_at_least_two_fingers_from_every_gesture():
    assert RANDOM_MIN_FINGERS >= 2
    for pose in RANDOM_POSES:
        for name, gesture in POSES.items():
            assert pose_distance(pose, gesture) >= RANDOM_MIN_FINGERS, (pose, name)


def test_the_distance_sees_near_gestures_that_random_must_not_hold():
    four = ((EXTENDED,) * 4, "across")  # "stop" with the thumb folded: thumb not counted
    pointing = ((EXTENDED, CURLED, CURLED, CURLED), "across")  # "fist" with the index out
    assert pose_distance(four, POSES["stop"]) == 0
    assert pose_distance(pointing, POSES["fist"]) == 1
    assert pose_distance(pointing, POSES["two"]) == 1
    assert pose_distance(POSES["stop"], POSES["fist"]) == 4


def test_random_draws_only_and_all_of_the_random_poses():
    rng = np.random.default_rng(0)
    drawn = Counter(RANDOM_POSES.index(pose_for("random", rng)) for _ in range(400))
    assert sorted(drawn) == list(range(len(RANDOM_POSES)))
    assert pose_for("stop", rng) == POSES["stop"]


def test_users_differ_in_build_skin_and_sleeve():
    users = [User.make(k, seed=1) for k in range(8)]
    assert len({u.user_id for u in users}) == 8
    assert len({u.skin for u in users}) == 8 and len({u.sleeve for u in users}) == 8
    lengths = [u.finger_length for u in users]
    assert max(lengths) - min(lengths) > 0.1
    assert User.make(3, seed=1) == users[3] and User.make(3, seed=2) != users[3]


def test_frames_depend_on_the_seed_alone():
    user = User.make(0, seed=0)

    def frame(seed: int) -> tuple[np.ndarray, list]:
        return render_frame((96, 72), user, 2, np.random.default_rng([seed, 0]),
                            labels=["random", "two"])

    (a, hands_a), (b, hands_b), (c, _) = frame(5), frame(5), frame(6)
    assert np.array_equal(a, b) and hands_a == hands_b
    assert not np.array_equal(a, c)


def test_the_dataset_is_the_same_for_the_same_seed(tmp_path):
    def files(out):
        make_hands_dataset(out, frames=4, users=2, val_users=1, size=(96, 72), max_hands=2,
                           seed=9)
        return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*"))
                if p.is_file()}

    assert files(tmp_path / "a") == files(tmp_path / "b")
