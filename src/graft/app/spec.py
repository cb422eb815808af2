"""The spec of ``graft app gesture -e APP.yaml``: source, the two models, crop, tracker,
smoothing and outputs. Paths are relative to the spec file's folder; ``source`` may also be a
camera index or a stream URL. Imports no torch (``--help`` and spec checks stay fast)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from graft.spec import ModelPath, SpecPath, StrictModel


class ModelRef(StrictModel):
    model: ModelPath = Field(description="Model file (.graft, .onnx, TensorRT engine) or a "
                             "model on a Triton server: grpc://HOST:8001/NAME, "
                             "http://HOST:8000/NAME (metadata from its config, written by "
                             "`graft deploy triton`).")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N (a Triton model runs "
                        "where the server puts it).")
    batch_size: int | None = Field(None, ge=1, description="Most samples per backend run "
                                   "(per request for Triton).")


class DetectorSpec(ModelRef):
    classes: list[str] | None = Field(
        None, description="The detector's classes that are hands (all when unset).")
    threshold: float = Field(0.3, ge=0, le=1, description="Minimum detection score.")


class ClassifierSpec(ModelRef):
    pass


class CropSpec(StrictModel):
    """Unset keys come from the classifier's model file (``input.crop``), else the defaults
    (ratio 1.1, square, zero border)."""

    mode: Literal["ratio", "pixels"] | None = Field(
        None, description="ratio: box side x value; pixels: value px on every side.")
    value: float | None = Field(None, description="The ratio (e.g. 1.1) or the pixels.")
    square: bool | None = Field(None, description="Make the crop square (its longer side).")
    border: Literal["zeros", "clip"] | None = Field(
        None, description="Past the frame: pad with zeros, or clip the crop.")
    min_size: float = Field(0, ge=0, description="Boxes with a shorter side (px) are not "
                            "classified.")


class TrackerSpec(StrictModel):
    enabled: bool = Field(True, description="Track hands (ByteTrack); off: classify every box "
                          "every frame.")
    lost_track_buffer: int = Field(30, ge=0, description="Frames (at 30 fps) a lost track "
                                   "waits for its hand.")
    activation_threshold: float = Field(0.3, ge=0, le=1, description="Score to start a track.")
    high_threshold: float = Field(0.5, ge=0, le=1, description="ByteTrack's first-stage score.")
    min_iou: float = Field(0.1, ge=0, le=1, description="IoU to match a box to a track.")


class SmoothingSpec(StrictModel):
    method: Literal["majority", "mean"] = Field(
        "majority", description="majority of the last N labels or top of the mean "
        "probabilities.")
    window: int = Field(5, ge=1, description="Classifications per track to smooth over.")
    classify_every: int = Field(1, ge=1, description="Classify a track's box every N frames; "
                                "its label is reused in between.")


class SourceSpec(StrictModel):
    stride: int = Field(1, ge=1, description="Keep every N-th frame.")
    latest: bool | None = Field(None, description="Drop stale frames (default: on for cameras "
                                "and streams).")
    reconnect: bool | None = Field(None, description="Reopen a stream that stops (default: "
                                   "on for streams).")
    max_retries: int | None = Field(5, ge=0, description="Reconnects without a frame before "
                                    "giving up (null: never).")
    backoff: float = Field(0.5, gt=0, description="First reconnect wait, seconds (doubles).")
    detect_batch: int = Field(4, ge=1, description="Frames per detector batch (files; live "
                              "sources use 1).")


class OutputSpec(StrictModel):
    dir: SpecPath = Field(description="Folder for annotated.mp4, frames.jsonl, summary.json.")
    video: bool = Field(True, description="Write the annotated mp4.")
    fps: float | None = Field(None, gt=0, description="mp4 frame rate (default: the source's "
                              "divided by the stride, else 30).")
    max_frames: int | None = Field(None, ge=1, description="Stop after this many frames.")


class GestureAppSpec(StrictModel):
    source: str | int = Field(description="Video file, folder of images, camera index or "
                              "rtsp:// / http:// URL.")
    detector: DetectorSpec
    classifier: ClassifierSpec
    output: OutputSpec
    crop: CropSpec = Field(default_factory=CropSpec)
    tracker: TrackerSpec = Field(default_factory=TrackerSpec)
    smoothing: SmoothingSpec = Field(default_factory=SmoothingSpec)
    source_options: SourceSpec = Field(default_factory=SourceSpec)
    truth: SpecPath | None = Field(
        None, description="Per-frame ground truth JSONL of the source (a clip of `graft synth "
        "hands`): the run is then scored as `graft app evaluate` does, into OUTPUT/evaluation.")


EXAMPLE = """\
source: clip.mp4            # or frames/, 0 (camera), rtsp://host/stream
detector: {model: hands.graft, classes: [hand], threshold: 0.3}
classifier: {model: gesturenet.onnx}   # or grpc://triton-host:8001/gesturenet
output: {dir: gesture_out}
crop: {min_size: 16}        # ratio/square/border from the classifier's model file
smoothing: {method: majority, window: 5, classify_every: 2}
"""
