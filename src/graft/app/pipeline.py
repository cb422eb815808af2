"""The hand-gesture pipeline: detect hands, track them, crop each with a margin, classify the
crop, smooth the gesture per track, and write what it saw.

Per frame: the detector's boxes (of the hand class, above a score) get ByteTrack ids; a box is
classified when it is large enough and its track is due (every ``classify_every`` frames; boxes
without a confirmed track every frame), all of a frame's crops in one classifier batch; a
track's gesture is the smoothing of its last classifications. Frames are detected in batches of
``detect_batch`` (files; live sources default to 1 so nothing waits). Nothing is kept per
frame: memory does not grow with the stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graft.app.margin import CropRule
from graft.app.models import CropClassifier, HandDetector, ModelClassifier, ModelDetector
from graft.app.outputs import JsonlWriter, Latency, annotate, write_summary
from graft.app.sources import Frame, Source, open_source
from graft.app.tracking import HandTracker, TrackLabels
from graft.data.video import Mp4Writer

log = logging.getLogger("graft.app")
STAGES = ("decode", "detect", "track", "classify", "output", "frame")


class GesturePipeline:
    """Detector -> tracker -> margin crop -> classifier -> per-track smoothing.

    ``detector``/``classifier``: :class:`~graft.app.models.ModelDetector` /
    :class:`~graft.app.models.ModelClassifier` (see :meth:`from_files`) or any object with
    their methods. ``crop``: the crop rule, or a mapping of settings that override the rule
    the classifier's model file records (``input.crop``; else square with ratio 1.1).
    ``tracker`` None: no tracking (every box classified every frame)."""

    def __init__(self, detector: HandDetector, classifier: CropClassifier, *,
                 crop: CropRule | Mapping[str, Any] | None = None,
                 tracker: HandTracker | None = None,
                 labels: TrackLabels | None = None, detect_batch: int = 1) -> None:
        self.detector = detector
        self.classifier = classifier
        self.classes = list(classifier.classes)
        model_input = getattr(classifier, "model_input", None)
        self.crop = crop if isinstance(crop, CropRule) else \
            CropRule.from_manifest(model_input, **dict(crop or {}))
        self.tracker = tracker
        self.labels = labels if labels is not None else TrackLabels()
        self.detect_batch = max(1, int(detect_batch))
        self.latency = {s: Latency() for s in STAGES}
        self.counts = {"frames": 0, "boxes": 0, "classified": 0}

    @classmethod
    def from_files(cls, detector: str | Path, classifier: str | Path, *,
                   hand_classes: Sequence[str] | None = None, threshold: float = 0.3,
                   detector_device: str = "auto", classifier_device: str = "auto",
                   detector_batch: int | None = None, classifier_batch: int | None = None,
                   key: str | None = None, tracker: HandTracker | bool = True,
                   **options: Any
                   ) -> GesturePipeline:
        """A pipeline over two model files (any graft model: ``.graft``, ONNX, engine)."""
        det = ModelDetector.load(detector, classes=hand_classes, threshold=threshold,
                                 device=detector_device, batch_size=detector_batch, key=key)
        clf = ModelClassifier.load(classifier, device=classifier_device,
                                   batch_size=classifier_batch, key=key)
        chosen = HandTracker() if tracker is True else (tracker or None)
        return cls(det, clf, tracker=chosen, **options)

    # -- one frame ----------------------------------------------------------------------------
    def _timed(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.latency[stage].add(now - start)
        return now

    def process(self, frames: Sequence[Frame]) -> list[dict[str, Any]]:
        """The JSON record of each frame (boxes, scores, track ids, gestures, probabilities)."""
        if not frames:
            return []
        t = time.perf_counter()
        found = self.detector.detect([f.image for f in frames])
        per_frame = (time.perf_counter() - t) / len(frames)
        for _ in frames:
            self.latency["detect"].add(per_frame)
        return [self._frame(f, boxes, scores) for f, (boxes, scores) in
                zip(frames, found, strict=True)]

    def _frame(self, frame: Frame, boxes: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        t = time.perf_counter()
        n = self.counts["frames"]
        ids = self.tracker.update(boxes, scores) if self.tracker is not None \
            else np.full(len(boxes), -1, np.int64)
        self.labels.seen(ids, n)
        t = self._timed("track", t)
        todo = [i for i, box in enumerate(boxes)
                if self.crop.classifiable(box) and self.labels.due(int(ids[i]), n)]
        probs = self.classifier.probs([self.crop.crop(frame.image, boxes[i]) for i in todo]) \
            if todo else np.zeros((0, len(self.classes)))
        fresh = dict(zip(todo, probs, strict=True))
        for i, p in fresh.items():
            self.labels.add(int(ids[i]), p, n)
        if todo:
            self._timed("classify", t)
        records = []
        h, w = frame.image.shape[:2]
        for i, box in enumerate(boxes):
            tid = int(ids[i])
            label = self.labels.label(tid) if tid >= 0 else None
            if label is None and i in fresh:  # untracked: this frame's answer
                k = int(fresh[i].argmax())
                label = (k, float(fresh[i][k]), fresh[i])
            rec: dict[str, Any] = {
                "box": [round(float(v), 1) for v in box], "score": round(float(scores[i]), 4),
                "track_id": tid, "crop": list(self.crop.expand(box, w, h)),
                "classified": i in fresh, "gesture": None, "confidence": None, "probs": None}
            if label is not None:
                k, conf, mean = label
                rec.update(gesture=self.classes[k], confidence=round(conf, 4),
                           probs={c: round(float(p), 4) for c, p in zip(self.classes, mean,
                                                                        strict=True)})
            records.append(rec)
        self.counts["frames"] += 1
        self.counts["boxes"] += len(boxes)
        self.counts["classified"] += len(fresh)
        return {"frame": frame.index, "time": round(frame.time, 4), "width": w, "height": h,
                "hands": records}

    # -- a whole source -----------------------------------------------------------------------
    def _batches(self, source: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
        batch: list[Frame] = []
        t = time.perf_counter()
        for frame in source:
            self._timed("decode", t)
            batch.append(frame)
            if len(batch) == size:
                yield batch
                batch = []
            t = time.perf_counter()
        if batch:
            yield batch

    def run(self, source: Source | str | int | Path, output_dir: str | Path, *,
            video: bool = True, fps: float | None = None, max_frames: int | None = None,
            on_frame: Any = None) -> dict[str, Any]:
        """Run over a source and write ``frames.jsonl``, ``annotated.mp4`` (``video``) and
        ``summary.json`` into ``output_dir``; returns the summary. Ctrl-C, the end of the
        source and errors all close the files properly (``summary["stopped"]`` says why)."""
        src = source if isinstance(source, Source) else open_source(source)
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        jsonl = JsonlWriter(out / "frames.jsonl")
        mp4 = Mp4Writer(out / "annotated.mp4", fps or 30.0) if video else None
        size = 1 if src.live else self.detect_batch
        stopped, start = "end of source", time.perf_counter()
        try:
            for batch in self._batches(src, size):
                t0 = time.perf_counter()
                for frame, rec in zip(batch, self.process(batch), strict=True):
                    t = time.perf_counter()
                    jsonl.write(rec)
                    if mp4 is not None:
                        mp4.write(annotate(frame.image, rec["hands"], self.classes))
                    self._timed("output", t)
                    if on_frame is not None:
                        on_frame(rec)
                per_frame = (time.perf_counter() - t0) / len(batch)
                for _ in batch:  # one sample per frame, as every stage counts
                    self.latency["frame"].add(per_frame)
                if max_frames is not None and self.counts["frames"] >= max_frames:
                    stopped = "max_frames"
                    break
        except KeyboardInterrupt:
            stopped = "interrupted"
            log.warning("interrupted: closing the output files")
        except BaseException:
            stopped = "error"
            raise
        finally:
            src.close()
            jsonl.close()
            if mp4 is not None:
                mp4.close()
            summary = self.summary(src, time.perf_counter() - start, stopped)
            write_summary(out / "summary.json", summary)
        return summary

    def summary(self, source: Source, seconds: float, stopped: str) -> dict[str, Any]:
        frames = self.counts["frames"]
        return {
            "source": source.name, "stopped": stopped, **source.stats.as_dict(),
            "processed": frames, "boxes": self.counts["boxes"],
            "classified": self.counts["classified"], "seconds": round(seconds, 3),
            "fps": round(frames / seconds, 2) if seconds > 0 else None,
            "latency": {s: lat.summary() for s, lat in self.latency.items()},
            "crop": {"mode": self.crop.mode, "value": self.crop.value,
                     "square": self.crop.square, "border": self.crop.border,
                     "min_size": self.crop.min_size},
            "classes": self.classes,
            "backends": {"detector": getattr(self.detector, "backend", None),
                         "classifier": getattr(self.classifier, "backend", None)},
        }
