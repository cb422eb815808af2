"""The label round trip: ground truth -> targets -> the decoder -> the evaluator.

API::

    result = round_trip(encoder, decoder, truths, class_names, rules=spec.class_rules())
    result.mean_ap      # near 1.0 when rasterizer, clustering and evaluator agree

The targets stand in for a perfect network (coverage as the sigmoid output, box distances as
the box head), so the mAP measures only what the encoding and the post-processing lose; this
is what ``check_labels`` reports. Objects are lost, with TLT's default parameters, when

- a same-class object lies wholly in the dead zone of one drawn after it (lower in the image):
  all its cells are taken (one object per cell and class is the gridbox design);
- two same-class boxes have IoU above 1 - dbscan_eps (0.87): DBSCAN merges them;
- an object is ``minimum_bounding_box_height`` (20 px) tall or less: it is filtered out;
- an object's coverage sum, cut by the image border or by neighbours, is below
  ``dbscan_min_samples`` (1): DBSCAN has no core point for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from graft.metrics.detection import (
    ClassRule,
    DetectionEvaluation,
    GroundTruth,
    Mode,
    evaluate_detections,
)
from graft.tasks.detectnet_v2.decoder import DetectionDecoder
from graft.tasks.detectnet_v2.encoder import TargetEncoder


def shrink_truth(truth: GroundTruth, sx: float, sy: float) -> GroundTruth:
    """``truth`` with its boxes divided by (sx, sy): from image to network-input pixels."""
    scale = np.array([sx, sy, sx, sy])
    return GroundTruth(truth.boxes / scale, truth.labels, truth.ignored, truth.regions / scale)


def round_trip(encoder: TargetEncoder, decoder: DetectionDecoder, truths: Sequence[GroundTruth],
               class_names: Sequence[str], *,
               rules: Mapping[str, ClassRule] | ClassRule | None = None,
               mode: Mode = "integrate", batch_size: int = 32,
               scales: Sequence[tuple[float, float]] | None = None) -> DetectionEvaluation:
    """Evaluate the decoded targets of ``truths`` against ``truths``.

    ``scales``: per image (sx, sy) = original / network-input size, for ``truths`` in original
    image pixels (as training resizes them): the targets are drawn from the truths shrunk to
    the input, and the detections scaled back before scoring, as validation scores them."""
    detections = []
    for start in range(0, len(truths), batch_size):
        part = list(truths[start:start + batch_size])
        factors = list(scales[start:start + batch_size]) if scales is not None \
            else [(1.0, 1.0)] * len(part)
        shrunk = [shrink_truth(t, sx, sy) for t, (sx, sy) in zip(part, factors, strict=True)]
        targets = encoder.encode_truths(shrunk)
        b, c, _, h, w = targets.bbox.shape
        decoded = decoder(targets.cov, targets.bbox.reshape(b, 4 * c, h, w))
        detections += [d.scaled(sx, sy) for d, (sx, sy) in zip(decoded, factors, strict=True)]
    return evaluate_detections(truths, detections, class_names, rules=rules, mode=mode)
