"""Tracks and per-track gestures: roboflow ``trackers``' ByteTrack gives each box a track id,
and :class:`TrackLabels` keeps, per track, the classifier's last N probability vectors.

Why a track memory: a gesture is held for many frames, so the label of a track is smoothed over
its last ``window`` classifications (``majority`` of the top classes, or the top class of the
``mean`` probabilities), and the classifier need only run every ``every`` frames per track (the
label is reused in between, DeepStream's asynchronous secondary inference). Tracks not seen for
``max_age`` frames are forgotten, so memory stays flat on an endless stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from graft.errors import UserError

Smoothing = Literal["majority", "mean"]


class HandTracker:
    """ByteTrack over one source's boxes; ``update`` returns a track id per input box (-1 for
    a box not (yet) on a confirmed track)."""

    def __init__(self, *, frame_rate: float = 30.0, lost_track_buffer: int = 30,
                 activation_threshold: float = 0.3, high_threshold: float = 0.5,
                 min_iou: float = 0.1, min_frames: int = 1) -> None:
        try:
            from trackers import ByteTrackTracker
        except ImportError:
            raise UserError("the gesture app's tracker needs roboflow trackers, not installed",
                            "pip install 'graft[app]'") from None

        self._tracker = ByteTrackTracker(
            lost_track_buffer=lost_track_buffer, frame_rate=frame_rate,
            track_activation_threshold=activation_threshold,
            minimum_consecutive_frames=min_frames, minimum_iou_threshold=min_iou,
            high_conf_det_threshold=high_threshold)

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        import supervision as sv

        n = len(boxes)
        ids = np.full(n, -1, dtype=np.int64)
        dets = sv.Detections(xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                             confidence=np.asarray(scores, np.float32).reshape(-1),
                             data={"index": np.arange(n)})
        out = self._tracker.update(dets)
        if len(out) and out.tracker_id is not None:
            ids[np.asarray(out.data["index"], dtype=np.int64)] = out.tracker_id
        return ids


@dataclass
class _Track:
    history: deque[np.ndarray]
    last_classified: int
    last_seen: int


@dataclass
class TrackLabels:
    """Per-track classifier outputs and the smoothed gesture; see the module docstring."""

    window: int = 5
    smoothing: Smoothing = "majority"
    every: int = 1
    max_age: int = 150
    _tracks: dict[int, _Track] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.window < 1 or self.every < 1:
            raise UserError(f"smoothing window ({self.window}) and classify interval "
                            f"({self.every}) must be >= 1")
        if self.smoothing not in ("majority", "mean"):
            raise UserError(f"smoothing must be majority or mean, got {self.smoothing!r}")

    def __len__(self) -> int:
        return len(self._tracks)

    def due(self, track_id: int, frame: int) -> bool:
        """Whether a box on this track must be classified on ``frame`` (always for -1)."""
        t = self._tracks.get(int(track_id))
        return track_id < 0 or t is None or not t.history \
            or frame - t.last_classified >= self.every

    def add(self, track_id: int, probs: np.ndarray, frame: int) -> None:
        """Record a classification of the track's box on ``frame``."""
        if track_id < 0:
            return
        t = self._tracks.get(int(track_id))
        if t is None:
            t = self._tracks[int(track_id)] = _Track(deque(maxlen=self.window), frame, frame)
        t.history.append(np.asarray(probs, dtype=np.float32))
        t.last_classified = t.last_seen = frame

    def seen(self, track_ids: Iterable[int], frame: int) -> None:
        """Mark tracks present on ``frame`` and forget those gone for ``max_age`` frames."""
        for tid in track_ids:
            t = self._tracks.get(int(tid))
            if t is not None:
                t.last_seen = frame
        for tid in [k for k, t in self._tracks.items() if frame - t.last_seen > self.max_age]:
            del self._tracks[tid]

    def label(self, track_id: int) -> tuple[int, float, np.ndarray] | None:
        """(class index, confidence, smoothed probabilities) of a track; None if never
        classified. Majority: the most frequent top class (ties: the higher mean probability),
        its confidence the mean probability of that class; mean: top of the mean vector."""
        t = self._tracks.get(int(track_id))
        if t is None or not t.history:
            return None
        stack = np.stack(t.history)
        mean = stack.mean(0)
        if self.smoothing == "mean":
            k = int(mean.argmax())
        else:
            votes = np.bincount(stack.argmax(1), minlength=stack.shape[1])
            best = np.flatnonzero(votes == votes.max())
            k = int(best[mean[best].argmax()])
        return k, float(mean[k]), mean
