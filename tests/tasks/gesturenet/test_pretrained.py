"""GestureNet starts from the ImageNet EfficientNet-Lite0 weights like every task."""

from __future__ import annotations

import torch

from graft.nn.pretrained import load_packaged
from graft.tasks.classification.model import build_network
from graft.tasks.gesturenet.crop import CLASSES
from graft.tasks.gesturenet.spec import GestureSpec


def test_a_gesturenet_spec_naming_efficientnet_lite0_builds_from_the_imagenet_weights() -> None:
    spec = GestureSpec.model_validate({
        "model": {"arch": "efficientnet_lite0", "pretrained_weights": "efficientnet_lite0"},
        "data": {"train_file": "train.json", "preprocess_mode": "tf"}})
    net, arch = build_network(spec.model, CLASSES)  # what GestureTraining.build calls
    source = load_packaged("efficientnet_lite0")
    own = net.state_dict()
    body = [k for k in own if not k.startswith("_fc.")]
    assert len(body) == len(source) - 2
    assert all(torch.equal(own[k], source[k]) for k in body)
    assert net._fc.out_features == len(CLASSES) == arch["num_classes"]
