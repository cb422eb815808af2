"""Video decoding and the one MP4 writer: round trip, odd and changing sizes, frame rates,
output under a temporary name (kept on close, dropped on an error), bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graft.data.video import (
    Mp4Writer,
    UnreadableVideo,
    _torchcodec_loads,
    is_video,
    open_video,
)


def _frames(n: int = 5, h: int = 64, w: int = 64) -> list[np.ndarray]:
    """Flat frames of distinct colours (H.264 keeps flat areas nearly exact)."""
    return [np.full((h, w, 3), (40 * i, 200 - 30 * i, 120), np.uint8) for i in range(n)]


def _write(path: Path, frames: list[np.ndarray], fps: float = 5.0) -> Path:
    with Mp4Writer(path, fps) as mp4:
        for f in frames:
            mp4.write(f)
    return path


BACKENDS = ["pyav", pytest.param("torchcodec", marks=pytest.mark.skipif(
    not _torchcodec_loads(), reason="TorchCodec finds no FFmpeg libraries here"))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_round_trip_keeps_frames_order_size_and_rate(tmp_path: Path, backend: str) -> None:
    frames = _frames(7)
    video = open_video(_write(tmp_path / "clip.mp4", frames), backend=backend)
    assert (video.width, video.height, video.fps, video.num_frames) == (64, 64, 5.0, 7)
    batches = list(video.batches(3))
    assert [b.shape[0] for b in batches] == [3, 3, 1]
    decoded = np.concatenate([b.permute(0, 2, 3, 1).numpy() for b in batches])
    assert decoded.dtype == np.uint8 and decoded.shape == (7, 64, 64, 3)
    error = np.abs(decoded.astype(int) - np.stack(frames).astype(int)).mean(axis=(1, 2, 3))
    assert error.max() < 4, error  # each frame is its own colour, in order


def test_odd_sizes_lose_a_row_and_a_column(tmp_path: Path) -> None:
    frame = np.zeros((33, 47, 3), np.uint8)
    frame[:, 23:] = 255  # a sharp edge: cropped it stays at column 23, resized it would move
    video = open_video(_write(tmp_path / "odd.mp4", [frame, frame]))
    assert (video.height, video.width) == (32, 46)
    row = next(video.batches(1))[0, 0, 16].numpy()
    assert row[21] < 40 and row[25] > 215


def test_frames_of_another_size_are_resized_to_the_first(tmp_path: Path) -> None:
    # e.g. a stream that came back at another resolution
    video = open_video(_write(tmp_path / "b.mp4", [*_frames(1, 48, 64), *_frames(1, 96, 128)]))
    assert [tuple(b.shape) for b in video.batches(1)] == [(1, 3, 48, 64)] * 2


def test_a_fractional_frame_rate_is_kept(tmp_path: Path) -> None:
    video = open_video(_write(tmp_path / "ntsc.mp4", _frames(3), fps=30000 / 1001))
    assert video.fps == pytest.approx(29.97, abs=0.01)


def test_the_video_appears_only_when_closed(tmp_path: Path) -> None:
    out = tmp_path / "out" / "a.mp4"
    mp4 = Mp4Writer(out, fps=10)
    for frame in _frames(4):
        mp4.write(frame)
    assert not out.exists()  # not finished: only a temporary
    mp4.close()
    assert [p.name for p in out.parent.iterdir()] == ["a.mp4"]
    assert open_video(out).num_frames == 4


def test_an_unused_writer_writes_nothing(tmp_path: Path) -> None:
    Mp4Writer(tmp_path / "d.mp4").close()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_file_and_keeps_an_older_one(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"), Mp4Writer(target, 5.0) as mp4:
        mp4.write(_frames(1)[0])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    _write(target, _frames(2))
    with pytest.raises(RuntimeError, match="boom"), Mp4Writer(target, 5.0) as mp4:
        mp4.write(_frames(1)[0])
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    assert open_video(target).num_frames == 2


@pytest.mark.parametrize("content,reason", [
    (b"this is not a video at all, just text" * 20, "cannot read the video"),
    (b"", "video file is empty"),
])
def test_unreadable_videos_are_one_line_user_errors(tmp_path: Path, content: bytes,
                                                    reason: str) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(UnreadableVideo) as info:
        open_video(bad)
    assert reason in str(info.value) and str(bad) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_video_and_folders(tmp_path: Path) -> None:
    with pytest.raises(UnreadableVideo, match="video not found"):
        open_video(tmp_path / "none.mp4")
    with pytest.raises(UnreadableVideo, match="is a directory"):
        open_video(tmp_path)


def test_a_truncated_video_fails_while_decoding_or_opening(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.mp4", _frames(6))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UnreadableVideo):
        video = open_video(cut)
        for _ in video.batches(2):
            pass


def test_is_video() -> None:
    assert is_video("a/B.MP4") and is_video("x.mkv") and not is_video("x.png")
