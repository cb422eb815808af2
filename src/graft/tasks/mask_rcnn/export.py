"""``graft mask_rcnn export``: ONNX at one fixed image size, checked on onnxruntime.

torchvision's Mask R-CNN exports for a fixed batch of one image and a fixed size (dynamic
batches are broken upstream), through the TorchScript exporter (the dynamo exporter has failed
on roi_align) at opset 17 (RoIAlign with ``aligned=True`` needs >= 16). The graph takes one
float RGB image ``image`` (3, H, W) in [0, 1] and returns ``boxes`` (N, 4), ``labels`` (N),
``scores`` (N) and ``masks`` (N, 1, H, W) probabilities; N varies per image, zero included.
The shared exporter (:func:`graft.optimize.export.export_onnx`) writes it and gates it on
parity with PyTorch: same detection count, then every value within the fp32 tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

OUTPUTS = ["boxes", "labels", "scores", "masks"]
OPSET = 17


class SingleImage(nn.Module):
    """MaskRCNN over one (3, H, W) image with its outputs as a tuple."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net([image])[0]
        return out["boxes"], out["labels"], out["scores"], out["masks"]


def export_model(model: Any, output: str | Path, image: torch.Tensor | None = None,
                 allow_mismatch: bool = False) -> Any:
    """Export a loaded mask_rcnn GraftModel; ``image``: uint8 (3, H, W) traced and compared
    with (default: a gray image with noise at the model's input size)."""
    from graft.optimize.export import ExportOptions, export_onnx

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
                            exporter="torchscript", allow_parity_mismatch=allow_mismatch)
    net = SingleImage(model.module).eval()
    return export_onnx(net, m, output, options)
