"""``graft mask_rcnn export``: ONNX at one fixed image size, checked on onnxruntime.

torchvision's Mask R-CNN exports for a fixed batch of one image and a fixed size (dynamic
batches are broken upstream), through the TorchScript exporter (the dynamo exporter has failed
on roi_align) at opset 17 (RoIAlign with ``aligned=True`` needs >= 16). The graph takes one
float RGB image ``image`` (3, H, W) in [0, 1] and returns ``boxes`` (N, 4) in the input image's
pixels, ``labels`` (N), ``scores`` (N) and ``masks`` probabilities; N varies per image, zero
included. ``mask_output`` says which masks (:data:`MASK_OUTPUTS`), recorded as the metadata
key ``mask_output`` (ONNX ``graft.mask_output``, ENGINE.json) so a consumer knows whether to
paste:

* ``image``: (N, 1, H, W), pasted into the image as torchvision's ``postprocess`` does;
* ``roi``: (N, 1, M, M) straight from the mask head (M = 28: the 14x14 RoIAlign upsampled 2x
  by the predictor; metadata ``mask_size``), one per kept detection over its box, as TAO's
  exported Mask R-CNN returns them for DeepStream to paste. :func:`paste_masks` turns them into
  the ``image`` masks. The cut (:class:`RoiMasks`) runs the network's own transform, backbone,
  RPN and RoI heads, then maps the boxes back from the resized image with torchvision's
  ``resize_boxes``, as ``postprocess`` does less the paste. At the model's own input size
  the transform keeps the size (``min_size``/``max_size`` are the spec's image sides, so the
  scale is 1) and that mapping is the identity; an ``image`` of another size is resized by the
  transform and its boxes come back in its own pixels all the same.

The shared exporter (:func:`graft.optimize.export.export_onnx`) writes either graph and gates
it on parity with PyTorch (the same cut): same detection count, then every value within the
fp32 tolerance.

``--engine_file`` also builds a TensorRT engine from that fp32 ONNX through the shared builder
(:func:`graft.optimize.tensorrt.build_engine`: a fixed profile for the unbatched ``image``;
``--data_type fp16`` sets the engine's precision, the ONNX stays fp32) and writes its
``ENGINE.json`` (``max_batch_size`` 0, -1 on the ``detections`` axes) for Triton; it exports
``roi`` masks unless told otherwise (see the Loop below). INT8 is refused: graft has no
calibration path through this graph. The engine build and its run are untested here (no GPU,
no TensorRT on graft's CI); only the refusals are.

Whether TensorRT 10 takes these graphs, checked against onnx-tensorrt's ``docs/operators.md``
at its 10.1 GA release (onnx/onnx-tensorrt 96e7811) and its importer source, for the ops the
tests list (:data:`CHECKED_OPS`, the union over both graphs): every op is marked supported, but

* the ``image`` graph's ``Loop`` that pastes the masks into the image (torchvision's ONNX path
  of ``paste_masks_in_image``) carries a tensor that grows by one mask per iteration (it
  starts at (0, H, W) and is concatenated to); operators.md restricts Loop to carried
  dependencies whose shape is the same in every iteration, so the parse or build is expected
  to fail there. The ``roi`` graph has no Loop (the tests check every subgraph too): this is
  why it is the default with ``--engine_file``; ``--mask_output image`` with an engine warns;
* ``RoiAlign`` becomes the ``ROIAlign_TRT`` plugin (the builder registers the standard
  plugins); ``NonZero`` takes bool input in the importer although the table lists FP32/FP16;
  ``TopK`` needs K < 3840 (the RPN's pre-NMS top-k here is far smaller); the two ``If``
  nodes (NMS skipped on no boxes) meet their rule: both branches give rank-1 int64 tensors
  under different names.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graft.errors import UserError

OUTPUTS = ["boxes", "labels", "scores", "masks"]
MASK_OUTPUTS = ("image", "roi")
OPSET = 17
ENGINE_DATA_TYPES = ("fp32", "fp16")
# the op types of the image and roi graphs that were checked against onnx-tensorrt's
# operators.md (see above); a test fails when either export starts using another, so that the
# check is redone, or when one listed here is in neither graph any more
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


class RoiMasks(nn.Module):
    """MaskRCNN over one (3, H, W) image, cut before the masks are pasted: the mask head's
    (N, 1, M, M) probabilities per detection, boxes in the input image's pixels. The steps of
    torchvision's ``GeneralizedRCNN.forward`` in eval mode, less ``paste_masks_in_image``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from torchvision.models.detection.transform import resize_boxes

        net = self.net
        size = image.shape[-2:]
        images, _ = net.transform([image])
        features = net.backbone(images.tensors)
        if isinstance(features, torch.Tensor):
            features = OrderedDict([("0", features)])
        proposals, _ = net.rpn(images, features)
        detections, _ = net.roi_heads(features, proposals, images.image_sizes)
        out = detections[0]
        boxes = resize_boxes(out["boxes"], images.image_sizes[0], [size[0], size[1]])
        return boxes, out["labels"], out["scores"], out["masks"]


def mask_size(net: nn.Module) -> int:
    """M of the roi masks: the mask RoIAlign's output side times the predictor's upsampling."""
    pooled = net.roi_heads.mask_roi_pool.output_size
    pooled = pooled if isinstance(pooled, int) else pooled[0]
    return int(pooled) * int(net.roi_heads.mask_predictor.conv5_mask.stride[0])


def paste_masks(boxes: torch.Tensor, masks: torch.Tensor, height: int, width: int
                ) -> torch.Tensor:
    """An ``roi`` export's (N, 1, M, M) masks pasted into a ``height`` x ``width`` image at its
    (N, 4) boxes (x1 y1 x2 y2 pixels): (N, 1, H, W) probabilities, what the ``image`` export
    returns. torchvision's ``paste_masks_in_image``, which ``postprocess`` runs (each mask
    padded by one pixel, resized bilinearly to its integer box and placed in the image); takes
    tensors or arrays (e.g. onnxruntime's outputs)."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    boxes = torch.as_tensor(boxes, dtype=torch.float32)
    masks = torch.as_tensor(masks, dtype=torch.float32)
    if masks.ndim != 4 or masks.shape[1] != 1 or boxes.shape != (masks.shape[0], 4):
        raise ValueError(f"paste_masks takes (N, 4) boxes and (N, 1, M, M) masks, not "
                         f"{tuple(boxes.shape)} and {tuple(masks.shape)}")
    return paste_masks_in_image(masks, boxes, (int(height), int(width)))


LOOP_WARNING = ("--mask_output image with --engine_file: the mask-pasting Loop grows its "
                "carried tensor each iteration, which TensorRT is expected to reject; "
                "--mask_output roi avoids it")


def mask_output_for(mask_output: str | None, engine_file: str | Path | None,
                    console: Any = None) -> str:
    """The mask output to export: as asked, else ``roi`` with an engine (no Loop for TensorRT
    to reject) and ``image`` without; ``image`` with an engine is allowed, with a one-line
    warning on ``console`` when given."""
    from graft.console import labeled

    if mask_output is None:
        return "roi" if engine_file is not None else "image"
    if mask_output not in MASK_OUTPUTS:
        raise UserError(f"--mask_output {mask_output!r} is not image or roi",
                        "use --mask_output image (pasted masks) or roi (28x28 per detection)")
    if mask_output == "image" and engine_file is not None and console is not None:
        console.print(labeled("warning:", "yellow", LOOP_WARNING))
    return mask_output


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
                 data_type: str = "fp32", mask_output: str | None = None,
                 console: Any = None) -> Any:
    """Export a loaded mask_rcnn GraftModel; ``image``: uint8 (3, H, W) traced and compared
    with (default: a gray image with noise at the model's input size). ``engine_file`` also
    builds a TensorRT engine of precision ``data_type`` (fp32 | fp16) from the fp32 ONNX.
    ``mask_output``: ``image`` or ``roi`` masks (default: roi with an engine, else image)."""
    from graft.console import err_console
    from graft.optimize.export import ExportOptions, export_onnx

    check_engine_request(engine_file, data_type)
    kind = mask_output_for(mask_output, engine_file, console or err_console)

    m = model.manifest
    if image is None:
        h, w = m.input.height, m.input.width
        g = torch.Generator().manual_seed(0)
        image = (torch.full((3, h, w), 128.0) + 20 * torch.randn(3, h, w, generator=g)).clamp(
            0, 255).to(torch.uint8)
    example = image.float().div(255)
    axes = {"image": {}, **{name: {0: "detections"} for name in OUTPUTS}}
    meta: dict[str, Any] = {"mask_output": kind}
    if kind == "roi":
        meta["mask_size"] = mask_size(model.module)
    options = ExportOptions(example_inputs=(example,), input_names=["image"],
                            output_names=list(OUTPUTS), dynamic_axes=axes, opset=OPSET,
                            exporter="torchscript", allow_parity_mismatch=allow_mismatch,
                            engine_file=engine_file, metadata=meta,
                            engine_data_type=data_type)  # type: ignore[arg-type]
    net = (RoiMasks if kind == "roi" else SingleImage)(model.module).eval()
    return export_onnx(net, m, output, options, console=console)
