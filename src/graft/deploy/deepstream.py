"""DeepStream ``nvinfer`` configs for exported detectors: the config file and its labels file.

``write_nvinfer(NvinferModel(...), config_path, labels_path)`` writes a ``[property]`` section
that points at the exported ONNX model (paths relative to the config, which DeepStream
resolves against the config's folder), the preprocessing the model was trained with, the
output tensors of the built-in parser and the clustering, plus ``[class-attrs-*]`` sections.
A task fills :class:`NvinferModel` (DetectNet_v2: ``graft detectnet_v2 export`` writes both
files beside the ONNX model).

Preprocessing: nvinfer computes ``net-scale-factor * (x - offsets[c])`` on 0..255 pixels in
``model-color-format`` order (0 RGB, 1 BGR). graft's manifest normalization
``(x * scale - mean[c]) / std[c]`` is exactly that when the three ``std`` are equal:
``net-scale-factor = scale / std``, ``offsets[c] = mean[c] / scale``. Different ``std`` per
channel cannot be expressed; the mean ``std`` is used and the config says so in a comment.

``network-mode``: 0 FP32, 2 FP16, 1 INT8. graft's INT8 exports carry their quantization as
QuantizeLinear/DequantizeLinear pairs (explicit quantization), so TensorRT needs no
``int8-calib-file``. ``cluster-mode``: 1 DBSCAN, 2 NMS, 3 DBSCAN + NMS (hybrid).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graft.fsutil import write_text
from graft.manifest import Normalization

NETWORK_MODES = {"fp32": 0, "int8": 1, "fp16": 2}
CLUSTER_MODES = {"dbscan": 1, "nms": 2, "hybrid": 3}


@dataclass(frozen=True)
class ClassAttrs:
    """One ``[class-attrs-*]`` section (DeepStream's names)."""

    pre_cluster_threshold: float
    eps: float = 0.2
    min_boxes: int = 1
    dbscan_min_score: float = 0.0
    nms_iou_threshold: float = 0.5
    detected_min_h: int = 0

    def lines(self) -> list[str]:
        return [f"pre-cluster-threshold={self.pre_cluster_threshold:g}", f"eps={self.eps:g}",
                f"minBoxes={self.min_boxes}", f"dbscan-min-score={self.dbscan_min_score:g}",
                f"nms-iou-threshold={self.nms_iou_threshold:g}",
                f"detected-min-h={self.detected_min_h}"]


@dataclass
class NvinferModel:
    """What the config says about one exported detector."""

    onnx_file: str  # relative to the config file
    labels_file: str
    classes: Sequence[str]
    input_shape: tuple[int, int, int]  # C, H, W
    normalization: Normalization | Mapping[str, Any]
    data_type: str
    output_blob_names: Sequence[str]
    cluster_mode: str = "dbscan"
    class_attrs: dict[str, ClassAttrs] = field(default_factory=dict)  # "all" or class index
    engine_file: str | None = None
    batch_size: int = 1
    notes: list[str] = field(default_factory=list)


def scale_and_offsets(normalization: Normalization | Mapping[str, Any]
                      ) -> tuple[float, list[float], int, str | None]:
    """(net-scale-factor, offsets, model-color-format, a note when only approximate)."""
    if isinstance(normalization, Normalization):
        normalization = normalization.to_dict()  # keys it leaves out: the defaults below
    scale = float(normalization.get("scale", 1.0))
    mean = [float(m) for m in normalization.get("mean", [0.0, 0.0, 0.0])]
    std = [float(s) for s in normalization.get("std", [1.0] * len(mean))]
    shared = sum(std) / len(std)
    note = None
    if max(std) - min(std) > 1e-9 * max(abs(shared), 1.0):
        note = (f"approximate: the model divides each channel by its own std "
                f"{', '.join(f'{s:g}' for s in std)}; nvinfer has one net-scale-factor, so the "
                f"mean std {shared:.6g} is used")
    color = 1 if str(normalization.get("channel_order", "RGB")).upper() == "BGR" else 0
    return scale / shared, [m / scale for m in mean], color, note


def render_nvinfer(model: NvinferModel) -> str:
    """The config file's text."""
    factor, offsets, color, note = scale_and_offsets(model.normalization)
    c, h, w = model.input_shape
    notes = [*model.notes, *([note] if note else [])]
    lines = ["# DeepStream nvinfer config written by graft; paths are relative to this file.",
             *(f"# {n}" for n in notes), "[property]", "gpu-id=0",
             f"net-scale-factor={factor:.12g}",
             f"offsets={';'.join(f'{o:.6g}' for o in offsets)}",
             f"model-color-format={color}", f"onnx-file={model.onnx_file}"]
    if model.engine_file:
        lines.append(f"model-engine-file={model.engine_file}")
    lines += [f"labelfile-path={model.labels_file}", f"infer-dims={c};{h};{w}",
              f"batch-size={model.batch_size}", f"network-mode={NETWORK_MODES[model.data_type]}",
              f"num-detected-classes={len(model.classes)}", "interval=0", "gie-unique-id=1",
              "network-type=0", f"output-blob-names={';'.join(model.output_blob_names)}",
              f"cluster-mode={CLUSTER_MODES[model.cluster_mode]}", "maintain-aspect-ratio=0"]
    for key, attrs in model.class_attrs.items():
        lines += ["", f"[class-attrs-{key}]", *attrs.lines()]
    return "\n".join(lines) + "\n"


def write_nvinfer(model: NvinferModel, config_path: str | Path, labels_path: str | Path
                  ) -> list[Path]:
    """Write the config and the labels file (one class per line) atomically; returns both."""
    write_text(config_path, render_nvinfer(model))
    write_text(labels_path, "".join(f"{name}\n" for name in model.classes))
    return [Path(config_path), Path(labels_path)]
