"""The batched torch label processor makes the NumPy encoder's targets (CPU device here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graft.tasks.bpnet.device_targets import BatchTargetEncoder, pad_keypoints
from graft.tasks.bpnet.encoder import TargetEncoder
from graft.tasks.bpnet.pose_config import PoseConfig


def random_people(rng: np.random.Generator, n: int, size: tuple[int, int]) -> np.ndarray:
    """(n, 18, 3) keypoints, some outside the image, some unlabeled, a zero-length limb."""
    h, w = size
    kps = np.zeros((n, 18, 3), np.float32)
    kps[..., 0] = rng.uniform(-10, w + 10, (n, 18))
    kps[..., 1] = rng.uniform(-10, h + 10, (n, 18))
    kps[..., 2] = rng.choice([0, 1, 2], (n, 18), p=[0.2, 0.3, 0.5])
    if n:
        kps[0, 2, :2] = kps[0, 1, :2]  # a zero-length limb (neck -> shoulder)
        kps[0, [1, 2], 2] = 2
    return kps


@pytest.mark.parametrize("size,stride", [((64, 96), 8), ((48, 40), 4)])
def test_same_targets_as_numpy_encoder(size, stride):
    pose = PoseConfig()
    enc = TargetEncoder.from_config(pose, size, stride)
    rng = np.random.default_rng(0)
    people = [random_people(rng, n, size) for n in (0, 1, 3, 7)]
    heat, paf = BatchTargetEncoder.from_encoder(enc)(pad_keypoints(people, pose.num_joints))
    assert heat.shape == (4, pose.num_joints + 1, *enc.target_size)
    assert paf.shape == (4, 2 * len(pose.limbs), *enc.target_size)
    for i, kps in enumerate(people):
        want_heat, want_paf = enc(kps)
        np.testing.assert_allclose(heat[i].numpy(), want_heat, atol=1e-5)
        np.testing.assert_allclose(paf[i].numpy(), want_paf, atol=1e-5)
    assert paf.abs().sum() > 0 and heat[:, :-1].sum() > 0


def test_person_chunks_give_the_same_maps(monkeypatch):
    import graft.tasks.bpnet.device_targets as dt

    pose = PoseConfig()
    enc = BatchTargetEncoder.from_encoder(TargetEncoder.from_config(pose, (32, 32), 8))
    kps = pad_keypoints([random_people(np.random.default_rng(1), 5, (32, 32))], 18)
    whole = enc(kps)
    monkeypatch.setattr(dt, "_MAX_BLOCK", 1)  # one person per chunk
    for a, b in zip(whole, enc(kps), strict=True):
        torch.testing.assert_close(a, b)


def test_wrong_keypoint_shape_is_refused():
    enc = BatchTargetEncoder.from_encoder(TargetEncoder.from_config(PoseConfig(), (32, 32), 8))
    with pytest.raises(ValueError, match="keypoints must be"):
        enc(torch.zeros(2, 3, 17, 3))
