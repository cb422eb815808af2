"""The label processor: keypoints -> heatmap and part-affinity-field (PAF) training targets.

API::

    enc = TargetEncoder(pose.limbs, pose.num_joints, input_size=(256, 256), stride=8)
    heatmap, paf = enc(keypoints)        # keypoints (P, J, 3): x, y in input pixels, visibility

- ``heatmap`` (J + 1, h, w): per joint a Gaussian of ``heatmap_sigma`` input pixels around every
  labeled joint (visibility > 0), the maximum over persons, values below 0.001 set to 0; the last
  channel is the background, ``1 - max`` over the joints.
- ``paf`` (2L, h, w): for limb k (joint a -> joint b) channels 2k (x) and 2k+1 (y) hold the unit
  vector from a to b on every cell whose centre lies within the limb's length along it and at
  most ``paf_ortho_dist_thresh * stride`` input pixels across it. Where limbs of several persons
  cover a cell, their vectors are averaged (not overwritten).

Grid convention, shared with the decoder and the same for both maps: output cell (u, v) at
stride s is centred at input pixel ``x = (u + 0.5) * s - 0.5``, ``y = (v + 0.5) * s - 0.5``
(pixel centres at integer coordinates), i.e. the centre of the s x s block of input pixels it
summarizes. ``h, w = H // s, W // s``.

Everything is vectorized over persons, joints and limbs (no per-pixel Python loops).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HEATMAP_FLOOR = 1e-3  # Gaussian tails below this are zeroed (as TLT's label processor does)
_MIN_LIMB_LENGTH = 1e-6
_MAX_BLOCK = 4_000_000  # floats per temporary heatmap block


def cell_centres(n: int, stride: int) -> np.ndarray:
    """Input-pixel coordinates of the centres of ``n`` output cells along one axis."""
    return (np.arange(n, dtype=np.float32) + 0.5) * stride - 0.5


def input_to_grid(coords: np.ndarray, stride: int) -> np.ndarray:
    """Input-pixel coordinates -> (fractional) output-cell coordinates (inverse of the above)."""
    return (np.asarray(coords, dtype=np.float32) + 0.5) / stride - 0.5


class TargetEncoder:
    """Builds (heatmap, paf) targets for one input size; cheap to call per sample."""

    def __init__(
        self,
        limbs: Sequence[tuple[int, int]],
        num_joints: int,
        input_size: tuple[int, int],
        stride: int = 8,
        heatmap_sigma: float = 7.0,
        paf_ortho_dist_thresh: float = 1.0,
    ) -> None:
        height, width = (int(v) for v in input_size)
        if height % stride or width % stride:
            raise ValueError(f"input size {height}x{width} is not a multiple of stride {stride}")
        self.limbs = np.asarray(limbs, dtype=np.int64).reshape(-1, 2)
        self.num_joints = int(num_joints)
        if self.limbs.size and (self.limbs.min() < 0 or self.limbs.max() >= self.num_joints):
            raise ValueError("limb joint index out of range")
        self.input_size = (height, width)
        self.stride = int(stride)
        self.target_size = (height // stride, width // stride)
        self.heatmap_sigma = float(heatmap_sigma)
        self.paf_half_width = float(paf_ortho_dist_thresh) * stride
        self.xs = cell_centres(self.target_size[1], stride)
        self.ys = cell_centres(self.target_size[0], stride)

    @classmethod
    def from_config(cls, pose_config, input_size: tuple[int, int], stride: int,
                    label_config=None) -> TargetEncoder:
        """Build from a :class:`PoseConfig` and a ``LabelProcessorConfig`` (or its defaults)."""
        sigma = getattr(label_config, "heatmap_gaussian_sigma", 7.0)
        thresh = getattr(label_config, "paf_ortho_dist_thresh", 1.0)
        return cls(pose_config.limbs, pose_config.num_joints, input_size, stride, sigma, thresh)

    @property
    def num_limbs(self) -> int:
        return len(self.limbs)

    def __call__(self, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kps = self._check(keypoints)
        return self.heatmaps(kps), self.pafs(kps)

    def _check(self, keypoints: np.ndarray) -> np.ndarray:
        kps = np.asarray(keypoints, dtype=np.float32)
        if kps.size == 0:
            return np.zeros((0, self.num_joints, 3), dtype=np.float32)
        if kps.ndim != 3 or kps.shape[1:] != (self.num_joints, 3):
            raise ValueError(f"keypoints must be (P, {self.num_joints}, 3), got {kps.shape}")
        return kps

    def heatmaps(self, keypoints: np.ndarray) -> np.ndarray:
        """(J + 1, h, w) float32: joint Gaussians (max over persons) and the background."""
        kps = self._check(keypoints)
        h, w = self.target_size
        out = np.zeros((self.num_joints + 1, h, w), dtype=np.float32)
        if len(kps):
            factor = 1.0 / (2.0 * self.heatmap_sigma**2)
            labeled = kps[..., 2] > 0  # (P, J)
            gx = np.exp(-((self.xs - kps[..., 0:1]) ** 2) * factor)  # (P, J, w)
            gy = np.exp(-((self.ys - kps[..., 1:2]) ** 2) * factor)  # (P, J, h)
            gx *= labeled[..., None]
            # max over persons of the separable Gaussians (in person chunks to bound memory)
            joints = out[:-1]
            step = max(1, _MAX_BLOCK // max(joints.size, 1))
            for p in range(0, len(kps), step):
                block = gy[p:p + step, :, :, None] * gx[p:p + step, :, None, :]
                np.maximum(joints, block.max(axis=0), out=joints)
            out[:-1][out[:-1] < HEATMAP_FLOOR] = 0.0
        out[-1] = np.clip(1.0 - out[:-1].max(axis=0, initial=0.0), 0.0, 1.0)
        return out

    def pafs(self, keypoints: np.ndarray) -> np.ndarray:
        """(2L, h, w) float32 limb direction fields, averaged where persons overlap."""
        kps = self._check(keypoints)
        h, w = self.target_size
        out = np.zeros((2 * self.num_limbs, h, w), dtype=np.float32)
        if not len(kps) or not self.num_limbs:
            return out
        start = kps[:, self.limbs[:, 0]]  # (P, L, 3)
        end = kps[:, self.limbs[:, 1]]
        vec = end[..., :2] - start[..., :2]
        length = np.linalg.norm(vec, axis=-1)  # (P, L)
        ok = (start[..., 2] > 0) & (end[..., 2] > 0) & (length > _MIN_LIMB_LENGTH)
        limb, person = np.nonzero(ok.T)  # the M drawable (limb, person) pairs
        if not len(limb):
            return out
        a = start[person, limb, :2]  # (M, 2)
        b = end[person, limb, :2]
        seg_len = length[person, limb]
        unit = vec[person, limb] / seg_len[:, None]  # (M, 2)
        # Each pair is tested only on a window of cells around its segment (in a chunk, all
        # windows have the size of its largest, so they stack into one (M, wh, ww) array).
        s, r = self.stride, self.paf_half_width
        lo = np.floor((np.minimum(a, b) - r + 0.5) / s - 0.5).astype(np.int64)
        hi = np.ceil((np.maximum(a, b) + r + 0.5) / s - 0.5).astype(np.int64)
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, [w - 1, h - 1])
        extent = np.maximum(hi - lo + 1, 1)  # (M, 2) window width, height
        step = max(1, _MAX_BLOCK // int(extent.prod(axis=1).max()))
        cells, weights = [], []
        for c in range(0, len(limb), step):
            sl = slice(c, c + step)
            win_w, win_h = (int(v) for v in extent[sl].max(axis=0))
            cols = lo[sl, 0, None] + np.arange(win_w)  # (m, ww)
            rows = lo[sl, 1, None] + np.arange(win_h)  # (m, wh)
            dx = ((cols + 0.5) * s - 0.5 - a[sl, 0, None])[:, None, :]  # (m, 1, ww)
            dy = ((rows + 0.5) * s - 0.5 - a[sl, 1, None])[:, :, None]  # (m, wh, 1)
            ux, uy = unit[sl, 0, None, None], unit[sl, 1, None, None]
            along = dx * ux + dy * uy  # (m, wh, ww)
            across = np.abs(dx * uy - dy * ux)
            inside = ((along >= 0) & (along <= seg_len[sl, None, None]) & (across <= r)
                      & (cols < w)[:, None, :] & (rows < h)[:, :, None])
            m, i, j = np.nonzero(inside)
            cells.append((limb[sl][m] * h + rows[m, i]) * w + cols[m, j])
            weights.append(unit[sl][m])
        # Sum per (limb, cell) over the persons covering it, then take the mean.
        cell = np.concatenate(cells)
        vectors = np.concatenate(weights)
        size = self.num_limbs * h * w
        denom = np.maximum(np.bincount(cell, minlength=size), 1).astype(np.float32)
        out[0::2] = (np.bincount(cell, vectors[:, 0], size) / denom).reshape(self.num_limbs, h, w)
        out[1::2] = (np.bincount(cell, vectors[:, 1], size) / denom).reshape(self.num_limbs, h, w)
        return out


def encode_targets(
    keypoints: np.ndarray,
    limbs: Sequence[tuple[int, int]],
    input_size: tuple[int, int],
    stride: int = 8,
    heatmap_sigma: float = 7.0,
    paf_ortho_dist_thresh: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """One-shot form of :class:`TargetEncoder` (``keypoints`` (P, J, 3) in input pixels)."""
    kps = np.asarray(keypoints, dtype=np.float32)
    num_joints = kps.shape[1] if kps.ndim == 3 else int(np.max(limbs)) + 1
    enc = TargetEncoder(limbs, num_joints, input_size, stride, heatmap_sigma, paf_ortho_dist_thresh)
    return enc(kps)
