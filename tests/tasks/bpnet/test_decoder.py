"""The pose decoder on hand-made maps: the label processor renders known people, the decoder
must give them back (positions, grouping, missing joints, borders, crowds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graft.tasks.bpnet.decoder import (
    DecoderParams,
    _skeleton_tree,
    decode,
    decode_batch,
    greedy_match,
    max_failed_samples,
)
from graft.tasks.bpnet.encoder import TargetEncoder
from graft.tasks.bpnet.pose_config import PoseConfig

POSE = PoseConfig()
LIMBS = np.asarray(POSE.limbs)
H, W = 192, 256

# A standing person in the 18-joint layout, in units of its height, (0, 0) = the neck.
_STANDING = np.array([
    (0.0, -0.12), (0.0, 0.0), (-0.12, 0.01), (-0.16, 0.2), (-0.18, 0.38), (0.12, 0.01),
    (0.16, 0.2), (0.18, 0.38), (-0.07, 0.38), (-0.08, 0.62), (-0.08, 0.86), (0.07, 0.38),
    (0.08, 0.62), (0.08, 0.86), (-0.04, -0.16), (0.04, -0.16), (-0.08, -0.14), (0.08, -0.14),
])


def person(neck_x: float, neck_y: float, height: float) -> np.ndarray:
    kp = np.zeros((18, 3), np.float32)
    kp[:, :2] = _STANDING * height + (neck_x, neck_y)
    kp[:, 2] = 2
    return kp


def render(people: list[np.ndarray], size: tuple[int, int] = (H, W)):
    enc = TargetEncoder(POSE.limbs, POSE.num_joints, size, stride=8)
    return enc(np.stack(people) if people else np.zeros((0, 18, 3)))


def match_people(found: list[dict], truth: list[np.ndarray]) -> list[int]:
    """For each true person, the index of the decoded person nearest to it (by neck)."""
    necks = np.array([p["keypoints"][1, :2] for p in found])
    return [int(np.argmin(np.linalg.norm(necks - t[1, :2], axis=1))) for t in truth]


def assert_same_person(found: dict, truth: np.ndarray, tol: float = 1.0) -> None:
    labeled = truth[:, 2] > 0
    kp = found["keypoints"]
    assert (kp[labeled, 2] > 0).all(), "a labeled joint is missing"
    assert (kp[~labeled, 2] == 0).all(), "an unlabeled joint was invented"
    err = np.abs(kp[labeled, :2] - truth[labeled, :2]).max()
    assert err < tol, f"joint error {err:.2f} px"


def test_single_person_is_recovered_with_subpixel_accuracy() -> None:
    truth = person(101.3, 50.7, 130)
    heat, paf = render([truth])
    people = decode(heat, paf, LIMBS)
    assert len(people) == 1
    assert_same_person(people[0], truth, tol=0.25)
    assert people[0]["num_parts"] == 18
    assert 0.5 < people[0]["score"] <= 1.0


def test_two_crossing_people_keep_their_own_forearms() -> None:
    a, b = person(110, 60, 120), person(170, 60, 120)
    # Right forearms (the same limb type, so the same PAF channels) cross between the two.
    a[3, :2], a[4, :2] = (120, 70), (180, 110)
    b[3, :2], b[4, :2] = (160, 70), (100, 110)
    heat, paf = render([a, b])
    people = decode(heat, paf, LIMBS)
    assert len(people) == 2
    ia, ib = match_people(people, [a, b])
    assert ia != ib
    assert_same_person(people[ia], a, tol=1.5)
    assert_same_person(people[ib], b, tol=1.5)


def test_missing_joints_are_reported_with_zero_score() -> None:
    truth = person(128, 50, 120)
    truth[[4, 7, 16], 2] = 0  # wrists and an ear unlabeled
    heat, paf = render([truth])
    people = decode(heat, paf, LIMBS)
    assert len(people) == 1
    assert_same_person(people[0], truth, tol=0.5)
    assert people[0]["num_parts"] == 15
    np.testing.assert_array_equal(people[0]["keypoints"][[4, 7, 16]], 0)


def test_person_cut_by_the_border() -> None:
    truth = person(20, 150, 120)  # hips near the bottom edge; legs outside the image
    outside = (truth[:, 1] > H - 1) | (truth[:, 0] < 0)
    truth[outside, 2] = 0
    heat, paf = render([truth])
    people = decode(heat, paf, LIMBS)
    assert len(people) == 1
    assert_same_person(people[0], truth, tol=0.5)


def test_weak_fragments_are_dropped() -> None:
    truth = person(128, 60, 120)
    truth[[0, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 6, 7, 3, 4], 2] = 0  # neck + shoulders left
    heat, paf = render([truth])
    assert decode(heat, paf, LIMBS) == []
    relaxed = DecoderParams(min_parts=3)
    assert len(decode(heat, paf, LIMBS, relaxed)) == 1


def test_empty_maps_give_no_people() -> None:
    heat, paf = render([])
    assert decode(heat, paf, LIMBS) == []
    assert decode_batch(np.zeros((2, 19, 8, 8)), np.zeros((2, 38, 8, 8)), LIMBS) == [[], []]


@pytest.mark.parametrize("count", [12, 40])
def test_crowds_decode_every_person(count: int) -> None:
    rng = np.random.default_rng(count)
    size = (288, 384)
    height = 1.5 * np.sqrt(size[0] * size[1] / count)
    people, cols = [], int(np.ceil(np.sqrt(count * size[1] / size[0])))
    for i in range(count):
        cx = (i % cols + 0.5) * size[1] / cols + rng.uniform(-3, 3)
        cy = (i // cols + 0.15) * 1.05 * height + rng.uniform(-3, 3)
        people.append(person(cx, cy, height * rng.uniform(0.85, 1.0)))
    people = [p for p in people if p[10, 1] < size[0] - 4]
    heat, paf = render(people, size)
    found = decode(heat, paf, LIMBS)
    assert len(found) == len(people)
    assert sorted(match_people(found, people)) == list(range(len(people)))


def test_numpy_and_torch_backends_agree_and_batches_match_single_images() -> None:
    rng = np.random.default_rng(0)
    maps = [render([person(60 + 90 * i, 40 + 10 * i, 110) for i in range(n)]) for n in (1, 2)]
    noise = [(h + rng.uniform(0, 0.05, h.shape).astype(np.float32), p) for h, p in maps]
    heats = np.stack([m[0] for m in noise])
    pafs = np.stack([m[1] for m in noise])
    single = [decode(h, p, LIMBS) for h, p in noise]
    for backend in ("numpy", "torch"):
        batch = decode_batch(torch.from_numpy(heats), torch.from_numpy(pafs), LIMBS,
                             backend=backend)
        assert [len(b) for b in batch] == [1, 2]
        for got, want in zip(batch, single, strict=True):
            for g, w in zip(got, want, strict=True):
                np.testing.assert_allclose(g["keypoints"], w["keypoints"], atol=1e-3)
                assert g["score"] == pytest.approx(w["score"], abs=1e-5)


def test_upsample_refinement_matches_subpixel_closely() -> None:
    truth = person(128.4, 50.2, 120)
    heat, paf = render([truth])
    people = decode(heat, paf, LIMBS, DecoderParams(peak_refinement="upsample"))
    assert len(people) == 1
    assert_same_person(people[0], truth, tol=1.5)


def test_greedy_match_equals_sequential_greedy() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(1, 60))
        rows, cols = rng.integers(0, 8, n), rng.integers(0, 8, n)
        scores = rng.integers(0, 5, n).astype(float)  # many ties
        order = np.argsort(-scores, kind="stable")
        used_r, used_c, want = set(), set(), []
        for i in order:
            if rows[i] not in used_r and cols[i] not in used_c:
                used_r.add(rows[i])
                used_c.add(cols[i])
                want.append(i)
        np.testing.assert_array_equal(greedy_match(rows, cols, scores), np.sort(want))


def test_skeleton_tree_marks_the_redundant_limbs() -> None:
    order, on_tree = _skeleton_tree(tuple(map(tuple, POSE.limbs)))
    redundant = [POSE.limbs[k] for k, t in enumerate(on_tree) if not t]
    names = {tuple(sorted((POSE.joints[a], POSE.joints[b]))) for a, b in redundant}
    assert len(order) == POSE.num_joints - 1
    assert len(names) == 2 and all("ear" in n[0] or "ear" in n[1] for n in names)


def test_sample_ratio_rule() -> None:
    assert max_failed_samples(DecoderParams()) == 1  # 10 samples, > 80 % needed: 9 must pass
    assert max_failed_samples(DecoderParams(paf_samples=5, min_paf_ratio=0.5)) == 2


def test_bad_inputs_raise() -> None:
    heat, paf = render([person(100, 50, 100)])
    with pytest.raises(ValueError, match="PAF channels"):
        decode(heat, paf[:-2], LIMBS)
    with pytest.raises(ValueError, match="expected"):
        decode(heat[None], paf, LIMBS)
    with pytest.raises(ValueError, match="nms_kernel"):
        DecoderParams(nms_kernel=2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_path_matches_cpu() -> None:
    heat, paf = render([person(80, 50, 110), person(170, 60, 100)])
    want = decode(heat, paf, LIMBS)
    got = decode_batch(torch.from_numpy(heat[None]).cuda(), torch.from_numpy(paf[None]).cuda(),
                       LIMBS)[0]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g["keypoints"], w["keypoints"], atol=1e-3)
