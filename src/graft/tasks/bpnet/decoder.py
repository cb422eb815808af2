"""Bottom-up pose decoding: heatmaps + part affinity fields (PAFs) -> people with keypoints.

Public API::

    persons = decode(heatmap, paf, limbs, params=DecoderParams(), stride=8)
    per_image = decode_batch(heatmaps, pafs, limbs, params, stride=8)

``heatmap`` is (J+1, h, w) (the last channel is the background and is ignored), ``paf`` is
(2L, h, w) with limb ``k`` (joint ``a`` -> joint ``b``) in channels 2k (x) and 2k+1 (y). Each
person is ``{"keypoints": (J, 3) array of (x, y, score) in network-input pixels (score 0 for a
missing joint), "score": float, "num_parts": int}``.

Coordinates follow the encoder's convention: output cell (u, v) at stride s is centred at input
pixel ((u + 0.5) s - 0.5, (v + 0.5) s - 0.5).

The steps (REFERENCE.md, BodyPoseNet post-processing):

1. Peaks: smooth each joint map (Gaussian, ``smooth_sigma`` input pixels), keep local maxima of
   a ``nms_kernel`` max filter above ``heatmap_threshold``. With ``peak_refinement="subpixel"``
   (default) this runs at the network's resolution and each peak is refined to sub-pixel
   precision by fitting a parabola to the log of the map (exact for the Gaussian peaks the
   network is trained on; the "DARK" refinement), one-sided on the map border; with
   ``"upsample"`` the maps are first upsampled ``upsample_factor`` times (bicubic) as TLT
   does, which costs ~64x the work and is less precise (benchmarks/bpnet_decoder.py).
2. Limb candidates: every pair of peaks of a limb's two joints, scored by the PAF line integral:
   the PAF is sampled (bilinearly) at ``paf_samples`` points along the segment and dotted with
   its direction. A pair is kept if more than ``min_paf_ratio`` of the samples exceed
   ``paf_threshold`` and the mean plus a length prior (penalising limbs longer than half the
   image height) is positive. Pairs are dropped as soon as too many samples failed, so most
   wrong pairs cost two or four samples, not ten.
3. Matching: per limb, greedy by score (each peak used once). It runs as rounds of
   "mutual best" selection, which picks exactly the pairs sequential greedy would, in a
   handful of vectorized steps instead of a Python loop over candidates.
4. Assembly: connections along the skeleton's spanning tree are joined by label propagation
   (one vectorized step per limb); the redundant limbs (e.g. eye-ear) then confirm a person or
   merge two fragments that share no joint type, as in OpenPose. People with fewer than
   ``min_parts`` joints or a mean part score below ``min_mean_score`` are dropped.

Steps 1-2 are written once against a tiny array interface with a NumPy backend (CPU: lower
per-call overhead than PyTorch) and a PyTorch backend (maps on a GPU: a whole batch is searched
and scored on the device); steps 3-4 run in vectorized NumPy. Nothing loops over pixels or over
candidate pairs in Python.

The steps live in :mod:`graft.tasks.bpnet.decoding` (``params``, ``backends``, ``peaks``,
``limbs``, ``assembly``); this module is the API and re-exports their public names.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from graft.tasks.bpnet.decoding.assembly import _skeleton_tree as _skeleton_tree
from graft.tasks.bpnet.decoding.assembly import assemble, greedy_match, group_people
from graft.tasks.bpnet.decoding.backends import NumpyOps, TorchOps, convert, select_backend
from graft.tasks.bpnet.decoding.limbs import max_failed_samples, score_limb_candidates
from graft.tasks.bpnet.decoding.params import DecoderParams, Peaks
from graft.tasks.bpnet.decoding.peaks import find_peaks, gaussian_smooth, max_filter

__all__ = [
    "DecoderParams", "NumpyOps", "Peaks", "TorchOps", "assemble", "decode", "decode_batch",
    "find_peaks", "gaussian_smooth", "greedy_match", "group_people", "max_failed_samples",
    "max_filter", "score_limb_candidates",
]


def decode_batch(heatmaps: Any, pafs: Any, limbs: Any, params: DecoderParams | None = None,
                 stride: int = 8, backend: Literal["auto", "numpy", "torch"] = "auto"
                 ) -> list[list[dict[str, Any]]]:
    """Decode a batch: heatmaps (B, J+1, h, w), pafs (B, 2L, h, w), torch or NumPy.

    With ``backend="auto"``, maps on a GPU are searched for peaks and scored on the GPU
    (PyTorch) and CPU maps in NumPy; matching and assembly always run in NumPy. Returns one list
    of people per image, each sorted by descending score.
    """
    params = params or DecoderParams()
    ops = select_backend(heatmaps, backend)
    heat = convert(heatmaps, ops)
    paf = convert(pafs, ops, heat.device if ops is TorchOps else None)
    limbs = np.asarray(limbs, dtype=np.int64).reshape(-1, 2)
    if heat.ndim != 4 or paf.ndim != 4:
        raise ValueError(f"expected (B, C, h, w) maps, got {tuple(heat.shape)} and "
                         f"{tuple(paf.shape)}")
    batch, channels = heat.shape[:2]
    num_joints = channels - 1
    if paf.shape[1] != 2 * len(limbs):
        raise ValueError(f"{paf.shape[1]} PAF channels do not match {len(limbs)} limbs "
                         f"(expected {2 * len(limbs)})")
    if paf.shape[0] != batch or tuple(paf.shape[-2:]) != tuple(heat.shape[-2:]):
        raise ValueError(f"heatmap {tuple(heat.shape)} and PAF {tuple(paf.shape)} differ")
    if len(limbs) and (limbs.min() < 0 or limbs.max() >= num_joints):
        raise ValueError(f"limbs refer to joints outside 0..{num_joints - 1}")
    with torch.no_grad():
        peaks = find_peaks(heat[:, :num_joints], params, stride, ops)
        limb, ia, ib, score = score_limb_candidates(peaks, paf, limbs, params, stride, ops)
    peak_joint = ops.to_numpy(peaks.joint)
    peak_batch = ops.to_numpy(peaks.batch)
    peak_xy = ops.to_numpy(peaks.xy)
    peak_score = ops.to_numpy(peaks.score).astype(np.float32)
    return group_people(limb, ia, ib, score, limbs, peak_batch, peak_joint, peak_xy, peak_score,
                        num_joints, batch, params)


def decode(heatmap: Any, paf: Any, limbs: Any, params: DecoderParams | None = None,
           stride: int = 8, backend: Literal["auto", "numpy", "torch"] = "auto"
           ) -> list[dict[str, Any]]:
    """Decode one image: heatmap (J+1, h, w), paf (2L, h, w), torch or NumPy.

    Returns people sorted by descending score; see the module docstring for the fields.
    """
    if heatmap.ndim != 3 or paf.ndim != 3:
        raise ValueError(f"expected (C, h, w) maps, got {tuple(heatmap.shape)} and "
                         f"{tuple(paf.shape)}")
    return decode_batch(heatmap[None], paf[None], limbs, params, stride, backend)[0]
