"""Tiny videos and frame folders made by the tests (no files or downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def frame_of(i: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A frame whose brightness encodes ``i`` (so a test can tell frames apart)."""
    img = np.full((height, width, 3), (i * 20) % 250, dtype=np.uint8)
    img[:, : width // 4, 0] = 255
    return img


def write_video(path: Path, frames: int, height: int = 48, width: int = 64,
                fps: int = 10) -> Path:
    """An mpeg4 mp4 of ``frames`` frames made with PyAV."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(frame_of(i, height, width), format="rgb24")
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.mp4", 12)
