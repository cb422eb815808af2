"""Step 2: limb candidates (pairs of peaks) scored by the PAF line integral."""

from __future__ import annotations

import math

import numpy as np

from graft.tasks.bpnet.decoding.backends import NumpyOps
from graft.tasks.bpnet.decoding.params import DecoderParams, Peaks


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
