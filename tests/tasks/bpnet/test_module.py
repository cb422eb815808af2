"""Training pieces: the masked multi-stage loss, parameter groups, network building."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from graft.api import GraftModel
from graft.errors import UserError
from graft.tasks.bpnet.model import BpNetLite
from graft.tasks.bpnet.module import (
    BpnetModule,
    build_network,
    manifest_normalization,
    masked_l2,
    pose_loss,
)
from graft.tasks.bpnet.pose_config import PoseConfig
from graft.tasks.bpnet.spec import BpnetTrainSpec, ModelSpec

SPEC = {"dataloader": {"dataset_config": {"dataset_spec": "x.json"}},
        "model": {"backbone": "mobilenet_v2", "stages": 2}}


@pytest.fixture(scope="module")
def net() -> BpNetLite:
    torch.manual_seed(0)
    return BpNetLite(stages=2, backbone="mobilenet_v2")


def test_masked_l2_value_and_mask() -> None:
    pred = torch.zeros(2, 3, 4, 4)
    target = torch.ones(2, 3, 4, 4)
    mask = torch.ones(2, 1, 4, 4)
    assert masked_l2(pred, target, mask).item() == pytest.approx(0.5 * 3 * 16)  # per image
    mask[:, :, :2] = 0
    assert masked_l2(pred, target, mask).item() == pytest.approx(0.5 * 3 * 8)
    assert masked_l2(pred, target, torch.zeros_like(mask)).item() == 0.0


def test_pose_loss_sums_every_stage_and_both_branches() -> None:
    heat, paf = torch.rand(2, 19, 4, 4), torch.rand(2, 38, 4, 4)
    mask = torch.ones(2, 1, 4, 4)
    perfect = (paf.clone(), heat.clone())
    off = (paf + 1.0, heat.clone())
    loss, parts = pose_loss([perfect, off], heat, paf, mask)
    assert parts["heatmap"].item() == 0.0
    assert loss.item() == pytest.approx(0.5 * 38 * 16)
    with pytest.raises(UserError, match="outputs"):
        pose_loss([(paf[..., :2, :2], heat[..., :2, :2])], heat, paf, mask)


def test_stagewise_groups_follow_the_spec(net: BpNetLite) -> None:
    spec = BpnetTrainSpec.model_validate(SPEC)
    module = BpnetModule(net, spec)
    assert sorted(g["lr_mult"] for g in module.param_groups()) == [1.0, 2.0, 4.0, 8.0]
    flat = BpnetModule(net, spec.model_copy(update={"use_stagewise_lr_multipliers": False}))
    assert [g["lr_mult"] for g in flat.param_groups()] == [1.0]


def test_training_steps_lower_the_loss(net: BpNetLite) -> None:
    torch.manual_seed(1)
    module = BpnetModule(net, BpnetTrainSpec.model_validate(SPEC))
    batch = {"image": torch.rand(2, 3, 32, 32) - 0.5, "heatmap": torch.rand(2, 19, 4, 4),
             "paf": torch.rand(2, 38, 4, 4) - 0.5, "mask": torch.ones(2, 1, 4, 4)}
    module.log = lambda *a, **k: None  # no trainer attached
    opt = torch.optim.SGD([{"params": g["params"], "lr": 1e-3 * g["lr_mult"]}
                           for g in module.param_groups()], lr=1e-3, momentum=0.9)
    module.train()
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = module.training_step(batch, 0)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_build_network_checks_channels_and_loads_pretrained(tmp_path: Path) -> None:
    pose = PoseConfig()
    with pytest.raises(UserError, match="heat_channels"):
        build_network(ModelSpec(backbone="mobilenet_v2", stages=2, heat_channels=18), pose)
    with pytest.raises(UserError, match="load_graph"):
        build_network(ModelSpec(backbone="mobilenet_v2", stages=2, load_graph=True), pose)
    src, arch = build_network(ModelSpec(backbone="mobilenet_v2", stages=2), pose)
    assert arch["pose_config"]["joints"] == pose.joints
    GraftModel(src, {"task": "bpnet", "architecture": arch,
                     "input": {"channels": 3, "height": 32, "width": 32}}).save(
        tmp_path / "pre.graft")
    spec = ModelSpec(backbone="mobilenet_v2", stages=2,
                     pretrained_weights=str(tmp_path / "pre.graft"), load_graph=True)
    net, arch2 = build_network(spec, pose)
    for (name, a), b in zip(src.state_dict().items(), net.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    assert "layer_shapes" in arch2


def test_manifest_normalization_matches_the_data_side() -> None:
    from graft.data.preprocess import normalize
    from graft.tasks.bpnet.data_spec import NormalizationSpec

    for spec in (NormalizationSpec(), NormalizationSpec(type="mean_std")):
        x = torch.randint(0, 256, (1, 3, 4, 4)).float()
        ours = normalize(x, manifest_normalization(spec))
        torch.testing.assert_close(ours, spec.apply(x[0])[None], rtol=1e-5, atol=1e-5)
