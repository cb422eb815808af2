"""The label processor as batched torch code: heatmap and PAF targets made on the device.

Same maps as :class:`~graft.tasks.bpnet.encoder.TargetEncoder` (the NumPy path, kept as the
CPU fallback and the reference; the tests hold them equal to float tolerance), computed for
a whole batch where the batch lives, so a GPU trainer's loader processes only decode and warp.

    enc = BatchTargetEncoder.from_encoder(TargetEncoder(...))
    heat, paf = enc(keypoints)   # keypoints (B, P, J, 3), padded persons have visibility 0

PAFs are tested densely on every cell (the NumPy path tests a window around each limb; the
test is the same), in person chunks to bound memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from graft.tasks.bpnet.encoder import _MIN_LIMB_LENGTH, HEATMAP_FLOOR, TargetEncoder

_MAX_BLOCK = 32_000_000  # floats per temporary (B, P, J|L, h, w) block


def pad_keypoints(per_sample: Sequence[np.ndarray], num_joints: int) -> torch.Tensor:
    """(B, P, J, 3) float32 from per-sample (P_i, J, 3) arrays; padding has visibility 0."""
    most = max([len(k) for k in per_sample] + [1])
    out = torch.zeros(len(per_sample), most, num_joints, 3)
    for i, kps in enumerate(per_sample):
        if len(kps):
            out[i, :len(kps)] = torch.as_tensor(np.asarray(kps, np.float32))
    return out


class BatchTargetEncoder:
    """(heatmap, paf) targets for a batch of keypoints, on the keypoints' device."""

    def __init__(self, limbs: np.ndarray, num_joints: int, target_size: tuple[int, int],
                 stride: int, heatmap_sigma: float, paf_half_width: float) -> None:
        self.limbs = torch.as_tensor(np.asarray(limbs, np.int64).reshape(-1, 2))
        self.num_joints = int(num_joints)
        self.target_size = target_size
        self.stride = int(stride)
        self.sigma = float(heatmap_sigma)
        self.half_width = float(paf_half_width)

    @classmethod
    def from_encoder(cls, enc: TargetEncoder) -> BatchTargetEncoder:
        return cls(enc.limbs, enc.num_joints, enc.target_size, enc.stride, enc.heatmap_sigma,
                   enc.paf_half_width)

    def _centres(self, n: int, device: torch.device) -> torch.Tensor:
        return (torch.arange(n, device=device, dtype=torch.float32) + 0.5) * self.stride - 0.5

    def __call__(self, keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kps = keypoints.float()
        if kps.ndim != 4 or kps.shape[2:] != (self.num_joints, 3):
            raise ValueError(f"keypoints must be (B, P, {self.num_joints}, 3), got "
                             f"{tuple(kps.shape)}")
        return self.heatmaps(kps), self.pafs(kps)

    def heatmaps(self, kps: torch.Tensor) -> torch.Tensor:
        """(B, J + 1, h, w): joint Gaussians (max over persons) and the background."""
        b, p, j, _ = kps.shape
        h, w = self.target_size
        xs, ys = self._centres(w, kps.device), self._centres(h, kps.device)
        factor = 1.0 / (2.0 * self.sigma**2)
        joints = torch.zeros(b, j, h, w, device=kps.device)
        gx = torch.exp(-((xs - kps[..., 0:1]) ** 2) * factor) * (kps[..., 2:3] > 0)
        gy = torch.exp(-((ys - kps[..., 1:2]) ** 2) * factor)  # (B, P, J, h)
        step = max(1, _MAX_BLOCK // max(b * j * h * w, 1))
        for s in range(0, p, step):
            block = gy[:, s:s + step, :, :, None] * gx[:, s:s + step, :, None, :]
            joints = torch.maximum(joints, block.amax(dim=1))
        joints = torch.where(joints < HEATMAP_FLOOR, torch.zeros_like(joints), joints)
        background = (1.0 - joints.amax(dim=1, keepdim=True)).clamp(0.0, 1.0) if j else \
            torch.ones(b, 1, h, w, device=kps.device)
        return torch.cat([joints, background], dim=1)

    def pafs(self, kps: torch.Tensor) -> torch.Tensor:
        """(B, 2L, h, w) limb direction fields, averaged where persons overlap."""
        b, p = kps.shape[:2]
        h, w = self.target_size
        limbs = self.limbs.to(kps.device)
        n = len(limbs)
        total = torch.zeros(b, n, 2, h, w, device=kps.device)
        count = torch.zeros(b, n, h, w, device=kps.device)
        if not n or not p:
            return total.reshape(b, 2 * n, h, w)
        xs = self._centres(w, kps.device).view(1, 1, 1, 1, w)
        ys = self._centres(h, kps.device).view(1, 1, 1, h, 1)
        step = max(1, _MAX_BLOCK // max(b * n * h * w, 1))
        for s in range(0, p, step):
            start, end = kps[:, s:s + step, limbs[:, 0]], kps[:, s:s + step, limbs[:, 1]]
            vec = end[..., :2] - start[..., :2]  # (B, p, L, 2)
            length = vec.norm(dim=-1)
            ok = (start[..., 2] > 0) & (end[..., 2] > 0) & (length > _MIN_LIMB_LENGTH)
            unit = vec / length.clamp_min(_MIN_LIMB_LENGTH)[..., None]
            ux, uy = unit[..., 0, None, None], unit[..., 1, None, None]  # (B, p, L, 1, 1)
            dx = xs - start[..., 0, None, None]
            dy = ys - start[..., 1, None, None]
            along = dx * ux + dy * uy  # (B, p, L, h, w)
            across = (dx * uy - dy * ux).abs()
            inside = ((along >= 0) & (along <= length[..., None, None])
                      & (across <= self.half_width) & ok[..., None, None]).float()
            count += inside.sum(dim=1)
            total[:, :, 0] += (inside * ux).sum(dim=1)
            total[:, :, 1] += (inside * uy).sum(dim=1)
        total /= count.clamp_min(1.0)[:, :, None]
        return total.reshape(b, 2 * n, h, w)
