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
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class DecoderParams:
    """Post-processing settings (defaults follow TLT's BodyPoseNet inference spec).

    - ``heatmap_threshold``: smallest (smoothed) heatmap peak that counts as a joint.
    - ``paf_threshold``, ``paf_samples``, ``min_paf_ratio``: a limb candidate needs more than
      ``min_paf_ratio`` of its ``paf_samples`` PAF samples to exceed ``paf_threshold``.
    - ``min_parts``, ``min_mean_score``: people with fewer joints, or a lower mean of their
      joint and limb scores, are dropped.
    - ``upsample_factor``: heatmap upsampling of ``peak_refinement="upsample"`` (TLT's
      ``output_upsampling_factor``); unused by the default ``"subpixel"``.
    - ``smooth_sigma``: Gaussian smoothing of the heatmaps before the peak search, in
      network-input pixels. ``nms_kernel``: window of the max filter (odd).
    - ``max_peaks_per_joint``: strongest peaks kept per joint type and image (bounds the work on
      noisy maps). ``length_prior``: OpenPose's penalty on limbs longer than half the image.
    """

    heatmap_threshold: float = 0.1
    paf_threshold: float = 0.05
    paf_samples: int = 10
    min_paf_ratio: float = 0.8
    min_parts: int = 4
    min_mean_score: float = 0.4
    upsample_factor: int = 8
    smooth_sigma: float = 3.0
    nms_kernel: int = 3
    peak_refinement: Literal["subpixel", "upsample"] = "subpixel"
    max_peaks_per_joint: int = 128
    length_prior: bool = True

    def __post_init__(self) -> None:
        if self.peak_refinement not in ("subpixel", "upsample"):
            raise ValueError(f"peak_refinement must be 'subpixel' or 'upsample', "
                             f"got {self.peak_refinement!r}")
        if self.nms_kernel < 1 or self.nms_kernel % 2 == 0:
            raise ValueError(f"nms_kernel must be a positive odd number, got {self.nms_kernel}")
        if self.paf_samples < 2:
            raise ValueError("paf_samples must be at least 2")
        if self.upsample_factor < 1:
            raise ValueError("upsample_factor must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Peaks:
    """Joint candidates of a batch, sorted by (image, joint, descending score)."""

    batch: Any  # (N,) int64 array or tensor
    joint: Any  # (N,) int64
    xy: Any  # (N, 2) float32, network-input pixels
    score: Any  # (N,) float32, heatmap value at the peak


# ---------------------------------------------------------------------------------------------
# array backends: steps 1-2 are written once against these few operations
# ---------------------------------------------------------------------------------------------
class NumpyOps:
    """CPU backend. NumPy's small-array overhead is ~5x lower than PyTorch's on a CPU, and its
    gathers are 2-5x faster, which is what a one-image decode is made of."""

    name = "numpy"

    @staticmethod
    def pad(a, r: int, value: float | None = None):
        """Pad the last two axes by ``r``: edge-replicated, or ``value`` (``np.pad`` costs ~10x
        more on these small maps)."""
        h, w = a.shape[-2:]
        out = np.empty((*a.shape[:-2], h + 2 * r, w + 2 * r), a.dtype)
        out[..., r:r + h, r:r + w] = a
        if value is not None:
            out[..., :r, :] = value
            out[..., r + h:, :] = value
            out[..., r:r + h, :r] = value
            out[..., r:r + h, r + w:] = value
            return out
        out[..., r:r + h, :r] = a[..., :, :1]
        out[..., r:r + h, r + w:] = a[..., :, -1:]
        out[..., :r, :] = out[..., r:r + 1, :]
        out[..., r + h:, :] = out[..., r + h - 1:r + h, :]
        return out

    copy = staticmethod(np.copy)
    nonzero = staticmethod(np.nonzero)
    minimum = staticmethod(np.minimum)  # ufuncs: no Python wrapper, unlike ndarray.clip
    maximum = staticmethod(np.maximum)
    log = staticmethod(np.log)
    floor = staticmethod(np.floor)

    @staticmethod
    def maximum_(out, other):
        np.maximum(out, other, out=out)

    @staticmethod
    def axpy_(out, other, alpha: float):
        out += alpha * other

    @staticmethod
    def argsort(a, descending: bool = False):
        return np.argsort(-a if descending else a, kind="stable")

    @staticmethod
    def cummax(a):
        return np.maximum.accumulate(a)

    @staticmethod
    def arange(n: int, like):
        return np.arange(n)

    @staticmethod
    def linspace(a: float, b: float, n: int, like):
        return np.linspace(a, b, n, dtype=np.float32)

    @staticmethod
    def index(a, like):
        return np.asarray(a, dtype=np.int64)

    @staticmethod
    def as_int(a):
        return a.astype(np.int64)

    @staticmethod
    def as_float(a):
        return a.astype(np.float32)

    @staticmethod
    def bincount(a, minlength: int):
        return np.bincount(a, minlength=minlength)

    @staticmethod
    def repeat(values, counts):
        return np.repeat(values, counts)

    @staticmethod
    def stack(seq, axis: int):
        return np.stack(seq, axis=axis)

    @staticmethod
    def norm(a):
        return np.sqrt((a * a).sum(axis=1))

    @staticmethod
    def to_numpy(a):
        return np.asarray(a)

    @staticmethod
    def upsample(maps, factor: int):
        t = F.interpolate(torch.from_numpy(maps), scale_factor=factor, mode="bicubic",
                          align_corners=False)
        return t.numpy()


class TorchOps:
    """Device backend: the same operations on tensors, wherever they live (GPU for batches)."""

    name = "torch"

    @staticmethod
    def pad(a, r: int, value: float | None = None):
        if value is None:
            return F.pad(a, (r, r, r, r), mode="replicate")
        return F.pad(a, (r, r, r, r), value=value)

    @staticmethod
    def copy(a):
        return a.clone()

    @staticmethod
    def nonzero(a):
        return a.nonzero(as_tuple=True)

    log = staticmethod(torch.log)
    floor = staticmethod(torch.floor)

    @staticmethod
    def minimum(a, b):
        return a.clamp(max=b)

    @staticmethod
    def maximum(a, b):
        return a.clamp(min=b)

    @staticmethod
    def maximum_(out, other):
        torch.maximum(out, other, out=out)

    @staticmethod
    def axpy_(out, other, alpha: float):
        out.add_(other, alpha=alpha)

    @staticmethod
    def argsort(a, descending: bool = False):
        return torch.argsort(a, descending=descending, stable=True)

    @staticmethod
    def cummax(a):
        return torch.cummax(a, 0).values

    @staticmethod
    def arange(n: int, like):
        return torch.arange(n, device=like.device)

    @staticmethod
    def linspace(a: float, b: float, n: int, like):
        return torch.linspace(a, b, n, device=like.device)

    @staticmethod
    def index(a, like):
        return torch.as_tensor(a, dtype=torch.long, device=like.device)

    @staticmethod
    def as_int(a):
        return a.long()

    @staticmethod
    def as_float(a):
        return a.float()

    @staticmethod
    def bincount(a, minlength: int):
        return torch.bincount(a, minlength=minlength)

    @staticmethod
    def repeat(values, counts):
        return torch.repeat_interleave(values, counts)

    @staticmethod
    def stack(seq, axis: int):
        return torch.stack(seq, dim=axis)

    @staticmethod
    def norm(a):
        return torch.linalg.vector_norm(a, dim=1)

    @staticmethod
    def to_numpy(a):
        return a.detach().cpu().numpy()

    @staticmethod
    def upsample(maps, factor: int):
        return F.interpolate(maps, scale_factor=factor, mode="bicubic", align_corners=False)


# ---------------------------------------------------------------------------------------------
# 1. peaks
# ---------------------------------------------------------------------------------------------
def gaussian_smooth(maps, sigma: float, ops=NumpyOps):
    """Separable Gaussian blur of (..., H, W) maps, edges replicated; sigma in map pixels.

    Written as a weighted sum of shifted views: on small maps on a CPU this is ~3x faster than
    ``conv2d`` with a one-channel kernel, and as fast on a GPU.
    """
    if sigma <= 0.05:
        return maps
    radius = max(1, round(3.0 * sigma))  # the first tap left out weighs <= 1.2 % of the centre
    taps = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-radius, radius + 1)]
    norm = sum(taps)
    taps = [t / norm for t in taps]
    h, w = maps.shape[-2:]
    padded = ops.pad(maps, radius)
    rows = padded[..., 0:w] * taps[0]
    for i in range(1, len(taps)):
        ops.axpy_(rows, padded[..., i:i + w], taps[i])
    out = rows[..., 0:h, :] * taps[0]
    for i in range(1, len(taps)):
        ops.axpy_(out, rows[..., i:i + h, :], taps[i])
    return out


def max_filter(maps, kernel: int, ops=NumpyOps):
    """``kernel`` x ``kernel`` max filter (stride 1, same size), computed separably.

    Equal to ``F.max_pool2d(maps, kernel, 1, kernel // 2)``, which is ~10x slower on a CPU for
    such small stride-1 windows.
    """
    if kernel == 1:
        return maps
    r = kernel // 2
    h, w = maps.shape[-2:]
    padded = ops.pad(maps, r, value=-np.inf)
    rows = ops.copy(padded[..., 0:w])
    for i in range(1, kernel):
        ops.maximum_(rows, padded[..., i:i + w])
    out = ops.copy(rows[..., 0:h, :])
    for i in range(1, kernel):
        ops.maximum_(out, rows[..., i:i + h, :])
    return out


def _top_k_per_group(group, score, k: int, ops=NumpyOps):
    """Indices ordering items by (group, -score), keeping at most ``k`` per group."""
    order = ops.argsort(score, descending=True)
    order = order[ops.argsort(group[order])]
    g = group[order]
    n = g.shape[0]
    if n == 0:
        return order
    positions = ops.arange(n, g)
    starts = positions == 0
    starts[1:] = g[1:] != g[:-1]
    first = ops.cummax(positions * starts)
    return order[(positions - first) < k]


def _log_parabola_offset(left, centre, right, ops=NumpyOps):
    """Sub-pixel offset of a peak from three samples, fitting a parabola to their logs."""
    ll, lc, lr = (ops.log(ops.maximum(v, 1e-10)) for v in (left, centre, right))
    denom = ll - 2.0 * lc + lr
    curved = denom < -1e-12
    offset = 0.5 * (ll - lr) / (denom * curved + (~curved) * -1.0)
    return ops.minimum(ops.maximum(offset * curved, -0.5), 0.5)


def _refine_axis(smooth, raw, bi, ji, yi, xi, axis: int, ops=NumpyOps):
    """Sub-pixel offset of peaks along one axis (1: x, 0: y).

    Inside the map: the symmetric log-parabola fit on the smoothed map. On the first/last row or
    column the far side is missing, so the parabola goes through the peak and the next two
    samples inward, on the raw map (smoothing with replicated edges bends the profile there);
    the log of a Gaussian is a parabola, so three samples on one side still find its centre.
    """
    n = smooth.shape[-1] if axis == 1 else smooth.shape[-2]
    pos = xi if axis == 1 else yi

    def at(maps, p):
        p = ops.minimum(ops.maximum(p, 0), n - 1)
        return maps[bi, ji, yi, p] if axis == 1 else maps[bi, ji, p, xi]

    interior = (pos > 0) & (pos < n - 1)
    offset = _log_parabola_offset(at(smooth, pos - 1), at(smooth, pos), at(smooth, pos + 1),
                                  ops) * interior
    if n < 3:
        return offset
    last = pos == n - 1
    step = 1 - 2 * ops.as_int(last)  # +1 from the first row/column inward, -1 from the last
    l0, l1, l2 = (ops.log(ops.maximum(at(raw, pos + k * step), 1e-10)) for k in (0, 1, 2))
    denom = l0 - 2.0 * l1 + l2
    curved = denom < -1e-12
    vertex = (3.0 * l0 - 4.0 * l1 + l2) / (2.0 * (denom * curved + (~curved) * -1.0)) * curved
    edge = ops.minimum(ops.maximum(vertex * step, -0.5), 0.5)
    return offset + edge * (~interior)


def find_peaks(heatmaps, params: DecoderParams, stride: int = 8, ops=NumpyOps) -> Peaks:
    """Joint candidates of (B, J, h, w) joint heatmaps (background channel already removed)."""
    heat = ops.as_float(heatmaps)
    j = heat.shape[1]
    if params.peak_refinement == "upsample" and params.upsample_factor > 1:
        heat = ops.upsample(heat, params.upsample_factor)
        scale = stride / params.upsample_factor
    else:
        scale = float(stride)
    smooth = gaussian_smooth(heat, params.smooth_sigma / scale, ops)
    pooled = max_filter(smooth, params.nms_kernel, ops)
    hit = (smooth == pooled) & (smooth > params.heatmap_threshold)
    bi, ji, yi, xi = ops.nonzero(hit)
    score = heat[bi, ji, yi, xi]
    keep = _top_k_per_group(bi * j + ji, score, params.max_peaks_per_joint, ops)
    bi, ji, yi, xi, score = bi[keep], ji[keep], yi[keep], xi[keep], score[keep]
    x, y = ops.as_float(xi), ops.as_float(yi)
    if params.peak_refinement == "subpixel":
        x = x + _refine_axis(smooth, heat, bi, ji, yi, xi, 1, ops)
        y = y + _refine_axis(smooth, heat, bi, ji, yi, xi, 0, ops)
    xy = ops.stack([(x + 0.5) * scale - 0.5, (y + 0.5) * scale - 0.5], axis=1)
    return Peaks(batch=bi, joint=ji, xy=ops.as_float(xy), score=score)


# ---------------------------------------------------------------------------------------------
# 2. limb candidates scored by the PAF line integral
# ---------------------------------------------------------------------------------------------
def _bilinear_pair(flat, base, plane: int, px, py, h: int, w: int, ops=NumpyOps):
    """Bilinear samples of two maps (x and y of a PAF, ``plane`` apart in ``flat``) at cell
    coords (px, py); ``base`` is the flat offset of each sample's x plane."""
    px = ops.minimum(ops.maximum(px, 0.0), w - 1.0)
    py = ops.minimum(ops.maximum(py, 0.0), h - 1.0)
    x0 = ops.as_int(ops.floor(px))
    y0 = ops.as_int(ops.floor(py))
    wx = px - x0
    wy = py - y0
    dx = (x0 < w - 1) * 1  # the right/lower neighbour, or the same cell on the last column/row
    dy = (y0 < h - 1) * w
    i00 = base + y0 * w + x0
    i01 = i00 + dx
    i10 = i00 + dy
    i11 = i10 + dx
    out = []
    for offset in (0, plane):
        v00, v01 = flat[i00 + offset], flat[i01 + offset]
        v10, v11 = flat[i10 + offset], flat[i11 + offset]
        top = v00 + (v01 - v00) * wx
        bottom = v10 + (v11 - v10) * wx
        out.append(top + (bottom - top) * wy)
    return out[0], out[1]


def max_failed_samples(params: DecoderParams) -> int:
    """How many of the ``paf_samples`` may fall at or below ``paf_threshold`` for a pair to
    still pass ``ratio > min_paf_ratio``."""
    needed = math.floor(params.min_paf_ratio * params.paf_samples) + 1
    return params.paf_samples - needed


def score_limb_candidates(peaks: Peaks, pafs, limbs: np.ndarray, params: DecoderParams,
                          stride: int = 8, ops=NumpyOps
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All scored, valid limb candidates of the batch as NumPy arrays (limb, peak_a, peak_b,
    score); peak indices index into ``peaks``.

    Every pair of a limb's two joint types is a candidate, so crowded images have thousands.
    Samples are therefore taken in stages and a pair is dropped as soon as more of its samples
    failed than ``min_paf_ratio`` allows: first the two end points (read from a per-peak table,
    no per-pair gathers), then a few spread-out probes, then the rest for the survivors. The
    result is identical to scoring every sample of every pair.
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
             np.zeros(0, np.float32))
    b, c, h, w = pafs.shape
    n_limbs = len(limbs)
    n_peaks = peaks.score.shape[0]
    if n_peaks == 0 or n_limbs == 0:
        return empty
    n_joints = max(int(limbs.max()) + 1, int(peaks.joint.max()) + 1)
    like = peaks.xy
    # Peaks are sorted by (image, joint): group (image, joint) starts after all earlier groups.
    counts = ops.bincount(peaks.batch * n_joints + peaks.joint, b * n_joints)
    starts = (counts.cumsum(0) - counts).reshape(b, n_joints)
    counts = counts.reshape(b, n_joints)
    ja = ops.index(limbs[:, 0], like)
    jb = ops.index(limbs[:, 1], like)
    na, nb = counts[:, ja], counts[:, jb]  # (B, L)
    pairs = (na * nb).reshape(-1)
    total = int(pairs.sum())
    if total == 0:
        return empty
    group = ops.repeat(ops.arange(b * n_limbs, like), pairs)
    local = ops.arange(total, like) - (pairs.cumsum(0) - pairs)[group]
    nb_g = nb.reshape(-1)[group]
    ia = starts[:, ja].reshape(-1)[group] + local // nb_g
    ib = starts[:, jb].reshape(-1)[group] + local % nb_g
    limb = group % n_limbs
    image = group // n_limbs

    flat = ops.as_float(pafs).reshape(-1)
    plane = h * w
    cells = (peaks.xy + 0.5) / stride - 0.5  # peak positions on the PAF grid
    # PAF vector of every limb at every peak: the end-point samples of all pairs.
    limb_ids = ops.arange(n_limbs, like)
    base = (peaks.batch[:, None] * c + 2 * limb_ids[None, :]) * plane  # (N, L)
    px = cells[:, :1] + 0 * base
    py = cells[:, 1:] + 0 * base
    vx_at, vy_at = _bilinear_pair(flat, base, plane, px, py, h, w, ops)
    vx_at, vy_at = vx_at.reshape(-1), vy_at.reshape(-1)

    pa, pb = cells[ia], cells[ib]
    d = pb - pa
    norm = ops.norm(d)
    inv = 1.0 / ops.maximum(norm, 1e-6)
    ux, uy = d[:, 0] * inv, d[:, 1] * inv
    at_a, at_b = ia * n_limbs + limb, ib * n_limbs + limb
    dot_a = vx_at[at_a] * ux + vy_at[at_a] * uy
    dot_b = vx_at[at_b] * ux + vy_at[at_b] * uy
    allowed = max_failed_samples(params)
    thr = params.paf_threshold
    failed = ops.as_int(dot_a <= thr) + ops.as_int(dot_b <= thr)
    keep = ops.nonzero((failed <= allowed) & (norm > 1e-6))[0]

    def interior(idx, t):
        """PAF . direction at fractions ``t`` of the way from a to b, (len(idx), len(t))."""
        qa, dd = pa[idx], d[idx]
        qx = qa[:, :1] + t[None, :] * dd[:, :1]
        qy = qa[:, 1:] + t[None, :] * dd[:, 1:]
        bx = ((image[idx] * c + 2 * limb[idx]) * plane)[:, None]
        vx, vy = _bilinear_pair(flat, bx, plane, qx, qy, h, w, ops)
        return vx * ux[idx][:, None] + vy * uy[idx][:, None]

    inner = ops.linspace(0.0, 1.0, params.paf_samples, like)[1:-1]
    n_inner = inner.shape[0]
    if n_inner:
        # Probe allowed + 1 spread-out interior samples: a wrong pair (the segment crosses
        # background) fails them all and is dropped before the remaining samples are read.
        n_probe = min(n_inner, allowed + 1)
        probe_at = sorted({round(v) for v in np.linspace(0, n_inner - 1, n_probe + 2)[1:-1]})
        rest_at = [i for i in range(n_inner) if i not in probe_at]
        probe = interior(keep, inner[ops.index(probe_at, like)])
        fails = failed[keep] + ops.as_int(probe <= thr).sum(axis=1)
        ok = fails <= allowed
        keep, probe, fails = keep[ok], probe[ok], fails[ok]
        total_dot = dot_a[keep] + dot_b[keep] + probe.sum(axis=1)
        failed_all = fails
        if rest_at:
            rest = interior(keep, inner[ops.index(rest_at, like)])
            failed_all = fails + ops.as_int(rest <= thr).sum(axis=1)
            total_dot = total_dot + rest.sum(axis=1)
    else:
        failed_all = failed[keep]
        total_dot = dot_a[keep] + dot_b[keep]
    score = total_dot / params.paf_samples
    if params.length_prior:
        # OpenPose's prior: limbs longer than half the image height lose score.
        length_px = norm[keep] * stride
        score = score + ops.minimum(0.5 * h * stride / ops.maximum(length_px, 1e-6) - 1.0, 0.0)
    ok = (failed_all <= allowed) & (score > 0)
    sel = keep[ok]
    return (ops.to_numpy(limb[sel]), ops.to_numpy(ia[sel]), ops.to_numpy(ib[sel]),
            ops.to_numpy(ops.as_float(score[ok])))


# ---------------------------------------------------------------------------------------------
# 3. greedy matching
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def _backend(heatmaps: Any, backend: str):
    if backend == "numpy":
        return NumpyOps
    if backend == "torch":
        return TorchOps
    if isinstance(heatmaps, torch.Tensor) and heatmaps.device.type != "cpu":
        return TorchOps
    return NumpyOps


def _convert(maps: Any, ops, device: torch.device | None = None):
    if ops is TorchOps:
        t = maps.detach() if isinstance(maps, torch.Tensor) else torch.from_numpy(np.asarray(maps))
        return t.to(device) if device is not None else t
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().float().cpu().numpy()
    return np.asarray(maps)


def decode_batch(heatmaps: Any, pafs: Any, limbs: Any, params: DecoderParams | None = None,
                 stride: int = 8, backend: Literal["auto", "numpy", "torch"] = "auto"
                 ) -> list[list[dict[str, Any]]]:
    """Decode a batch: heatmaps (B, J+1, h, w), pafs (B, 2L, h, w), torch or NumPy.

    With ``backend="auto"``, maps on a GPU are searched for peaks and scored on the GPU
    (PyTorch) and CPU maps in NumPy; matching and assembly always run in NumPy. Returns one list
    of people per image, each sorted by descending score.
    """
    params = params or DecoderParams()
    ops = _backend(heatmaps, backend)
    heat = _convert(heatmaps, ops)
    paf = _convert(pafs, ops, heat.device if ops is TorchOps else None)
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
