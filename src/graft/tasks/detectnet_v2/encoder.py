"""The target encoder: ground-truth boxes -> DetectNet_v2's coverage, box and weight targets.

API::

    enc = TargetEncoder(classes=[RasterClass()] * C, input_size=(384, 1248))
    enc = TargetEncoder.from_spec(spec)                # the same from a DetectNetSpec
    targets = enc([boxes_0, boxes_1], [labels_0, labels_1],
                  ignore=[dontcare_0, dontcare_1], ignore_labels=[None, None])
    targets = enc.encode_truths([truth_0, truth_1])   # graft.metrics.detection.GroundTruth
    targets.cov       # (B, C, h, w)     soft coverage in [0, 1]
    targets.bbox      # (B, C, 4, h, w)  L, T, R, B distances / scale
    targets.cov_norm  # (B, C, h, w)     box-loss weight: coverage / ellipse area
    targets.mask      # (B, C, h, w)     loss mask: 0 in ignore regions, else 1

Boxes are (N, 4) x1, y1, x2, y2 in network-input pixels, corner coordinates (pixel 0 spans
[0, 1]); labels (N,) are class indices. Everything is torch, batched over the images and the
classes, and runs on the boxes' device.

Grid conventions (TLT's, shared with :func:`decode_boxes` and the decoder): output cell (i, j)
covers input pixels [16 j, 16 j + 16) x [16 i, 16 i + 16), i.e. output-space coordinates
[j, j + 1) x [i, i + 1) after dividing by the stride. Its box anchor is the input-pixel point
(16 j + offset, 16 i + offset) with offset 0.5: half a PIXEL, not half a cell.

The rasterizer (TLT's bbox rasterizer, per class; ``RasterClass`` holds the parameters):

1. The box is divided by the stride. Ellipse centre cx = x1 + cov_center_x * w (same in y);
   half extent sx = cx - x1 when cov_center_x < 0.5, else x2 - cx.
2. Coverage semi-axes csx = max(cov_radius_x * sx, 0.1); when csx < bbox_min_radius it is
   raised to it and csy scaled by the same factor; then the same with y and x swapped.
3. Dead-zone semi-axes dsx = max((1 - deadzone) * csx + deadzone * sx, csx) (same in y).
4. Each cell is supersampled at 4 x 4 points (j + (k + 0.5) / 4): c = the fraction inside the
   coverage ellipse, a = the fraction inside the dead-zone ellipse (strict "< 1").
5. A class's boxes are drawn back to front, sorted by y2 ascending (the box lower in the image
   is nearer the camera and is drawn last). Per cell, a box with a > 0 and a >= the coverage
   of the box currently holding the cell takes the cell over (its c may be 0: the dead-zone
   band that separates neighbours is then empty).
6. Targets of a cell held by a box: coverage c, cov_norm c / max(4 csx csy, 1), and the box
   distances L = (ax - x1) / scale, T = (ay - y1) / scale, R = (x2 - ax) / scale,
   B = (y2 - ay) / scale (not multiplied by c). Cells held by nobody are 0.

TLT evaluates the distances through a linear "gradient" whose slope it clamps for boxes
narrower than 0.1 cell (1.6 px), giving wrong targets for such slivers; here they are exact.

Ignore regions: KITTI DontCare boxes, COCO crowds, and objects the training filters drop are
passed as ``ignore`` boxes with a class (``ignore_labels``; -1 or None: every class). A cell
at least ``ignore_fraction`` (0.5) inside such a region gets loss mask 0 for that class, unless
an object of the class has coverage there (its own target is still learned). The mask
multiplies both costs (:mod:`graft.tasks.detectnet_v2.loss`), so the network is neither
pushed towards nor away from detecting what the labels leave undecided there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from graft.tasks.detectnet_v2.data_spec import STRIDE

if TYPE_CHECKING:
    from graft.metrics.detection import GroundTruth
    from graft.tasks.detectnet_v2.sections import BboxObjective, RasterClass
    from graft.tasks.detectnet_v2.spec import DetectNetSpec

SAMPLES = 4  # supersampling per cell side (TLT's)
MIN_SEMI_AXIS = 0.1  # output cells; TLT's guard against zero-sized boxes
_BLOCK = 8_000_000  # supersampled points per chunk of boxes


@dataclass
class Targets:
    """Training targets of a batch (see the module docstring for shapes)."""

    cov: torch.Tensor
    bbox: torch.Tensor
    cov_norm: torch.Tensor
    mask: torch.Tensor

    def to(self, device: torch.device | str) -> Targets:
        return Targets(*(t.to(device) for t in (self.cov, self.bbox, self.cov_norm, self.mask)))


@dataclass(frozen=True)
class Ellipses:
    """Coverage and dead-zone ellipses of N boxes, in output cells."""

    cx: torch.Tensor
    cy: torch.Tensor
    csx: torch.Tensor
    csy: torch.Tensor
    dsx: torch.Tensor
    dsy: torch.Tensor

    @property
    def inv_area(self) -> torch.Tensor:
        """TLT's cov_norm factor 1 / max(4 csx csy, 1)."""
        return 1.0 / torch.clamp(4.0 * self.csx * self.csy, min=1.0)

    @property
    def area(self) -> torch.Tensor:
        """Area of the coverage ellipse (cells): the coverage mass of an unobstructed object."""
        return math.pi * self.csx * self.csy


def class_table(classes: Sequence[RasterClass], device: torch.device | str = "cpu"
                ) -> torch.Tensor:
    """(C, 5) cov_center_x, cov_center_y, cov_radius_x, cov_radius_y, bbox_min_radius."""
    return torch.tensor([[c.cov_center_x, c.cov_center_y, c.cov_radius_x, c.cov_radius_y,
                          c.bbox_min_radius] for c in classes], dtype=torch.float32,
                        device=device).reshape(-1, 5)


def ellipses(boxes: torch.Tensor, params: torch.Tensor, deadzone: float,
             stride: tuple[float, float] = (STRIDE, STRIDE)) -> Ellipses:
    """The ellipses of ``boxes`` (N, 4 input pixels) with per-box ``params`` (N, 5)."""
    x1, y1, x2, y2 = (boxes[:, k] / stride[k % 2] for k in range(4))
    center_x, center_y, radius_x, radius_y, min_radius = params.unbind(1)
    cx = x1 + center_x * (x2 - x1)
    cy = y1 + center_y * (y2 - y1)
    sx = torch.where(center_x < 0.5, cx - x1, x2 - cx)
    sy = torch.where(center_y < 0.5, cy - y1, y2 - cy)
    csx = torch.clamp(radius_x * sx, min=MIN_SEMI_AXIS)
    csy = torch.clamp(radius_y * sy, min=MIN_SEMI_AXIS)
    small = csx < min_radius  # raise x to the minimum, keeping the aspect ratio
    csx, csy = torch.where(small, min_radius, csx), torch.where(small, min_radius * csy / csx, csy)
    small = csy < min_radius
    csx, csy = torch.where(small, min_radius * csx / csy, csx), torch.where(small, min_radius, csy)
    dsx = torch.maximum((1.0 - deadzone) * csx + deadzone * sx, csx)
    dsy = torch.maximum((1.0 - deadzone) * csy + deadzone * sy, csy)
    return Ellipses(cx, cy, csx, csy, dsx, dsy)


def coverage_mass(boxes: torch.Tensor, labels: torch.Tensor, classes: Sequence[RasterClass],
                  deadzone: float = 0.67) -> torch.Tensor:
    """Coverage sum (cells) a perfectly predicted, unobstructed object of each box carries.

    The decoder divides a cluster's coverage sum by this to get a score in [0, 1].
    """
    table = class_table(classes, boxes.device)
    return ellipses(boxes.float(), table[labels.long()], deadzone).area


def anchors(height: int, width: int, offset: float = 0.5, *, stride: int = STRIDE,
            device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Input-pixel anchor points of an (height, width) output grid: x (w,), y (h,)."""
    ax = torch.arange(width, dtype=torch.float32, device=device) * stride + offset
    ay = torch.arange(height, dtype=torch.float32, device=device) * stride + offset
    return ax, ay


def decode_boxes(bbox: torch.Tensor, input_size: tuple[int, int], *, scale: float = 35.0,
                 offset: float = 0.5) -> torch.Tensor:
    """Box-head output (..., 4, h, w) -> absolute boxes (..., 4, h, w) in input pixels.

    x1 = clip(ax - scale L, 0, W), y1 = clip(ay - scale T, 0, H), x2 = clip(ax + scale R, x1,
    W), y2 = clip(ay + scale B, y1, H) (TLT's decoding).
    """
    height, width = input_size
    h, w = bbox.shape[-2:]
    stride = height // h
    ax, ay = anchors(h, w, offset, stride=stride, device=bbox.device)
    left, top, right, bottom = (bbox[..., k, :, :].float() * scale for k in range(4))
    x1 = torch.clamp(ax - left, 0.0, float(width))
    y1 = torch.clamp(ay[:, None] - top, 0.0, float(height))
    x2 = torch.clamp(torch.maximum(ax + right, x1), max=float(width))
    y2 = torch.clamp(torch.maximum(ay[:, None] + bottom, y1), max=float(height))
    return torch.stack([x1, y1, x2, y2], dim=-3)


def _sample_offsets(n: int, device: torch.device | str) -> torch.Tensor:
    """Output-space coordinates of the supersampling points of n cells along one axis."""
    return (torch.arange(n * SAMPLES, dtype=torch.float32, device=device) + 0.5) / SAMPLES


def _fractions(ell: Ellipses, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, h, w) fractions of each cell inside the coverage (c) and dead-zone (a) ellipses."""
    device = ell.cx.device
    xs, ys = _sample_offsets(w, device), _sample_offsets(h, device)
    c_out, a_out = [], []
    step = max(1, _BLOCK // (h * w * SAMPLES * SAMPLES))
    for s in range(0, len(ell.cx), step):
        sl = slice(s, s + step)
        dx = xs - ell.cx[sl, None]  # (n, 4w)
        dy = ys - ell.cy[sl, None]  # (n, 4h)
        outs = []
        for rx, ry in ((ell.csx[sl], ell.csy[sl]), (ell.dsx[sl], ell.dsy[sl])):
            inside = ((dx / rx[:, None]) ** 2)[:, None, :] + ((dy / ry[:, None]) ** 2)[:, :, None]
            inside = (inside < 1.0).float().reshape(-1, h, SAMPLES, w, SAMPLES)
            outs.append(inside.mean(dim=(2, 4)))
        c_out.append(outs[0])
        a_out.append(outs[1])
    return torch.cat(c_out), torch.cat(a_out)


def _cell_overlap(lo: torch.Tensor, hi: torch.Tensor, n: int, stride: float) -> torch.Tensor:
    """(M, n) fraction of each cell's extent along one axis inside [lo, hi] (pixels)."""
    edges = torch.arange(n, dtype=torch.float32, device=lo.device) * stride
    inter = torch.minimum(hi[:, None], edges + stride) - torch.maximum(lo[:, None], edges)
    return torch.clamp(inter, min=0.0) / stride


class TargetEncoder:
    """Rasterizes a batch of labelled boxes into DetectNet_v2 targets (one input size)."""

    def __init__(self, classes: Sequence[RasterClass], input_size: tuple[int, int], *,
                 deadzone_radius: float = 0.67, objective: BboxObjective | None = None,
                 stride: int = STRIDE, ignore_fraction: float = 0.5) -> None:
        height, width = (int(v) for v in input_size)
        if height % stride or width % stride:
            raise ValueError(f"input size {height}x{width} is not a multiple of {stride}")
        if not classes:
            raise ValueError("at least one class is needed")
        self.classes = list(classes)
        self.input_size = (height, width)
        self.stride = stride
        self.grid = (height // stride, width // stride)
        self.deadzone = float(deadzone_radius)
        self.scale = float(objective.scale) if objective is not None else 35.0
        self.offset = float(objective.offset) if objective is not None else 0.5
        self.ignore_fraction = float(ignore_fraction)

    @classmethod
    def from_spec(cls, spec: DetectNetSpec) -> TargetEncoder:
        """The encoder a :class:`~graft.tasks.detectnet_v2.spec.DetectNetSpec` describes."""
        return cls(spec.rasterizer_classes(), spec.input_size,
                   deadzone_radius=spec.bbox_rasterizer_config.deadzone_radius,
                   objective=spec.model.objective_set.bbox)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def empty(self, batch: int, device: torch.device | str = "cpu") -> Targets:
        h, w = self.grid
        c = self.num_classes
        zeros = torch.zeros(batch, c, h, w, device=device)
        return Targets(zeros, torch.zeros(batch, c, 4, h, w, device=device), zeros.clone(),
                       torch.ones(batch, c, h, w, device=device))

    def __call__(self, boxes: Sequence[torch.Tensor], labels: Sequence[torch.Tensor],
                 ignore: Sequence[torch.Tensor | None] | None = None,
                 ignore_labels: Sequence[torch.Tensor | None] | None = None) -> Targets:
        """Targets of a batch: per image (N_b, 4) ``boxes`` and (N_b,) ``labels``; optional
        (M_b, 4) ``ignore`` regions with (M_b,) ``ignore_labels`` (-1 or None: all classes)."""
        batch = len(boxes)
        if len(labels) != batch:
            raise ValueError("one labels tensor per image is needed")
        device = boxes[0].device if batch else torch.device("cpu")
        out = self.empty(batch, device)
        flat = self._flatten(boxes, labels)
        if flat is not None:
            self._draw(out, *flat)
        if ignore is not None:
            self._mask(out, ignore, ignore_labels)
        return out

    def encode_truths(self, truths: Sequence[GroundTruth]) -> Targets:
        """Targets of a batch of :class:`graft.metrics.detection.GroundTruth`: the counted
        objects are drawn; ignored objects (crowds, filtered boxes) become ignore regions of
        their class and DontCare ``regions`` ignore regions of every class."""
        f32, i64 = torch.float32, torch.int64
        ignore, ignore_labels = [], []
        for t in truths:
            ignore.append(torch.cat([torch.as_tensor(t.boxes[t.ignored], dtype=f32),
                                     torch.as_tensor(t.regions, dtype=f32)]).reshape(-1, 4))
            ignore_labels.append(torch.cat([torch.as_tensor(t.labels[t.ignored], dtype=i64),
                                            torch.full((len(t.regions),), -1, dtype=i64)]))
        return self([torch.as_tensor(t.boxes[~t.ignored], dtype=f32) for t in truths],
                    [torch.as_tensor(t.labels[~t.ignored], dtype=i64) for t in truths],
                    ignore=ignore, ignore_labels=ignore_labels)

    def _flatten(self, boxes, labels):
        c = self.num_classes
        parts = []
        for b, lab in zip(boxes, labels, strict=True):
            b = torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4)
            parts.append((b, torch.as_tensor(lab, dtype=torch.int64, device=b.device).reshape(-1)))
        for b, lab in parts:
            if len(b) != len(lab):
                raise ValueError(f"{len(b)} boxes with {len(lab)} labels")
            if len(lab) and (lab.min() < 0 or lab.max() >= c):
                raise ValueError(f"class index out of 0..{c - 1}: {lab.tolist()}")
        image = torch.cat([torch.full((len(b),), i, dtype=torch.int64, device=b.device)
                           for i, (b, _) in enumerate(parts)])
        if not len(image):
            return None
        return torch.cat([b for b, _ in parts]), torch.cat([lab for _, lab in parts]), image

    def _draw(self, out: Targets, boxes: torch.Tensor, labels: torch.Tensor,
              image: torch.Tensor) -> None:
        h, w = self.grid
        device = boxes.device
        table = class_table(self.classes, device)
        ell = ellipses(boxes, table[labels], self.deadzone, (self.stride, self.stride))
        cov, dead = _fractions(ell, h, w)  # (N, h, w)
        # Back to front per (image, class): by y2 ascending, stable, then by group.
        group = image * self.num_classes + labels
        order = torch.argsort(boxes[:, 3], stable=True)
        order = order[torch.argsort(group[order], stable=True)]
        group_sorted = group[order]
        first = torch.searchsorted(group_sorted, group_sorted, right=False)
        rank = torch.arange(len(order), device=device) - first
        groups = out.cov.shape[0] * self.num_classes
        held = torch.zeros(groups, h, w, device=device)  # coverage of the current holder
        holder = torch.full((groups, h, w), -1, dtype=torch.int64, device=device)
        for k in range(int(rank.max()) + 1):
            idx = order[rank == k]  # at most one box per group
            g = group[idx]
            takes = (dead[idx] >= held[g]) & (dead[idx] > 0)
            held[g] = torch.where(takes, cov[idx], held[g])
            holder[g] = torch.where(takes, idx[:, None, None], holder[g])
        live = (holder >= 0) & (held > 0)
        src = holder.clamp(min=0)
        coverage = torch.where(live, held, torch.zeros((), device=device))
        shape = out.cov.shape
        out.cov.copy_(coverage.reshape(shape))
        out.cov_norm.copy_((coverage * ell.inv_area[src]).reshape(shape))
        ax, ay = anchors(h, w, self.offset, stride=self.stride, device=device)
        b = boxes[src]  # (G, h, w, 4)
        dist = torch.stack([ax - b[..., 0], ay[:, None] - b[..., 1], b[..., 2] - ax,
                            b[..., 3] - ay[:, None]], dim=1) / self.scale  # (G, 4, h, w)
        dist = torch.where(live[:, None], dist, torch.zeros((), device=device))
        out.bbox.copy_(dist.reshape(out.bbox.shape))

    def _mask(self, out: Targets, ignore: Sequence[torch.Tensor | None],
              ignore_labels: Sequence[torch.Tensor | None] | None) -> None:
        h, w = self.grid
        c = self.num_classes
        device = out.mask.device
        groups, regions = [], []
        for i, region in enumerate(ignore):
            if region is None or not len(region):
                continue
            region = torch.as_tensor(region, dtype=torch.float32, device=device).reshape(-1, 4)
            lab = ignore_labels[i] if ignore_labels is not None else None
            lab = (torch.full((len(region),), -1, dtype=torch.int64, device=device) if lab is None
                   else torch.as_tensor(lab, dtype=torch.int64, device=device).reshape(-1))
            if len(lab) != len(region) or (lab >= c).any():
                raise ValueError("ignore_labels must give -1 or a class index per region")
            every = lab < 0  # a class-agnostic region ignores every class
            cls = torch.cat([lab[~every], torch.arange(c, device=device).repeat(int(every.sum()))])
            reg = torch.cat([region[~every], region[every].repeat_interleave(c, dim=0)])
            groups.append(i * c + cls)
            regions.append(reg)
        if not groups:
            return
        g, reg = torch.cat(groups), torch.cat(regions)
        fx = _cell_overlap(reg[:, 0], reg[:, 2], w, self.stride)
        fy = _cell_overlap(reg[:, 1], reg[:, 3], h, self.stride)
        inside = ((fy[:, :, None] * fx[:, None, :]) >= self.ignore_fraction).float()
        hits = torch.zeros(out.mask.shape[0] * c, h, w, device=device).index_add_(0, g, inside)
        ignored = (hits > 0).reshape(out.mask.shape) & (out.cov <= 0)
        out.mask.masked_fill_(ignored, 0.0)
