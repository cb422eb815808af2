"""``graft detectnet_v2 inference``: detections for an image, a folder, a list of images or a
video.

Writes, into the output folder, for images:

- ``images/<path>.jpg``: the original image with each detection's box, class and score;
- ``labels/<path>.txt``: KITTI label lines with the score as the 16th field (TLT's result
  format; the 3D fields are 0);
- ``detections.json``: per image its detections (class, box x1 y1 x2 y2 in image pixels,
  ``score`` in [0, 1], TLT's ``confidence``), and the images that could not be read.

``<path>`` is the image's path relative to the input folder. Detections scoring below
``threshold`` are left out. Unreadable images are skipped and listed (``error``); the run
fails only when none could be read.

For a video (:mod:`graft.data.video`): ``<stem>.mp4``, the video with each frame's detections
drawn (same frame rate); ``labels/<stem>/<frame>.txt``, one KITTI file per frame (frame index
from 0, six digits); ``detections.json`` with per frame its index, time (s) and detections.
"""

from __future__ import annotations

import colorsys
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from graft.data.images import Skipped, iter_readable, list_images
from graft.data.kitti import KittiObject, write_labels
from graft.fsutil import write_bytes, write_json
from graft.metrics.detection import Detections
from graft.tasks.detectnet_v2.detector import Detector, as_records

if TYPE_CHECKING:
    from graft.data.video import VideoReader


def class_colours(n: int) -> list[tuple[int, int, int]]:
    """``n`` well-separated RGB colours."""
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / max(n, 1), 0.85, 1.0))
            for i in range(n)]


def draw_detections(image: np.ndarray, records: Sequence[dict[str, Any]],
                    classes: Sequence[str]) -> np.ndarray:
    """A copy of the (H, W, 3) uint8 RGB ``image`` with boxes, class names and scores."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    h, w = out.shape[:2]
    thickness = max(1, round(min(h, w) / 300))
    scale = max(0.35, min(h, w) / 900)
    colours = class_colours(len(classes))
    for det in records:
        colour = colours[classes.index(det["class"])]
        x1, y1, x2, y2 = (int(round(v)) for v in det["box"])
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        text = f"{det['class']} {det['score']:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(y1 - th - base - 2, 0)
        cv2.rectangle(out, (x1, top), (x1 + tw + 2, top + th + base + 2), colour, -1)
        cv2.putText(out, text, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return out


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise RuntimeError(f"cannot encode {path}")
    write_bytes(path, data.tobytes())


def kitti_objects(records: Sequence[dict[str, Any]]) -> list[KittiObject]:
    return [KittiObject(type=d["class"], box=tuple(d["box"]), score=d["score"])
            for d in records]


def _relative(image: Path, root: Path) -> Path:
    try:
        return image.relative_to(root)
    except ValueError:
        return Path(image.name)


def run_inference(detector: Detector, inputs: str | Path, out_dir: str | Path, *,
                  threshold: float = 0.3, batch_size: int = 8, render: bool = True,
                  progress: bool = True) -> dict[str, Any]:
    """Detect, render and write (module docstring); returns counts and the skipped images."""
    from rich.progress import track

    from graft.fsutil import check_output_dir

    out = check_output_dir(out_dir, "output folder (-o)")
    files = list_images(inputs)
    root = Path(inputs) if Path(inputs).is_dir() else Path(inputs).parent
    found: dict[Path, list[dict[str, Any]]] = {}
    skipped = Skipped()
    for start in track(range(0, len(files), batch_size), description="inference",
                       disable=not progress):
        readable = list(iter_readable(files[start:start + batch_size], skipped))
        if not readable:
            continue
        detections: list[Detections] = detector([image for _, image in readable])
        for (path, image), dets in zip(readable, detections, strict=True):
            records = [d for d in as_records(dets, detector.classes) if d["score"] >= threshold]
            found[path] = records
            rel = _relative(path, root)
            write_labels(out / "labels" / rel.with_suffix(".txt"), kitti_objects(records))
            if render:
                picture = draw_detections(image.permute(1, 2, 0).numpy(), records,
                                          detector.classes)
                write_jpeg(out / "images" / rel.with_suffix(".jpg"), picture)
    failed = {r["image"]: r for r in skipped.records()}
    entries = [{"image": str(f), "detections": found[f]} if f in found else failed[str(f)]
               for f in files]
    write_json(out / "detections.json", {"classes": detector.classes, "threshold": threshold,
                                         "images": entries})
    skipped.require_some_read(len(found))
    return {"images": len(found), "detections": sum(len(v) for v in found.values()),
            "skipped": skipped.records(), "output": str(out)}


def run_video_inference(detector: Detector, video: VideoReader, out_dir: str | Path, *,
                        threshold: float = 0.3, batch_size: int = 8, render: bool = True,
                        progress: bool = True) -> dict[str, Any]:
    """Detect in every frame of an opened video; writes the module docstring's video outputs
    (the labels per frame as they come, the MP4 and the JSON only once every frame is in)."""
    from rich.progress import track

    from graft.data.video import Mp4Writer
    from graft.fsutil import check_output_dir

    out = check_output_dir(out_dir, "output folder (-o)")
    stem = video.path.stem
    frames: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        mp4 = stack.enter_context(Mp4Writer(out / f"{stem}.mp4", video.fps)) if render else None
        for batch in track(video.batches(batch_size), total=video.num_batches(batch_size),
                           description="inference", disable=not progress):
            images = list(batch)
            for image, dets in zip(images, detector(images), strict=True):
                index = len(frames)
                records = [d for d in as_records(dets, detector.classes)
                           if d["score"] >= threshold]
                frames.append({"frame": index, "time": round(index / video.fps, 4),
                               "detections": records})
                write_labels(out / "labels" / stem / f"{index:06d}.txt", kitti_objects(records))
                if mp4 is not None:
                    mp4.write(draw_detections(image.permute(1, 2, 0).numpy(), records,
                                          detector.classes))
        if not frames:  # before the writer closes: no empty MP4 is left behind
            from graft.data.video import UnreadableVideo

            raise UnreadableVideo(video.path, "the video has no frames")
    write_json(out / "detections.json", {
        "classes": detector.classes, "threshold": threshold, "video": str(video.path),
        "fps": video.fps, "width": video.width, "height": video.height,
        "frames": frames})
    return {"frames": len(frames), "detections": sum(len(f["detections"]) for f in frames),
            "output": str(out), "video": str(out / f"{stem}.mp4") if render else None}
