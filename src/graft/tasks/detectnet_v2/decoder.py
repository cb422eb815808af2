"""Post-processing: DetectNet_v2's coverage and box maps -> detections per image.

API::

    decode = DetectionDecoder(clustering=[ClusteringConfig()] * C, input_size=(384, 1248),
                              rasterizer=[RasterClass()] * C)      # for the normalized score
    decode = DetectionDecoder.from_spec(spec)                       # the same from a spec
    dets = decode(cov, bbox)   # cov (B, C, h, w) probabilities, bbox (B, 4C, h, w) raw
    dets[0].boxes, dets[0].labels, dets[0].scores, dets[0].confidences

The result is one :class:`graft.metrics.detection.Detections` per image, boxes x1, y1, x2, y2
in network-input pixels (``Detections.scaled`` maps them to the original image), sorted by
score; the evaluator takes them as they are.

Per image and class (``ClusteringConfig`` of the class; TLT's algorithm):

1. Every cell's box is decoded (:func:`graft.tasks.detectnet_v2.encoder.decode_boxes`) and the
   cells with coverage > ``coverage_threshold`` are kept.
2. ``dbscan``: scikit-learn's DBSCAN on the precomputed distance 1 - IoU between the kept
   cells' boxes (IoU with TLT's 1e-5 in the denominator), eps ``dbscan_eps``,
   ``min_samples = max(int(dbscan_min_samples), 1)``, each cell weighted by its coverage, so a
   cluster needs cells whose coverage sums to at least min_samples within eps. Noise is dropped.
   A cluster's box is the coverage-weighted mean of its cells' boxes; its confidence is the
   sum of their coverage (TLT's; grows with the object's size).
3. ``nms``: greedy NMS (torchvision) at ``nms_iou_threshold`` over the kept cells, confidence
   = the cell's coverage; cells not above ``nms_confidence_threshold`` are dropped.
4. ``hybrid``: DBSCAN as in 2 (with its thresholds), then NMS as in 3 over the cells of the
   surviving clusters (TLT allows it only at inference; here it works everywhere).
5. Detections with height <= ``minimum_bounding_box_height`` are dropped in every mode (TLT's
   NMS path forgets this filter), and DBSCAN clusters with confidence below
   ``dbscan_confidence_threshold``.

Scores: ``confidences`` is TLT's (coverage sum for DBSCAN, cell coverage for NMS). ``scores``
is in [0, 1] and comparable across object sizes: for a DBSCAN cluster its coverage sum divided
by the coverage a perfectly predicted object of that box carries (the area of its coverage
ellipse in cells, :func:`graft.tasks.detectnet_v2.encoder.coverage_mass`), capped at 1; for
NMS the cell's coverage. AP is computed on ``scores``; thresholds in the spec apply to TLT's
confidences. Without ``rasterizer`` the score is the cluster's mean cell coverage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from graft.metrics.detection import Detections, iou_matrix
from graft.tasks.detectnet_v2.encoder import coverage_mass, decode_boxes

if TYPE_CHECKING:
    from graft.tasks.detectnet_v2.sections import BboxObjective, ClusteringConfig, RasterClass
    from graft.tasks.detectnet_v2.spec import DetectNetSpec

IOU_EPSILON = 1e-5  # TLT's regularizer of the clustering IoU


def dbscan_labels(boxes: np.ndarray, weights: np.ndarray, eps: float, min_samples: int
                  ) -> np.ndarray:
    """Cluster index of each cell (-1 noise): DBSCAN on 1 - IoU, weighted by coverage."""
    from sklearn.cluster import DBSCAN

    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    distance = 1.0 - iou_matrix(boxes, boxes, IOU_EPSILON)
    np.clip(distance, 0.0, None, out=distance)
    return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(
        distance, sample_weight=weights)


def cluster_means(boxes: np.ndarray, weights: np.ndarray, labels: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster (labels >= 0): coverage-weighted mean box (K, 4), coverage sum (K,) and cell
    count (K,), clusters in label order."""
    keep = labels >= 0
    lab, w, b = labels[keep], weights[keep], boxes[keep]
    k = int(lab.max()) + 1 if len(lab) else 0
    total = np.bincount(lab, w, minlength=k)
    sums = np.stack([np.bincount(lab, w * b[:, i], minlength=k) for i in range(4)], axis=1)
    return sums / np.maximum(total, 1e-12)[:, None], total, np.bincount(lab, minlength=k)


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    from torchvision.ops import nms

    if not len(boxes):
        return np.zeros(0, dtype=np.int64)
    return nms(torch.from_numpy(boxes).double(), torch.from_numpy(scores).double(),
               iou).numpy()


class DetectionDecoder:
    """Turns network outputs into per-image detections (see the module docstring)."""

    def __init__(self, clustering: Sequence[ClusteringConfig], input_size: tuple[int, int], *,
                 rasterizer: Sequence[RasterClass] | None = None, deadzone_radius: float = 0.67,
                 objective: BboxObjective | None = None) -> None:
        self.clustering = list(clustering)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.rasterizer = list(rasterizer) if rasterizer is not None else None
        if self.rasterizer is not None and len(self.rasterizer) != len(self.clustering):
            raise ValueError("one rasterizer entry per class is needed")
        self.deadzone = deadzone_radius
        self.scale = objective.scale if objective is not None else 35.0
        self.offset = objective.offset if objective is not None else 0.5

    @classmethod
    def from_spec(cls, spec: DetectNetSpec) -> DetectionDecoder:
        """The decoder a :class:`~graft.tasks.detectnet_v2.spec.DetectNetSpec` describes."""
        return cls(spec.clustering_configs(), spec.input_size,
                   rasterizer=spec.rasterizer_classes(),
                   deadzone_radius=spec.bbox_rasterizer_config.deadzone_radius,
                   objective=spec.model.objective_set.bbox)

    @property
    def num_classes(self) -> int:
        return len(self.clustering)

    def __call__(self, cov: torch.Tensor, bbox: torch.Tensor) -> list[Detections]:
        b, c, h, w = cov.shape
        if c != self.num_classes:
            raise ValueError(f"{c} coverage channels for {self.num_classes} classes")
        boxes = decode_boxes(bbox.reshape(b, c, 4, h, w), self.input_size, scale=self.scale,
                             offset=self.offset)
        cov_np = cov.detach().float().reshape(b, c, h * w).cpu().numpy()
        box_np = boxes.detach().reshape(b, c, 4, h * w).permute(0, 1, 3, 2).cpu().numpy()
        thresholds = np.array([cfg.coverage_threshold for cfg in self.clustering])
        keep = cov_np > thresholds[None, :, None]  # (B, C, hw)
        out = []
        for i in range(b):
            parts = [self._class(box_np[i, k][keep[i, k]].astype(np.float64),
                                 cov_np[i, k][keep[i, k]].astype(np.float64), k)
                     for k in range(c) if keep[i, k].any()]
            out.append(_merge(parts))
        return out

    def _class(self, boxes: np.ndarray, cov: np.ndarray, k: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cfg = self.clustering[k]
        if cfg.clustering_algorithm == "nms":
            det_boxes, conf, score = self._nms(boxes, cov, cfg)
        else:
            det_boxes, conf, score, members = self._dbscan(boxes, cov, k, cfg)
            if cfg.clustering_algorithm == "hybrid":
                det_boxes, conf, score = self._nms(boxes[members], cov[members], cfg)
        tall = det_boxes[:, 3] - det_boxes[:, 1] > cfg.minimum_bounding_box_height
        return (det_boxes[tall], np.full(int(tall.sum()), k, dtype=np.int64), score[tall],
                conf[tall])

    def _dbscan(self, boxes: np.ndarray, cov: np.ndarray, k: int, cfg: ClusteringConfig):
        labels = dbscan_labels(boxes, cov, cfg.dbscan_eps, cfg.min_samples)
        means, total, count = cluster_means(boxes, cov, labels)
        tall = means[:, 3] - means[:, 1] > cfg.minimum_bounding_box_height
        ok = (total >= cfg.dbscan_confidence_threshold) & tall & (count > 0)
        members = np.zeros(len(labels), bool)
        members[labels >= 0] = ok[labels[labels >= 0]]
        means, total, count = means[ok], total[ok], count[ok]
        if self.rasterizer is not None:
            mass = coverage_mass(torch.from_numpy(means).float(),
                                 torch.full((len(means),), k, dtype=torch.int64),
                                 self.rasterizer, self.deadzone).numpy()
            score = np.minimum(total / np.maximum(mass, 1e-12), 1.0)
        else:
            score = total / np.maximum(count, 1)
        return means, total, score, members

    def _nms(self, boxes: np.ndarray, cov: np.ndarray, cfg: ClusteringConfig):
        kept = _nms(boxes, cov, cfg.nms_iou_threshold)
        kept = kept[cov[kept] > cfg.nms_confidence_threshold]
        return boxes[kept], cov[kept], cov[kept]


def _merge(parts: list[tuple[np.ndarray, ...]]) -> Detections:
    if not parts:
        return Detections.of(np.zeros((0, 4)), [], [], [])
    boxes, labels, scores, conf = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.argsort(-scores, kind="stable")
    return Detections(boxes[order], labels[order], scores[order], conf[order])
