"""Pose inference: images -> people (keypoints in image pixels), and ``graft bpnet inference``.

:class:`PoseEstimator` runs the whole chain for an :class:`~graft.tasks.bpnet.spec.InferenceSpec`:
resize/pad (:mod:`~graft.tasks.bpnet.preprocess`), normalize, the network (``output_stage_to_use``),
multi-scale averaging of the maps, the decoder, and the mapping back to image pixels.
Images whose network inputs have the same size go through the network together
(``batch_size``), e.g. the frames of a video.

Multi-scale: the maps of every scale are resampled onto the output grid of the largest scale
(exactly, through the image coordinates, so padding and rounding cannot misalign them),
averaged, then decoded once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from graft.data.images import IMAGE_EXTENSIONS as IMAGE_SUFFIXES
from graft.data.images import Skipped, iter_readable, read_rgb_array
from graft.errors import UserError
from graft.fsutil import check_output_dir, write_json
from graft.manifest import Manifest, Normalization
from graft.runtime import resolve_device
from graft.tasks.bpnet.decoder import decode_batch
from graft.tasks.bpnet.preprocess import InputGeometry, plan_input, resize_to_input, to_image_coords
from graft.tasks.bpnet.runner import as_pose_model
from graft.tasks.bpnet.spec import InferenceSpec

INPUT_TYPES = ("image", "dir", "video", "json")


def pose_config_of(manifest: Manifest | Mapping[str, Any]):
    """The model's :class:`PoseConfig` (stored in the manifest's architecture)."""
    from graft.tasks.bpnet.pose_config import PoseConfig

    arch = Manifest.of(manifest).architecture
    if "pose_config" not in arch:
        raise UserError("the model file has no pose config", "is it a bpnet model?")
    return PoseConfig.model_validate(arch["pose_config"])


def _normalize(batch: torch.Tensor, norm: Normalization) -> torch.Tensor:
    from graft.data.preprocess import normalize

    return normalize(batch, norm)


def _resample_matrix(dst: InputGeometry, src: InputGeometry, stride: int, axis: int,
                     device: torch.device) -> torch.Tensor:
    """grid_sample coordinates (normalized, align_corners=False) along one axis: for every cell
    of ``dst``'s output grid, where it lies on ``src``'s grid (through image pixels)."""
    n_dst = dst.net_size[axis] // stride
    n_src = src.net_size[axis] // stride
    cells = torch.arange(n_dst, dtype=torch.float64, device=device)
    net = (cells + 0.5) * stride - 0.5
    image = (net + 0.5) / dst.ratio[axis] - 0.5
    src_net = (image + 0.5) * src.ratio[axis] - 0.5
    src_cell = (src_net + 0.5) / stride - 0.5
    return ((2.0 * src_cell + 1.0) / n_src - 1.0).float()


@dataclass
class _Pending:
    index: int
    image: np.ndarray
    geometries: tuple[InputGeometry, ...]


def fit_to_network(spec: InferenceSpec, model: Any) -> InferenceSpec:
    """The spec a fixed-size (exported) network can run: ``pad_image_input`` at its size."""
    size = getattr(model, "fixed_input_size", None)
    if size is None:
        return spec
    if spec.multi_scale_inference:
        raise UserError("multi_scale_inference needs a network that takes any input size, and "
                        f"this exported model takes {size[0]}x{size[1]} only",
                        "turn multi_scale_inference off, or evaluate the .graft model")
    if spec.output_stage_to_use is not None:
        raise UserError("output_stage_to_use cannot change an exported model's output stage",
                        "set it to null, or evaluate the .graft model")
    return spec.model_copy(update={"input_shape": tuple(size),
                                   "keep_aspect_ratio_mode": "pad_image_input"})


class PoseEstimator:
    """Callable: RGB uint8 (H, W, 3) image(s) -> people per image, in image pixels."""

    def __init__(self, model: Any, spec: InferenceSpec | None = None,
                 device: str | torch.device | None = "auto") -> None:
        self.device = resolve_device(device)
        model = as_pose_model(model, self.device)
        self.spec = fit_to_network(spec or InferenceSpec(), model)
        self.manifest = Manifest.of(model.manifest)
        self.pose = pose_config_of(self.manifest)
        self.net = model.module
        stages = getattr(self.net, "num_stages", None)
        stage = self.spec.output_stage_to_use
        if stage is not None and stages is not None and stage > stages:
            raise UserError(f"output_stage_to_use {stage} but the model has {stages} stages",
                            f"use 1..{stages} or null (the last)")
        if hasattr(self.net, "output_stage"):
            self.net.output_stage = stage
        inp = self.manifest.input
        self.norm = (inp.normalization if inp is not None and inp.normalization else
                     Normalization(scale=1 / 256, mean=[0.5] * 3, std=[1.0] * 3,
                                   channel_order="RGB"))
        stride = inp.stride if inp is not None else None
        self.stride = int(stride or self.manifest.architecture.get("stride", 8))
        self.limbs = [tuple(limb) for limb in self.pose.limbs]
        self.params = self.spec.decoder_params()

    # -- maps ----------------------------------------------------------------------------
    def geometries(self, image_size: tuple[int, int]) -> tuple[InputGeometry, ...]:
        s = self.spec
        return tuple(plan_input(image_size, s.input_shape, s.keep_aspect_ratio_mode,
                                self.stride, scale) for scale in s.effective_scales)

    @torch.inference_mode()
    def _network(self, images: list[np.ndarray], geometry: InputGeometry
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = np.stack([resize_to_input(img, geometry) for img in images])
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2)
        x = _normalize(x, self.norm)
        paf, heat = self.net(x)
        return heat.float(), paf.float()

    def maps(self, images: list[np.ndarray], geometries: tuple[InputGeometry, ...]
             ) -> tuple[torch.Tensor, torch.Tensor, InputGeometry]:
        """Averaged (heatmap, paf) of same-geometry images on the finest scale's grid."""
        ref = max(geometries, key=lambda g: g.net_size[0] * g.net_size[1])
        heat_sum = paf_sum = None
        for geometry in geometries:
            heat, paf = self._network(images, geometry)
            if geometry != ref:
                gy = _resample_matrix(ref, geometry, self.stride, 0, self.device)
                gx = _resample_matrix(ref, geometry, self.stride, 1, self.device)
                grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)
                grid = grid.unsqueeze(0).expand(heat.shape[0], -1, -1, -1)
                heat = F.grid_sample(heat, grid, mode="bilinear", align_corners=False)
                paf = F.grid_sample(paf, grid, mode="bilinear", align_corners=False)
            heat_sum = heat if heat_sum is None else heat_sum + heat
            paf_sum = paf if paf_sum is None else paf_sum + paf
        n = len(geometries)
        return heat_sum / n, paf_sum / n, ref

    # -- people --------------------------------------------------------------------------
    def _decode(self, images: list[np.ndarray], geometries: tuple[InputGeometry, ...]
                ) -> list[list[dict[str, Any]]]:
        heat, paf, ref = self.maps(images, geometries)
        people = decode_batch(heat, paf, self.limbs, self.params, stride=self.stride)
        for persons in people:
            for p in persons:
                p["keypoints"] = to_image_coords(p["keypoints"], ref)
        return people

    def __call__(self, image: np.ndarray) -> list[dict[str, Any]]:
        """People in one RGB uint8 (H, W, 3) image."""
        return self._decode([image], self.geometries(image.shape[:2]))[0]

    def predict_many(self, images: Iterable[np.ndarray]) -> Iterator[list[dict[str, Any]]]:
        """People per image, in order; consecutive images of one geometry share a batch."""
        pending: list[_Pending] = []
        for i, image in enumerate(images):
            geoms = self.geometries(image.shape[:2])
            if pending and (geoms != pending[0].geometries or
                            len(pending) >= self.spec.batch_size):
                yield from self._decode([p.image for p in pending], pending[0].geometries)
                pending = []
            pending.append(_Pending(i, image, geoms))
        if pending:
            yield from self._decode([p.image for p in pending], pending[0].geometries)


# -- inputs ------------------------------------------------------------------------------------
def list_inputs(input_type: str, path: str | Path) -> list[Path]:
    """The image files of an ``image``, ``dir`` or ``json`` input.

    A JSON input is a list of image paths, or a COCO file whose ``images[].file_name`` are
    read; relative paths are relative to the JSON file's folder.
    """
    p = Path(path)
    if input_type == "image":
        if not p.is_file():
            raise UserError(f"input image not found: {p}", "check --input")
        return [p]
    if input_type == "dir":
        if not p.is_dir():
            raise UserError(f"input directory not found: {p}", "check --input")
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"no images in {p}", f"put {', '.join(sorted(IMAGE_SUFFIXES))} files "
                            "there")
        return files
    if input_type == "json":
        if not p.is_file():
            raise UserError(f"input JSON not found: {p}", "check --input")
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError:
            raise UserError(f"{p} is not valid JSON", "give a list of image paths") from None
        names = ([img["file_name"] for img in data.get("images", [])] if isinstance(data, dict)
                 else data)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
            raise UserError(f"{p} lists no images",
                            "give a JSON list of image paths or a COCO file with images")
        return [Path(n) if Path(n).is_absolute() else p.parent / n for n in names]
    raise UserError(f"unknown --input_type {input_type!r}", f"use one of {', '.join(INPUT_TYPES)}")


def video_frames(path: Path) -> tuple[Iterator[np.ndarray], float, int]:
    """RGB frames of a video, its frame rate and frame count (OpenCV)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise UserError(f"cannot open video {path}", "check --input (a file OpenCV can read)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()

    return frames(), fps, count


def person_record(person: dict[str, Any]) -> dict[str, Any]:
    return {"score": round(float(person["score"]), 5), "num_parts": int(person["num_parts"]),
            "keypoints": [[round(float(x), 2), round(float(y), 2), round(float(s), 4)]
                          for x, y, s in np.asarray(person["keypoints"])]}


def _write_png(path: Path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"could not encode {path.name}")
    from graft.fsutil import write_bytes

    write_bytes(path, data.tobytes())


@contextmanager
def _video_path(target: Path) -> Iterator[Path]:
    """Like :func:`graft.fsutil.atomic_path`, keeping the ``.mp4`` suffix OpenCV picks the
    container by."""
    tmp = target.with_name(f".{target.stem}.partial{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def run_inference(spec: InferenceSpec, model: Any, input_type: str, input_path: str | Path,
                  results_dir: str | Path, dump_visualizations: bool = False,
                  device: str | None = "auto", progress: bool = True) -> dict[str, Any]:
    """Write ``detections.json`` (people per frame) and, with ``dump_visualizations``, images
    with skeletons (``images/``) or an annotated video (``<name>_annotated.mp4``).

    An image that cannot be read is skipped and listed under ``skipped`` (file and reason);
    the run fails only when none could be read."""
    from rich.progress import Progress

    from graft.tasks.bpnet.viz import draw_poses

    out = check_output_dir(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    estimator = PoseEstimator(model, spec, device)
    skipped = Skipped()  # unreadable images of an image, dir or json input
    if input_type == "video":
        src = Path(input_path)
        if not src.is_file():
            raise UserError(f"input video not found: {src}", "check --input")
        frames, fps, total = video_frames(src)
        sources: Iterable[tuple[str, np.ndarray]] = (
            (f"{src.name}#{i}", f) for i, f in enumerate(frames))
    else:
        paths = list_inputs(input_type, input_path)
        total, fps = len(paths), 0.0
        sources = ((str(p), image) for p, image in iter_readable(paths, skipped, read_rgb_array))

    names: list[str] = []
    shapes: list[tuple[int, int]] = []
    kept: list[np.ndarray | None] = []  # images awaiting their drawing

    def images() -> Iterator[np.ndarray]:
        for name, image in sources:
            names.append(name)
            shapes.append(image.shape[:2])
            kept.append(image if dump_visualizations else None)
            yield image

    frames_out: list[dict[str, Any]] = []
    written: list[str] = []
    video_path = out / f"{Path(input_path).stem}_annotated.mp4"
    with ExitStack() as stack, Progress(disable=not progress) as bar:
        writer = None
        task = bar.add_task("inference", total=total or None)
        for i, persons in enumerate(estimator.predict_many(images())):
            h, w = shapes[i]
            frames_out.append({"index": i, "source": names[i], "width": int(w), "height": int(h),
                               "persons": [person_record(p) for p in persons]})
            image, kept[i] = kept[i], None
            if image is not None:
                drawn = draw_poses(image, persons, estimator.limbs)
                if input_type != "video":
                    path = out / "images" / f"{i:06d}_{Path(names[i]).stem}.png"
                    _write_png(path, drawn)
                    written.append(str(path))
                    bar.advance(task)
                    continue
                if writer is None:
                    # Renamed into place only if every frame was written (LIFO: release first).
                    tmp = stack.enter_context(_video_path(video_path))
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"),
                                             float(fps), (w, h))
                    if not writer.isOpened():
                        raise UserError(f"cannot write video {video_path}",
                                        "OpenCV lacks the mp4v encoder; use image input")
                    stack.callback(writer.release)
                    written.append(str(video_path))
                writer.write(cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
            bar.advance(task)
    detections = {
        "model_joints": list(estimator.pose.joints),
        "limbs": [list(limb) for limb in estimator.limbs],
        "input": str(input_path), "input_type": input_type,
        "frames": frames_out, "skipped": skipped.records(),
    }
    write_json(out / "detections.json", detections)
    skipped.require_some_read(len(frames_out))
    return {"frames": len(frames_out), "persons": sum(len(f["persons"]) for f in frames_out),
            "detections": str(out / "detections.json"), "visualizations": written,
            "skipped": skipped.records()}
