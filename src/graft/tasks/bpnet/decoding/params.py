"""Decoder settings and the joint candidates passed between the steps."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


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
