"""The gesture pipeline on generated streams: labels per track, classify interval, minimum
size, corrupt frames, Ctrl-C, bounded memory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from graft.app.margin import CropRule
from graft.app.pipeline import GesturePipeline
from graft.app.sources import Corrupt, Source, open_source
from graft.app.tracking import HandTracker, TrackLabels
from tests.app.conftest import BlobDetector, ColourClassifier, blob_frame


def stream(n: int, corrupt_at: int | None = None, interrupt_at: int | None = None, **kw):
    def reader():
        for i in range(n):
            if i == interrupt_at:
                raise KeyboardInterrupt
            if i == corrupt_at:
                yield Corrupt("broken packet")
                continue
            yield blob_frame(i, **kw)[0], i / 30
    return Source("generated", reader)


def pipeline(**kw) -> GesturePipeline:
    return GesturePipeline(BlobDetector(), ColourClassifier(), tracker=HandTracker(), **kw)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_every_hand_gets_its_gesture_and_a_stable_track(tmp_path: Path) -> None:
    p = pipeline(crop=CropRule("ratio", 1.2))
    summary = p.run(stream(20), tmp_path, fps=10)
    recs = lines(tmp_path / "frames.jsonl")
    assert len(recs) == 20 and summary["processed"] == 20 and summary["stopped"] == "end of source"
    for i, rec in enumerate(recs):
        truth = dict((tuple(b), name) for name, b in blob_frame(i)[1])
        got = {tuple(h["box"]): h["gesture"] for h in rec["hands"]}
        assert got == {tuple(float(v) for v in b): n for b, n in truth.items()}
        assert all(set(h["probs"]) == {"red", "green", "blue"} for h in rec["hands"])
    ids = {h["gesture"]: set() for h in recs[0]["hands"]}
    for rec in recs[1:]:
        for h in rec["hands"]:
            ids[h["gesture"]].add(h["track_id"])
    assert all(len(v) == 1 and min(v) >= 0 for v in ids.values())
    assert len(list(open_source(tmp_path / "annotated.mp4"))) == 20
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["read"] == saved["decoded"] == 20 and saved["fps"] > 0
    assert {"decode", "detect", "track", "classify", "output", "frame"} <= set(saved["latency"])
    assert saved["latency"]["detect"]["count"] == 20


def test_classify_every_n_frames_reuses_the_track_label(tmp_path: Path) -> None:
    p = pipeline(labels=TrackLabels(every=5))
    p.run(stream(21), tmp_path, video=False)
    recs = lines(tmp_path / "frames.jsonl")
    classified = [sum(h["classified"] for h in r["hands"]) for r in recs]
    # frame 0: two unconfirmed tracks; from frame 1 each track every 5th frame
    assert classified[:2] == [2, 2] and classified[2:6] == [0] * 4 and classified[6] == 2
    assert p.classifier.seen == sum(classified) == p.counts["classified"]
    assert all(h["gesture"] in ("red", "blue") for r in recs for h in r["hands"])
    assert not (tmp_path / "annotated.mp4").exists()


def test_small_boxes_are_not_classified(tmp_path: Path) -> None:
    p = pipeline(crop=CropRule(min_size=8))
    p.run(stream(3, small=True), tmp_path, video=False)
    for rec in lines(tmp_path / "frames.jsonl"):
        small = [h for h in rec["hands"] if h["box"][2] - h["box"][0] < 8]
        assert len(small) == 1 and small[0]["gesture"] is None and not small[0]["classified"]
    assert all(min(s) >= 8 for s in p.classifier.sizes)


def test_corrupt_frame_is_skipped_and_counted(tmp_path: Path) -> None:
    summary = pipeline().run(stream(10, corrupt_at=4), tmp_path, video=False)
    recs = lines(tmp_path / "frames.jsonl")
    assert [r["frame"] for r in recs] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert summary["corrupt"] == 1 and summary["processed"] == 9


def test_ctrl_c_leaves_valid_files(tmp_path: Path) -> None:
    summary = pipeline().run(stream(100, interrupt_at=8), tmp_path)
    assert summary["stopped"] == "interrupted"
    assert len(lines(tmp_path / "frames.jsonl")) == 8
    assert len(list(open_source(tmp_path / "annotated.mp4"))) == 8
    assert json.loads((tmp_path / "summary.json").read_text())["processed"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.mp4", "frames.jsonl",
                                                          "summary.json"]


@pytest.mark.slow
def test_memory_stays_flat_on_a_long_stream(tmp_path: Path) -> None:
    """1,000 frames of 192x144, video written: the resident memory after 200 frames and after
    1,000 is the same to within 25 MB (keeping the frames would add 66 MB, their annotated
    copies as much again)."""
    marks: dict[int, int] = {}

    def on_frame(rec):
        if rec["frame"] in (200, 999):
            marks[rec["frame"]] = rss()

    pipeline().run(stream(1000, height=144, width=192), tmp_path, on_frame=on_frame)
    assert marks[999] - marks[200] < 25e6
    assert len(lines(tmp_path / "frames.jsonl")) == 1000


def rss() -> int:
    """Resident set size in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def test_detect_batches_for_files(tmp_path: Path) -> None:
    sizes: list[int] = []
    det = BlobDetector()
    base = det.detect
    det.detect = lambda frames: (sizes.append(len(frames)), base(frames))[1]
    p = GesturePipeline(det, ColourClassifier(), tracker=HandTracker(), detect_batch=4)
    summary = p.run(stream(10), tmp_path, video=False)
    assert sizes == [4, 4, 2]
    # latencies are per frame in every stage, batched or not
    assert {s["count"] for s in summary["latency"].values()} == {10}
    assert len(lines(tmp_path / "frames.jsonl")) == 10
    assert np.all(np.diff([r["frame"] for r in lines(tmp_path / "frames.jsonl")]) == 1)


def test_live_stream_that_stops_and_comes_back_at_another_size(tmp_path: Path) -> None:
    """A fake network source: 6 frames, the connection drops, 6 more at twice the size."""
    from graft.app.sources import reconnecting

    calls = {"n": 0}

    def session():
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError("gone")
        scale = calls["n"]
        for i in range(6):
            yield blob_frame(i, 96 * scale, 128 * scale)[0], float(i)

    src = Source("rtsp://fake", lambda: None, latest=False, live=True)
    src.reader = lambda: reconnecting(session, src.stats, max_retries=1, sleep=lambda s: None)
    sizes: list[int] = []
    det = BlobDetector()
    base = det.detect
    det.detect = lambda frames: (sizes.append(len(frames)), base(frames))[1]
    p = GesturePipeline(det, ColourClassifier(), tracker=HandTracker(), detect_batch=8)
    summary = p.run(src, tmp_path)
    assert summary["processed"] == 12 and summary["reconnects"] == 3
    assert set(sizes) == {1}  # live sources are not batched: no frame waits for others
    recs = lines(tmp_path / "frames.jsonl")
    assert [r["width"] for r in recs] == [128] * 6 + [256] * 6
    assert all(h["gesture"] in ("red", "blue") for r in recs for h in r["hands"])
    assert [f.image.shape for f in open_source(tmp_path / "annotated.mp4")] == [(96, 128, 3)] * 12
