"""Frame sources for the video applications: a video file, a folder of images, a camera index or
a network stream (RTSP/HTTP/...), as one iterator of :class:`Frame` with counters.

Files are read frame by frame (every ``stride``-th frame kept). Live sources (camera, stream)
default to latest-frame mode: a reader thread keeps only the newest frame, so a slow pipeline
drops stale frames instead of falling behind (counted as ``dropped``). A network stream that
stops or fails is reopened with exponential back-off. Frames that cannot be decoded (a corrupt
image, a broken packet) are logged, counted and skipped; they never end the run.

Video decoding uses PyAV (FFmpeg); images and cameras use OpenCV.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graft.errors import UserError

log = logging.getLogger("graft.app")

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://",
                  "srt://")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class Frame:
    """One decoded RGB frame: ``index`` counts every frame the source produced (stride and
    drops included), ``time`` is the stream's timestamp in seconds (or the wall clock)."""

    index: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    time: float


@dataclass
class Corrupt:
    """What a reader yields for a frame it could not decode (the reader goes on after it)."""

    reason: str


@dataclass
class SourceStats:
    """read: frames decoded from the source; decoded: frames handed on; skipped: left out by
    the stride; dropped: stale frames replaced by newer ones (latest-frame mode); corrupt:
    frames that could not be decoded; reconnects: times a stopped stream was reopened."""

    read: int = 0
    decoded: int = 0
    skipped: int = 0
    dropped: int = 0
    corrupt: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


Item = tuple[np.ndarray, float] | Corrupt
Reader = Callable[[], Iterable[Item]]


# -- readers: one pass over a source, yielding (rgb, time) or Corrupt --------------------------
def video_frames(url: str, options: dict[str, str] | None = None,
                 timeout: float | None = None) -> Iterator[Item]:
    """Decode a video file or stream with PyAV; a packet that fails to decode is Corrupt."""
    import av

    try:
        container = av.open(url, options=options or {}, timeout=timeout)
    except (av.FFmpegError, OSError) as exc:
        raise OSError(f"cannot open {url}: {exc}") from None
    try:
        if not container.streams.video:
            raise OSError(f"{url} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = time.monotonic()
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as exc:  # a stream cut off, a truncated file: its end
                log.warning("%s: reading stopped: %s", url, exc)
                return
            try:
                decoded = packet.decode()
            except av.FFmpegError as exc:
                yield Corrupt(f"undecodable packet at pts {packet.pts}: {exc}")
                continue
            for f in decoded:
                t = float(f.time) if f.time is not None else time.monotonic() - start
                yield f.to_ndarray(format="rgb24"), t
    finally:
        container.close()


def folder_frames(folder: Path) -> Iterator[Item]:
    """The images of a folder in name order; an unreadable file is Corrupt."""
    import cv2

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"the folder {folder} has no images ({', '.join(IMAGE_SUFFIXES)})",
                        "point the source at a folder of frames, a video file or a stream URL")
    for i, path in enumerate(files):
        data = np.fromfile(path, dtype=np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if bgr is None:
            yield Corrupt(f"cannot decode {path.name}")
            continue
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), float(i)


def camera_frames(index: int) -> Iterator[Item]:
    """Frames of a local camera (OpenCV); ends when the camera stops delivering."""
    import cv2

    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise UserError(f"cannot open camera {index}",
                        "check the camera index (0 is the first camera) and that it is free")
    start = time.monotonic()
    try:
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.monotonic() - start
    finally:
        cap.release()


def reconnecting(reader: Reader, stats: SourceStats, *, backoff: float = 0.5,
                 max_backoff: float = 10.0, max_retries: int | None = 5,
                 sleep: Callable[[float], None] = time.sleep,
                 stop: threading.Event | None = None) -> Iterator[Item]:
    """Read ``reader`` again whenever it ends or fails, waiting ``backoff`` seconds, doubled
    after each attempt that produced nothing (at most ``max_backoff``) and reset once frames
    flow; gives up after ``max_retries`` attempts in a row without a frame (None: never)."""
    wait, failures = backoff, 0
    while stop is None or not stop.is_set():
        got = False
        try:
            for item in reader():
                got = True
                yield item
        except OSError as exc:
            log.warning("source failed: %s", exc)
        failures = 0 if got else failures + 1
        wait = backoff if got else wait
        if max_retries is not None and failures > max_retries:
            log.warning("source gave nothing after %d reconnects; stopping", max_retries)
            return
        log.info("source stopped; reconnecting in %.1f s", wait)
        sleep(wait)
        if not got:
            wait = min(wait * 2, max_backoff)
        stats.reconnects += 1


# -- the source ---------------------------------------------------------------------------------
@dataclass
class Source:
    """An iterable of :class:`Frame` over a reader, with stride, latest-frame mode and stats.

    ``latest``: keep only the newest frame while the consumer is busy (live sources)."""

    name: str
    reader: Reader
    stride: int = 1
    latest: bool = False
    live: bool = False
    stats: SourceStats = field(default_factory=SourceStats)

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise UserError(f"frame stride must be >= 1, got {self.stride}")
        self._stop = threading.Event()

    def close(self) -> None:
        """Stop reading (the latest-frame thread ends at its next frame)."""
        self._stop.set()

    def _strided(self) -> Iterator[Frame]:
        index = -1
        for item in self.reader():
            if self._stop.is_set():
                return
            index += 1
            if isinstance(item, Corrupt):
                self.stats.corrupt += 1
                log.warning("%s: frame %d skipped: %s", self.name, index, item.reason)
                continue
            self.stats.read += 1
            if index % self.stride:
                self.stats.skipped += 1
                continue
            image, t = item
            yield Frame(index, np.ascontiguousarray(image), t)

    def __iter__(self) -> Iterator[Frame]:
        frames = _latest(self._strided(), self.stats, self._stop) if self.latest \
            else self._strided()
        for frame in frames:
            self.stats.decoded += 1
            yield frame


def _latest(frames: Iterator[Frame], stats: SourceStats, stop: threading.Event
            ) -> Iterator[Frame]:
    """Frames from a reader thread through a one-slot buffer: a frame not yet taken when the
    next arrives is dropped, so the consumer always gets the newest one."""
    cond = threading.Condition()
    slot: list[Frame] = []
    state: dict[str, Any] = {"done": False, "error": None}

    def produce() -> None:
        try:
            for frame in frames:
                with cond:
                    if slot:
                        slot.clear()
                        stats.dropped += 1
                    slot.append(frame)
                    cond.notify()
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer
            state["error"] = exc
        finally:
            with cond:
                state["done"] = True
                cond.notify()

    thread = threading.Thread(target=produce, name="graft-source", daemon=True)
    thread.start()
    try:
        while True:
            with cond:
                while not slot and not state["done"]:
                    cond.wait(0.5)
                if slot:
                    frame = slot.pop()
                elif state["error"] is not None:
                    raise state["error"]
                else:
                    return
            yield frame
    finally:
        stop.set()


def open_source(source: str | int | Path, *, stride: int = 1, latest: bool | None = None,
                reconnect: bool | None = None, max_retries: int | None = 5,
                backoff: float = 0.5, timeout: float = 10.0) -> Source:
    """A :class:`Source` for a camera index, a stream URL, a folder of images or a video file.

    ``latest`` and ``reconnect`` default to on for live sources (cameras, streams), off for
    files and folders."""
    text = str(source)
    if isinstance(source, int) or text.isdigit():
        index = int(text)
        return Source(f"camera {index}", lambda: camera_frames(index), stride,
                      latest is not False, live=True)
    if text.lower().startswith(STREAM_SCHEMES):
        opts = {"rtsp_transport": "tcp"} if text.lower().startswith("rtsp") else {}
        src = Source(text, lambda: video_frames(text, opts, timeout), stride,
                     latest is not False, live=True)
        if reconnect is not False:
            plain = src.reader
            src.reader = lambda: reconnecting(plain, src.stats, backoff=backoff,
                                              max_retries=max_retries, stop=src._stop)
        return src
    path = Path(text).expanduser()
    if path.is_dir():
        return Source(str(path), lambda: folder_frames(path), stride, bool(latest))
    if path.is_file():
        def reader() -> Iterator[Item]:
            try:
                yield from video_frames(str(path))
            except OSError as exc:
                raise UserError(f"cannot read the video {path}: {exc}",
                                "check that it is a video file FFmpeg can decode") from None
        return Source(str(path), reader, stride, bool(latest))
    raise UserError(f"source {text} is not a camera index, a stream URL, a folder or a file",
                    "give a video file, a folder of images, a camera index (0) or an "
                    "rtsp:// or http:// URL")


def probe_fps(source: str | int | Path) -> float | None:
    """The frame rate a video file or stream declares (None: unknown, or not a video)."""
    text = str(source)
    if isinstance(source, int) or text.isdigit() or Path(text).is_dir():
        return None
    try:
        import av

        with av.open(text, timeout=5.0) as container:
            rate = container.streams.video[0].average_rate if container.streams.video else None
    except (av.FFmpegError, OSError):
        return None
    return float(rate) if rate else None
