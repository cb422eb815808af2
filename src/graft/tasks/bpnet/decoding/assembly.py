"""Steps 3-4: greedy matching of limb candidates and their assembly into people."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from graft.tasks.bpnet.decoding.params import DecoderParams


def greedy_match(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices of the candidates sequential greedy matching (best score first, each row and each
    column used once) would pick. Rows/cols are integer keys; ties break by candidate order.

    Runs in rounds: a candidate that is the best remaining one of both its row and its column is
    picked by sequential greedy too (nothing better can block it), so every round picks all of
    those at once and drops the candidates sharing a row or column with them.
    """
    n = len(scores)
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(-scores, kind="stable")
    r = np.unique(rows[order], return_inverse=True)[1].reshape(-1)
    c = np.unique(cols[order], return_inverse=True)[1].reshape(-1)
    row_used = np.zeros(r.max() + 1, bool)
    col_used = np.zeros(c.max() + 1, bool)
    alive = np.arange(n)  # ranks, best first
    picked = []
    while len(alive):
        rr, cc = r[alive], c[alive]
        best_row = np.full(len(row_used), n)
        best_col = np.full(len(col_used), n)
        np.minimum.at(best_row, rr, alive)
        np.minimum.at(best_col, cc, alive)
        pick = alive[(best_row[rr] == alive) & (best_col[cc] == alive)]
        picked.append(pick)
        row_used[r[pick]] = True
        col_used[c[pick]] = True
        alive = alive[~(row_used[rr] | col_used[cc])]
    return np.sort(order[np.concatenate(picked)])


@lru_cache(maxsize=64)
def _skeleton_tree(limbs: tuple[tuple[int, int], ...]) -> tuple[tuple[tuple[int, bool], ...],
                                                               tuple[bool, ...]]:
    """Spanning forest of the skeleton: the tree limbs in breadth-first order, each with whether
    its first joint is the parent, and a per-limb "on the tree" mask. The other limbs (e.g.
    BodyPoseNet's eye-ear limbs) are redundant: they close cycles."""
    adjacency: dict[int, list[tuple[int, int]]] = {}
    for k, (a, b) in enumerate(limbs):
        adjacency.setdefault(a, []).append((k, b))
        adjacency.setdefault(b, []).append((k, a))
    seen: set[int] = set()
    order: list[tuple[int, bool]] = []
    on_tree = [False] * len(limbs)
    for root in [j for limb in limbs for j in limb]:  # roots in limb order
        if root in seen:
            continue
        seen.add(root)
        queue = [root]
        while queue:
            joint = queue.pop(0)
            for k, other in adjacency[joint]:
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
                    on_tree[k] = True
                    order.append((k, limbs[k][0] == joint))
    return tuple(order), tuple(on_tree)


def assemble(limb: np.ndarray, ia: np.ndarray, ib: np.ndarray, score: np.ndarray,
             limbs: np.ndarray, peak_joint: np.ndarray, peak_score: np.ndarray,
             num_joints: int) -> tuple[np.ndarray, np.ndarray]:
    """Group matched connections into people.

    Connections along the skeleton's spanning tree are joined first: walking the tree limbs
    from the root, each child peak takes its parent peak's label (one vectorized assignment per
    limb). Each peak has at most one match per limb, so such a group holds at most one peak per
    joint type. Redundant limbs then add their score inside a person, or merge two groups (or
    attach a lone peak) when they share no joint type, as OpenPose's assembly does.

    Returns ``members`` (P, J) peak indices (-1 = missing) and ``total`` (P,) summed part and
    connection scores, for every group with at least one connection.
    """
    n_peaks = len(peak_joint)
    if len(limb) == 0:
        return np.zeros((0, num_joints), np.int64), np.zeros(0)
    tree_order, tree_mask = _skeleton_tree(tuple(map(tuple, limbs.tolist())))
    by_limb = np.argsort(limb, kind="stable")
    bounds = np.searchsorted(limb[by_limb], np.arange(len(limbs) + 1))
    label = np.arange(n_peaks)
    for k, a_is_parent in tree_order:
        sel = by_limb[bounds[k]:bounds[k + 1]]
        if len(sel):
            parent, child = (ia[sel], ib[sel]) if a_is_parent else (ib[sel], ia[sel])
            label[child] = label[parent]
    on_tree = np.asarray(tree_mask)[limb]
    roots, label = np.unique(label, return_inverse=True)
    n_groups = len(roots)
    members = np.full((n_groups, num_joints), -1, np.int64)
    members[label, peak_joint] = np.arange(n_peaks)
    total = np.bincount(label, weights=peak_score, minlength=n_groups)
    tree_a = ia[on_tree]
    total += np.bincount(label[tree_a], weights=score[on_tree], minlength=n_groups)
    connected = np.zeros(n_groups, bool)
    connected[label[tree_a]] = True

    extra = np.flatnonzero(~on_tree)
    if len(extra):
        la, lb = label[ia[extra]], label[ib[extra]]
        same = la == lb
        np.add.at(total, la[same], score[extra[same]])
        for i in extra[~same][np.argsort(limb[extra[~same]], kind="stable")]:
            p, q = label[ia[i]], label[ib[i]]
            if p == q:
                total[p] += score[i]
                continue
            if ((members[p] >= 0) & (members[q] >= 0)).any():
                continue
            taken = members[q] >= 0
            members[p, taken] = members[q, taken]
            label[members[q, taken]] = p
            total[p] += total[q] + score[i]
            connected[p] = True
            connected[q] = False
            members[q] = -1
    keep = np.flatnonzero(connected)
    return members[keep], total[keep]


def group_people(limb: np.ndarray, ia: np.ndarray, ib: np.ndarray, score: np.ndarray,
                 limbs: np.ndarray, peak_batch: np.ndarray, peak_joint: np.ndarray,
                 peak_xy: np.ndarray, peak_score: np.ndarray, num_joints: int, batch: int,
                 params: DecoderParams) -> list[list[dict[str, Any]]]:
    """Steps 3-4 on scored candidates: matching, assembly, filtering, output dicts."""
    n_peaks = len(peak_joint)
    pick = greedy_match(limb * n_peaks + ia, limb * n_peaks + ib, score)
    members, total = assemble(limb[pick], ia[pick], ib[pick], score[pick], limbs, peak_joint,
                              peak_score.astype(np.float64), num_joints)
    results: list[list[dict[str, Any]]] = [[] for _ in range(batch)]
    if len(members) == 0:
        return results
    present = members >= 0
    count = present.sum(axis=1)
    mean = total / np.maximum(count, 1)
    ok = (count >= params.min_parts) & (mean >= params.min_mean_score)
    members, present, count = members[ok], present[ok], count[ok]
    if len(members) == 0:
        return results
    keypoints = np.zeros((len(members), num_joints, 3), np.float32)
    idx = members[present]
    keypoints[present, :2] = peak_xy[idx]
    keypoints[present, 2] = peak_score[idx]
    image = peak_batch[members[np.arange(len(members)), present.argmax(axis=1)]]
    # Person score: mean keypoint score over all joints (missing joints count 0), so a
    # complete person outranks a confident fragment in COCO's score-ranked matching.
    person_score = keypoints[:, :, 2].sum(axis=1) / num_joints
    for i in np.argsort(-person_score, kind="stable"):
        results[int(image[i])].append({
            "keypoints": keypoints[i],
            "score": float(person_score[i]),
            "num_parts": int(count[i]),
        })
    return results
