"""The network: torchvision's MaskRCNN on a backbone from graft's table, with an FPN.

The backbone sits at ``backbone.body`` under the names of its published weights (``conv1``,
``layer1.0.conv1``; the Lite's ``_conv_stem``, ``_blocks.3``), so ``pretrained_weights`` fill
it by name (:func:`graft.engine.weights.load_matching`). FPN levels P2-P5 come from the four
stride-4/8/16/32 taps, P6 by max-pool (TAO's levels 2-6); anchors are ``anchor_scale`` times
each level's stride. Images go in as float RGB in [0, 1] at any size; torchvision's transform
resizes (shorter side to ``min_size``), normalizes and batches them, and the outputs come back
in the input image's pixels.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TF_MEAN = (0.5, 0.5, 0.5)  # EfficientNet-Lite's ImageNet weights take [-1, 1] inputs
TF_STD = (0.5, 0.5, 0.5)
STRIDES = (4, 8, 16, 32, 64)


def architecture_dict(spec: Any) -> dict[str, Any]:
    """The manifest's ``architecture``: everything :func:`build_model` needs, JSON-ready."""
    m, d = spec.maskrcnn_config, spec.data_config
    nominal = min(d.image_size)
    lo, hi = d.scale_jitter
    sizes = sorted({int(round(nominal * f / 32) * 32) for f in (lo, (lo + hi) / 2, hi)} - {0})
    lite = m.backbone.startswith("efficientnet_lite")
    return {
        "backbone": m.backbone, "head_version": m.head_version, "freeze_bn": m.freeze_bn,
        "class_names": [], "num_classes": 0,  # filled by the caller from the data
        "min_size": nominal, "train_min_sizes": sizes, "max_size": max(d.image_size),
        "image_mean": list(TF_MEAN if lite else IMAGENET_MEAN),
        "image_std": list(TF_STD if lite else IMAGENET_STD),
        "anchor_sizes": [m.anchor_scale * s for s in STRIDES],
        "aspect_ratios": list(m.aspect_ratios),
        "rpn": {"fg_iou_thresh": m.rpn_positive_overlap, "bg_iou_thresh": m.rpn_negative_overlap,
                "batch_size_per_image": m.rpn_batch_size_per_im,
                "positive_fraction": m.rpn_fg_fraction,
                "pre_nms_top_n_train": m.rpn_pre_nms_topn_train,
                "post_nms_top_n_train": m.rpn_post_nms_topn_train,
                "pre_nms_top_n_test": m.rpn_pre_nms_topn_test,
                "post_nms_top_n_test": m.rpn_post_nms_topn_test,
                "nms_thresh": m.rpn_nms_threshold},
        "box": {"batch_size_per_image": m.batch_size_per_im, "positive_fraction": m.fg_fraction,
                "fg_iou_thresh": m.fg_thresh, "bg_iou_thresh": m.bg_thresh_hi,
                "detections_per_img": m.test_detections_per_image, "nms_thresh": m.test_nms,
                "score_thresh": m.test_score_threshold},
        "representation_size": m.fast_rcnn_mlp_head_dim,
    }


class LiteBody(nn.Module):
    """EfficientNet-Lite's stem and blocks under their weight names, returning the ends of
    stages 2, 3, 5 and 7 (strides 4, 8, 16, 32) as FPN inputs."""

    def __init__(self, variant: str) -> None:
        super().__init__()
        from graft.nn.efficientnet_lite import EfficientNetLite
        from graft.nn.lite_layout import stage_block_ranges

        with torch.device("meta"):
            whole = EfficientNetLite(variant)
        for name in ("_stem_pad", "_conv_stem", "_bn0", "_stem_act", "_blocks"):
            self.add_module(name, getattr(whole, name))
        self.to_empty(device="cpu")
        EfficientNetLite._init_weights(self)  # type: ignore[arg-type]  # the Lite's own init
        ranges = stage_block_ranges(variant)
        self.ends = [ranges[i][1] - 1 for i in (1, 2, 4, 6)]
        self.channels = [int(self._blocks[i]._project_conv.out_channels) for i in self.ends]

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self._stem_act(self._bn0(self._conv_stem(self._stem_pad(x))))
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.ends:
                out[str(len(out))] = x
        return out


class FPNBackbone(nn.Module):
    """body (a dict of four feature maps) -> FPN with P6: what MaskRCNN takes as backbone."""

    def __init__(self, body: nn.Module, in_channels: list[int], norm: bool) -> None:
        super().__init__()
        from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool

        self.body = body
        self.fpn = FeaturePyramidNetwork(in_channels, 256, extra_blocks=LastLevelMaxPool(),
                                         norm_layer=nn.BatchNorm2d if norm else None)
        self.out_channels = 256

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.fpn(self.body(x))


def _frozen_bn(module: nn.Module) -> None:
    """Replace every BatchNorm2d below ``module`` by a FrozenBatchNorm2d (same tensor names)."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, FrozenBatchNorm2d(child.num_features, eps=child.eps))
        else:
            _frozen_bn(child)


def build_body(backbone: str, freeze_bn: bool) -> tuple[nn.Module, list[int]]:
    """The backbone trunk returning four feature maps, and their channels."""
    from torchvision.models._utils import IntermediateLayerGetter

    from graft.nn.backbones import check_arch

    if backbone.startswith("efficientnet_lite"):
        body: nn.Module = LiteBody(backbone)
        channels = list(body.channels)
    else:
        net = check_arch(backbone).build()
        layers = {f"layer{i}": str(i - 1) for i in range(1, 5)}
        body = IntermediateLayerGetter(net, layers)
        width = net.fc.in_features // 8  # 64 (BasicBlock) or 256 (Bottleneck) at layer1
        channels = [width, width * 2, width * 4, width * 8]
    if freeze_bn:
        _frozen_bn(body)
    return body, channels


def build_model(arch: dict[str, Any]) -> nn.Module:
    """torchvision MaskRCNN from a manifest ``architecture`` (random init)."""
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import (
        FastRCNNConvFCHead,
        FastRCNNPredictor,
        TwoMLPHead,
    )
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.models.detection.rpn import RPNHead

    v2 = arch["head_version"] == "v2"
    body, channels = build_body(arch["backbone"], arch["freeze_bn"])
    backbone = FPNBackbone(body, channels, norm=v2)
    sizes = tuple((float(s),) for s in arch["anchor_sizes"])
    anchors = AnchorGenerator(sizes, (tuple(arch["aspect_ratios"]),) * len(sizes))
    rep = int(arch["representation_size"])
    if v2:
        rpn_head = RPNHead(256, anchors.num_anchors_per_location()[0], conv_depth=2)
        box_head: nn.Module = FastRCNNConvFCHead((256, 7, 7), [256] * 4, [rep],
                                                 norm_layer=nn.BatchNorm2d)
        mask_head = MaskRCNNHeads(256, [256] * 4, 1, norm_layer=nn.BatchNorm2d)
    else:
        rpn_head = RPNHead(256, anchors.num_anchors_per_location()[0])
        box_head = TwoMLPHead(256 * 7 * 7, rep)
        mask_head = None
    rpn, box = arch["rpn"], arch["box"]
    min_sizes = tuple(arch.get("train_min_sizes", [])) + (int(arch["min_size"]),)
    return MaskRCNN(
        backbone, num_classes=None,
        box_predictor=FastRCNNPredictor(rep, int(arch["num_classes"])),
        mask_predictor=MaskRCNNPredictor(256, 256, int(arch["num_classes"])),
        min_size=min_sizes, max_size=int(arch["max_size"]),
        image_mean=list(arch["image_mean"]), image_std=list(arch["image_std"]),
        rpn_anchor_generator=anchors, rpn_head=rpn_head,
        rpn_pre_nms_top_n_train=rpn["pre_nms_top_n_train"],
        rpn_pre_nms_top_n_test=rpn["pre_nms_top_n_test"],
        rpn_post_nms_top_n_train=rpn["post_nms_top_n_train"],
        rpn_post_nms_top_n_test=rpn["post_nms_top_n_test"], rpn_nms_thresh=rpn["nms_thresh"],
        rpn_fg_iou_thresh=rpn["fg_iou_thresh"], rpn_bg_iou_thresh=rpn["bg_iou_thresh"],
        rpn_batch_size_per_image=rpn["batch_size_per_image"],
        rpn_positive_fraction=rpn["positive_fraction"],
        box_head=box_head, box_score_thresh=box["score_thresh"], box_nms_thresh=box["nms_thresh"],
        box_detections_per_img=box["detections_per_img"], box_fg_iou_thresh=box["fg_iou_thresh"],
        box_bg_iou_thresh=box["bg_iou_thresh"],
        box_batch_size_per_image=box["batch_size_per_image"],
        box_positive_fraction=box["positive_fraction"], mask_head=mask_head)


def freeze_backbone_blocks(net: nn.Module, backbone: str, blocks: list[int]) -> list[str]:
    """Freeze blocks of ``backbone.body`` by graft's block table (0 = stem)."""
    from graft.nn.backbones import freeze_blocks

    return freeze_blocks(net.backbone.body, backbone, blocks)
