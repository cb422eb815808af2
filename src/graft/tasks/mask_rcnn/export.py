"""``graft mask_rcnn export``: ONNX at one fixed image size, checked on onnxruntime.

torchvision's Mask R-CNN exports for a fixed batch of one image and a fixed size (dynamic
batches are broken upstream), through the TorchScript exporter (the dynamo exporter has failed
on roi_align) at opset 17 (RoIAlign with ``aligned=True`` needs >= 16). The graph takes one
float RGB image ``image`` (3, H, W) in [0, 1] and returns ``boxes`` (N, 4), ``labels`` (N),
``scores`` (N) and ``masks`` (N, 1, H, W) probabilities; N varies per image, zero included.
The shared exporter (:func:`graft.optimize.export.export_onnx`) writes it and gates it on
parity with PyTorch: same detection count, then every value within the fp32 tolerance.

``--engine_file`` also builds a TensorRT engine from that fp32 ONNX through the shared builder
(:func:`graft.optimize.tensorrt.build_engine`: a fixed profile for the unbatched ``image``;
``--data_type fp16`` sets the engine's precision, the ONNX stays fp32) and writes its
``ENGINE.json`` (``max_batch_size`` 0, -1 on the ``detections`` axes) for Triton. INT8 is
refused: graft has no calibration path through this graph. The engine build and its run are
untested here (no GPU, no TensorRT on graft's CI); only the refusals are.

Whether TensorRT 10 takes this graph, checked against onnx-tensorrt's ``docs/operators.md``
at its 10.1 GA release (onnx/onnx-tensorrt 96e7811) and its importer source, for the ops the
tests list (:data:`CHECKED_OPS`): every op is marked supported, but

* the ``Loop`` that pastes the masks into the image (torchvision's ONNX path of
  ``paste_masks_in_image``) carries a tensor that grows by one mask per iteration (it starts
  at (0, H, W) and is concatenated to); operators.md restricts Loop to carried dependencies
  whose shape is the same in every iteration, so the parse or build is expected to fail
  there until that loop is rewritten (e.g. masks returned at 28x28 and pasted outside);
* ``RoiAlign`` becomes the ``ROIAlign_TRT`` plugin (the builder registers the standard
  plugins); ``NonZero`` takes bool input in the importer although the table lists FP32/FP16;
  ``TopK`` needs K < 3840 (the RPN's pre-NMS top-k here is far smaller); the two ``If``
  nodes (NMS skipped on no boxes) meet their rule: both branches give rank-1 int64 tensors
  under different names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from graft.errors import UserError

OUTPUTS = ["boxes", "labels", "scores", "masks"]
OPSET = 17
ENGINE_DATA_TYPES = ("fp32", "fp16")
# the graph's op types that were checked against onnx-tensorrt's operators.md (see above);
# a test fails when the export starts using another, so that the check is redone
CHECKED_OPS = frozenset({
    "Add", "And", "Cast", "Ceil", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv",
    "ConvTranspose", "Div", "Equal", "Exp", "Expand", "Flatten", "Floor", "Gather", "Gemm",
    "Greater", "GreaterOrEqual", "Identity", "If", "Log", "Loop", "Max", "MaxPool", "Min", "Mul",
    "NonMaxSuppression", "NonZero", "Pad", "Range", "Reciprocal", "ReduceMax", "ReduceMin",
    "ReduceProd", "Relu", "Reshape", "Resize", "RoiAlign", "ScatterElements", "Shape",
    "Sigmoid", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "TopK", "Transpose",
    "Unsqueeze", "Where"})


class SingleImage(nn.Module):
    """MaskRCNN over one (3, H, W) image with its outputs as a tuple."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net([image])[0]
        return out["boxes"], out["labels"], out["scores"], out["masks"]


def check_engine_request(engine_file: str | Path | None, data_type: str) -> None:
    """Refuse what cannot be built before anything is loaded or written: INT8 (no
    calibration path through this graph), an unknown type, a precision without an engine, and
    an engine without TensorRT."""
    from graft.runtime.trt_backend import INSTALL_HINT, tensorrt_available

    if data_type == "int8":
        raise UserError("--data_type int8 is not available for Mask R-CNN: graft has no INT8 "
                        "calibration path through its detection graph",
                        "use --data_type fp16 (or fp32)")
    if data_type not in ENGINE_DATA_TYPES:
        raise UserError(f"--data_type {data_type!r} is not fp32 or fp16")
    if engine_file is None:
        if data_type != "fp32":
            raise UserError(f"--data_type {data_type} sets the TensorRT engine's precision and "
                            "no engine was asked for (the ONNX is always fp32)",
                            "add --engine_file PATH, or drop --data_type")
        return
    if not tensorrt_available():
        raise UserError("--engine_file needs TensorRT, which is not installed", INSTALL_HINT)


def export_model(model: Any, output: str | Path, image: torch.Tensor | None = None,
                 allow_mismatch: bool = False, *, engine_file: str | Path | None = None,
                 data_type: str = "fp32", console: Any = None) -> Any:
    """Export a loaded mask_rcnn GraftModel; ``image``: uint8 (3, H, W) traced and compared
    with (default: a gray image with noise at the model's input size). ``engine_file`` also
    builds a TensorRT engine of precision ``data_type`` (fp32 | fp16) from the fp32 ONNX."""
    from graft.optimize.export import ExportOptions, export_onnx

    check_engine_request(engine_file, data_type)

    m = model.manifest
    if image is None:
        h, w = m.input.height, m.input.width
        g = torch.Generator().manual_seed(0)
        image = (torch.full((3, h, w), 128.0) + 20 * torch.randn(3, h, w, generator=g)).clamp(
            0, 255).to(torch.uint8)
    example = image.float().div(255)
    axes = {"image": {}, **{name: {0: "detections"} for name in OUTPUTS}}
    options = ExportOptions(example_inputs=(example,), input_names=["image"],
                            output_names=list(OUTPUTS), dynamic_axes=axes, opset=OPSET,
                            exporter="torchscript", allow_parity_mismatch=allow_mismatch,
                            engine_file=engine_file,
                            engine_data_type=data_type)  # type: ignore[arg-type]
    net = SingleImage(model.module).eval()
    return export_onnx(net, m, output, options, console=console)
