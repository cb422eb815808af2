"""What a video application writes: an annotated mp4 (:class:`graft.data.video.Mp4Writer`),
one JSON line per frame, and a summary with counters and per-stage latency percentiles.

Every file is written to a temporary name next to its target and renamed into place when
closed, and closing is what the pipeline does on the end of the source, on an error and on
Ctrl-C, so an interrupted run still leaves a playable mp4 and whole JSON lines (a killed
process leaves only temporaries, which the next run removes). Nothing grows with the stream's
length: frames are encoded as they come, lines are flushed, and latencies are kept as a fixed
size random sample (reservoir) for the percentiles.
"""

from __future__ import annotations

import colorsys
import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from graft.fsutil import temporary_for, write_json


class JsonlWriter:
    """One JSON object per line, flushed per line, renamed into place on close."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._tmp = temporary_for(self.path)
        self._fh: IO[str] | None = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115
        self.lines = 0

    def write(self, record: dict[str, Any]) -> None:
        assert self._fh is not None, "write after close"
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._fh.flush()
        self.lines += 1

    def close(self) -> None:
        if self._fh is None:
            return
        self._fh.close()
        self._fh = None
        os.replace(self._tmp, self.path)


class Latency:
    """Count, mean, max and percentiles of a stage's latencies in constant memory: a uniform
    random sample of at most ``keep`` values (reservoir sampling, seeded)."""

    def __init__(self, keep: int = 4096, seed: int = 0) -> None:
        self.keep = keep
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.sample: list[float] = []
        self._rng = random.Random(seed)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)
        if len(self.sample) < self.keep:
            self.sample.append(seconds)
        else:
            j = self._rng.randrange(self.count)
            if j < self.keep:
                self.sample[j] = seconds

    def summary(self) -> dict[str, float | int]:
        if not self.count:
            return {"count": 0}
        p50, p90, p99 = np.percentile(np.asarray(self.sample) * 1e3, [50, 90, 99])
        return {"count": self.count, "mean_ms": round(self.total / self.count * 1e3, 3),
                "p50_ms": round(float(p50), 3), "p90_ms": round(float(p90), 3),
                "p99_ms": round(float(p99), 3), "max_ms": round(self.max * 1e3, 3)}


def write_summary(path: str | Path, summary: dict[str, Any]) -> None:
    write_json(path, summary)


def colour(key: int) -> tuple[int, int, int]:
    """A stable, well-separated RGB colour per class index."""
    r, g, b = colorsys.hsv_to_rgb((key * 0.618034) % 1.0, 0.85, 1.0)
    return int(255 * r), int(255 * g), int(255 * b)


def annotate(image: np.ndarray, boxes: Sequence[dict[str, Any]],
             classes: Sequence[str]) -> np.ndarray:
    """A copy of an RGB frame with each hand's original box, track id, gesture and confidence
    (boxes records as the JSON lines hold them)."""
    import cv2

    out = image.copy()
    scale = max(0.4, min(out.shape[:2]) / 900)
    thick = max(1, round(scale * 2))
    for rec in boxes:
        x1, y1, x2, y2 = (round(v) for v in rec["box"])
        k = classes.index(rec["gesture"]) if rec.get("gesture") in classes else -1
        col = colour(k) if k >= 0 else (200, 200, 200)
        cv2.rectangle(out, (x1, y1), (x2, y2), col, thick)
        track = f"#{rec['track_id']} " if rec.get("track_id", -1) >= 0 else ""
        text = f"{track}{rec['gesture']} {rec['confidence']:.2f}" if rec.get("gesture") \
            else f"{track}hand {rec['score']:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else min(y2 + th + 2, out.shape[0] - base)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw, ty + base), col, -1)
        cv2.putText(out, text, (x1, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out
