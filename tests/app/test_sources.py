"""Frame sources: files, folders, strides, corrupt frames, latest-frame mode, reconnects."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from graft.app.sources import Corrupt, Source, SourceStats, open_source, reconnecting
from graft.errors import UserError
from tests.app.conftest import frame_of, write_video


def test_video_file_every_frame_and_stride(video: Path) -> None:
    src = open_source(video)
    frames = list(src)
    assert [f.index for f in frames] == list(range(12))
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    # the brightness written into frame i comes back (lossy codec: within a few levels)
    assert abs(int(frames[3].image[10, 40, 1]) - 60) < 8
    assert src.stats.read == src.stats.decoded == 12 and src.stats.dropped == 0
    assert not src.live and not src.latest

    strided = open_source(video, stride=5)
    assert [f.index for f in strided] == [0, 5, 10]
    assert strided.stats.skipped == 9 and strided.stats.decoded == 3


def test_folder_skips_corrupt_image(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), frame_of(i)[..., ::-1])
    (tmp_path / "f1b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    src = open_source(tmp_path)
    frames = list(src)
    assert len(frames) == 3 and src.stats.corrupt == 1 and src.stats.read == 3
    assert frames[2].image[0, 0, 0] == 255  # RGB, not BGR


def test_damaged_video_is_read_to_its_end(tmp_path: Path) -> None:
    path = write_video(tmp_path / "bad.mp4", 30)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for pos in rng.integers(len(data) // 8, len(data) // 2, 20):
        data[pos : pos + 8] = b"\x00\xff" * 4
    path.write_bytes(bytes(data))
    src = open_source(path)
    frames = list(src)  # must not raise
    assert src.stats.read + src.stats.corrupt >= 1
    assert len(frames) == src.stats.decoded


def test_bad_sources_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a camera index"):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(UserError, match="no images"):
        list(open_source(tmp_path))
    (tmp_path / "x.mp4").write_bytes(b"junk")
    with pytest.raises(UserError, match="cannot read the video"):
        list(open_source(tmp_path / "x.mp4"))
    with pytest.raises(UserError, match="cannot open camera 97"):
        list(open_source(97))


def test_kinds_and_live_defaults(video: Path) -> None:
    stream = open_source("rtsp://example.invalid/cam")
    assert stream.live and stream.latest
    assert open_source("7").live
    assert not open_source(video, latest=False).latest


def test_reconnect_with_backoff_after_stop_and_failure() -> None:
    """A fake network source: 3 frames, stops; fails to open; 2 frames; then gone."""
    calls = {"n": 0}

    def reader():
        calls["n"] += 1
        if calls["n"] == 1:
            yield from ((frame_of(i), float(i)) for i in range(3))
        elif calls["n"] == 3:
            yield from ((frame_of(i), float(i)) for i in range(3, 5))
        else:
            raise OSError("connection refused")

    waits: list[float] = []
    stats = SourceStats()
    items = list(reconnecting(reader, stats, backoff=0.5, max_retries=2, sleep=waits.append))
    assert len(items) == 5
    # after frames the wait is the base one; after each empty attempt it doubles
    assert waits == [0.5, 0.5, 0.5, 0.5, 1.0]
    assert stats.reconnects == 5 and calls["n"] == 6


def test_latest_frame_mode_drops_stale_frames() -> None:
    n = 40
    taken = threading.Event()

    def reader():
        yield frame_of(0), 0.0
        taken.wait(10)  # the rest arrive while the consumer is busy with frame 0
        for i in range(1, n):
            yield frame_of(i), float(i)

    src = Source("fake", reader, latest=True, live=True)
    it = iter(src)
    first = next(it)
    taken.set()
    deadline = time.monotonic() + 10
    while src.stats.read < n and time.monotonic() < deadline:  # the consumer is "busy"
        time.sleep(0.01)
    rest = list(it)
    assert first.index == 0 and rest[-1].index == n - 1  # the newest, not the next stale one
    assert len(rest) <= 2 and src.stats.dropped >= n - 3
    assert src.stats.decoded + src.stats.dropped == src.stats.read == n


def test_latest_frame_reader_error_reaches_consumer() -> None:
    def reader():
        yield frame_of(0), 0.0
        raise UserError("camera unplugged")

    with pytest.raises(UserError, match="unplugged"):
        list(Source("fake", reader, latest=True))


def test_close_stops_latest_thread() -> None:
    go = threading.Event()

    def reader():
        i = 0
        while True:
            yield frame_of(i % 5), float(i)
            i += 1
            go.wait(0.001)

    src = Source("endless", reader, latest=True)
    got = 0
    for _ in src:
        got += 1
        if got == 3:
            src.close()
            break
    assert got == 3


def test_corrupt_marker_counts() -> None:
    def reader():
        yield frame_of(0), 0.0
        yield Corrupt("bad packet")
        yield frame_of(2), 2.0

    src = Source("fake", reader)
    assert [f.index for f in src] == [0, 2]
    assert src.stats.corrupt == 1
