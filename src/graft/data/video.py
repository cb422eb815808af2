"""Video files in and out, for inference on a video: frames as uint8 RGB (N, 3, H, W) batches.

Decoding goes through TorchCodec's ``VideoDecoder`` (the decoder the image reader uses, and the
one that decodes on a GPU) where its libraries load; TorchCodec links against the system's
FFmpeg shared libraries, so on a machine without them (this project's CPU VM, slim containers)
frames come from PyAV, whose wheels carry their own FFmpeg. Encoding always goes through PyAV
for the same reason: :class:`Mp4Writer`, H.264 (else MPEG-4 part 2) in an MP4, written to a
temporary file and renamed into place when closed, so a failed run leaves no half video.

A missing, empty or undecodable video raises :class:`UnreadableVideo`, a one-line
:class:`~graft.errors.UserError` naming the file.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graft.errors import UserError

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts")
DEFAULT_FPS = 25.0  # when a container records no frame rate


class UnreadableVideo(UserError):
    """A video file that is missing, empty or cannot be decoded."""

    def __init__(self, path: Path, problem: str, fix: str = "check the file, or convert it "
                 "to H.264 MP4 (ffmpeg -i IN -c:v libx264 OUT.mp4)") -> None:
        self.path = Path(path)
        super().__init__(f"{problem}: {path}", fix)


def is_video(path: str | Path) -> bool:
    """Whether ``path`` names a video file by its extension."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


@dataclass
class VideoReader:
    """An opened video: its size, frame rate and frame count (None where the container does
    not say), and ``batches(n)`` of decoded frames in display order."""

    path: Path
    width: int
    height: int
    fps: float
    num_frames: int | None
    backend: str
    _batches: Callable[[int], Iterator[torch.Tensor]]

    def batches(self, size: int) -> Iterator[torch.Tensor]:
        """uint8 (n <= size, 3, H, W) tensors until the last frame."""
        return self._batches(size)

    def num_batches(self, size: int) -> int | None:
        return None if self.num_frames is None else math.ceil(self.num_frames / size)


@functools.cache
def _torchcodec_loads() -> bool:
    """Whether TorchCodec's video decoder is installed and finds FFmpeg's libraries."""
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception:  # noqa: BLE001 - a missing wheel or one built for another torch
        return False
    try:
        VideoDecoder(b"")
    except RuntimeError as exc:
        return "Could not load libtorchcodec" not in str(exc)
    except Exception:  # noqa: BLE001 - loaded, refused the empty input
        return True
    return True


def _open_torchcodec(path: Path) -> VideoReader:
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(str(path), seek_mode="exact")
    meta = decoder.metadata
    total = len(decoder)

    def batches(size: int) -> Iterator[torch.Tensor]:
        for start in range(0, total, size):
            yield decoder.get_frames_in_range(start, min(start + size, total)).data

    return VideoReader(path, int(meta.width), int(meta.height),
                       float(meta.average_fps or DEFAULT_FPS), total, "torchcodec", batches)


def _open_pyav(path: Path) -> VideoReader:
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise UnreadableVideo(path, "no video stream in the file")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or stream.guessed_rate
        frames = stream.frames or None
    if not width or not height:
        raise UnreadableVideo(path, "the video stream has no frame size")

    def batches(size: int) -> Iterator[torch.Tensor]:
        with av.open(str(path)) as box:
            pending: list[np.ndarray] = []
            try:
                for frame in box.decode(video=0):
                    pending.append(frame.to_ndarray(format="rgb24"))
                    if len(pending) == size:
                        yield _stack(pending)
                        pending = []
            except av.FFmpegError as exc:
                raise UnreadableVideo(path, f"cannot decode the video ({exc.strerror or exc})"
                                      ) from None
            if pending:
                yield _stack(pending)

    return VideoReader(path, int(width), int(height), float(rate) if rate else DEFAULT_FPS,
                       frames, "pyav", batches)


def _stack(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()


def open_video(path: str | Path, backend: str = "auto") -> VideoReader:
    """Open a video for decoding; ``backend``: auto (TorchCodec where it loads) | torchcodec |
    pyav. Raises :class:`UnreadableVideo` for a file that is missing, empty or not a video."""
    p = Path(path)
    if not p.exists():
        raise UnreadableVideo(p, "video not found", "check the path")
    if p.is_dir():
        raise UnreadableVideo(p, "video path is a directory", "pass a video file")
    if p.stat().st_size == 0:
        raise UnreadableVideo(p, "video file is empty (0 bytes)")
    use_torchcodec = backend == "torchcodec" or (backend == "auto" and _torchcodec_loads())
    if use_torchcodec:
        try:
            return _open_torchcodec(p)
        except (RuntimeError, ValueError) as exc:
            if backend == "torchcodec":
                raise UnreadableVideo(p, f"cannot decode the video ({exc})") from None
    try:
        return _open_pyav(p)
    except UnreadableVideo:
        raise
    except Exception as exc:  # noqa: BLE001 - av.FFmpegError and its OSError/ValueError kin
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UnreadableVideo(p, f"cannot read the video ({reason})") from None


CODECS = ("libx264", "h264", "mpeg4")  # H.264 where FFmpeg has an encoder, else MPEG-4 part 2


@functools.cache
def _encoder_codec() -> str:
    import av

    for name in CODECS:
        try:
            av.codec.Codec(name, "w")
        except av.FFmpegError:
            continue
        return name
    return CODECS[-1]


class Mp4Writer:
    r"""The one MP4 writer: frames are encoded as they come (memory stays flat on a long
    stream) into a temporary file next to ``path``, which :meth:`close` renames into place, so
    a stopped run still leaves a playable video and a crashed one no half file.

    The frame size is the first frame's; an odd width or height loses its last column or row
    (H.264's 4:2:0 chroma needs even sizes), later frames of another size are resized to it.
    As a context manager it closes on success and :meth:`discard`\ s on an error.
    """

    def __init__(self, path: str | Path, fps: float = 30.0, crf: int = 23) -> None:
        self.path = Path(path)
        self.fps = fps
        self.crf = crf
        self.frames = 0
        self._tmp: Path | None = None
        self._container: Any = None
        self._stream: Any = None

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()

    def _open(self, width: int, height: int) -> None:
        import av

        from graft.fsutil import temporary_for

        self._tmp = temporary_for(self.path)
        self._container = av.open(str(self._tmp), "w", format="mp4")
        codec = _encoder_codec()
        self._stream = self._container.add_stream(codec, rate=_rate(self.fps))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        if codec != "mpeg4":
            self._stream.options = {"crf": str(self.crf), "preset": "veryfast"}

    def write(self, rgb: Any) -> None:
        """Encode one (H, W, 3) uint8 RGB frame."""
        import av

        rgb = np.asarray(rgb, dtype=np.uint8)
        if self._container is None:
            h, w = rgb.shape[:2]
            self._open(max(2, w - w % 2), max(2, h - h % 2))
        width, height = self._stream.width, self._stream.height
        if (rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2) == (height, width):
            rgb = rgb[:height, :width]  # the same size, an odd last row or column dropped
        else:
            import cv2

            rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder, finish the file and move it into place (no frames: no file)."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        """Stop without a video: the temporary file goes, an older ``path`` stays."""
        if self._container is not None:
            with contextlib.suppress(Exception):  # a broken stream must not hide the error
                self._container.close()
            self._container = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


def _rate(fps: float) -> Any:
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(int(DEFAULT_FPS))
