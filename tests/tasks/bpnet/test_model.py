"""BpNetLite: layout, outputs per mode, LR multiplier groups, heads, manifest round trip."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from graft.api import GraftModel, load
from graft.errors import ArchiveError
from graft.tasks.bpnet.model import BpNetLite, architecture_dict, build_model
from graft.tasks.bpnet.pose_config import PoseConfig


@pytest.fixture(scope="module")
def small_net() -> BpNetLite:
    """6 heatmap + 8 PAF channels, 3 stages, the light backbone (built once: it takes time)."""
    torch.manual_seed(0)
    return BpNetLite(heat_channels=6, paf_channels=8, stages=3, backbone="mobilenet_v2")


def test_vgg_backbone_is_stride_8_without_pooling() -> None:
    net = BpNetLite(stages=2)
    convs = [m for m in net.backbone.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 1, 2, 1, 2, 1, 1, 1, 2, 1]
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.modules())
    assert [m.out_channels for m in net.neck.modules() if isinstance(m, nn.Conv2d)] == [256, 128]
    refine = [m for m in net.stages[1].trunk.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.in_channels) for c in refine][0] == ((7, 7), 128 + 19 + 38)
    assert len(refine) == 5
    with torch.no_grad():
        paf, heat = net.eval()(torch.rand(1, 3, 16, 24))
    assert paf.shape == (1, 38, 2, 3) and heat.shape == (1, 19, 2, 3)


def test_resnet18_backbone_is_cut_at_stride_8() -> None:
    net = BpNetLite(stages=2, backbone="resnet18").eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 16, 24))[1].shape == (1, 19, 2, 3)
    with pytest.raises(ValueError, match="unknown backbone"):
        BpNetLite(backbone="vgg16")


def test_outputs_in_train_and_eval_mode(small_net: BpNetLite) -> None:
    net = small_net
    x = torch.rand(2, 3, 16, 24)
    with torch.no_grad():
        outs = net.train()(x)
        assert len(outs) == 3
        assert all(p.shape == (2, 8, 2, 3) and h.shape == (2, 6, 2, 3) for p, h in outs)
        net.eval()
        paf, heat = net(x)
        assert paf.shape == (2, 8, 2, 3) and heat.shape == (2, 6, 2, 3)
        net.output_stage = 3
        torch.testing.assert_close(net(x)[0], paf)  # default: the last stage
        net.output_stage = 1
        paf1, _ = net(x)
        net.output_stage = None
    assert not torch.allclose(paf, paf1)


def test_stage_count_and_output_stage_are_checked(small_net: BpNetLite) -> None:
    with pytest.raises(ValueError, match="stages"):
        BpNetLite(stages=1)
    with pytest.raises(ValueError, match="stages"):
        BpNetLite(stages=8)
    with pytest.raises(ValueError, match="output stage"):
        small_net.output_stage = 4


def test_channels_last_gives_the_same_maps(small_net: BpNetLite) -> None:
    net = copy.deepcopy(small_net).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        ref = net(x)
        cl = net.to(memory_format=torch.channels_last)(x.contiguous(
            memory_format=torch.channels_last))
    for a, b in zip(ref, cl, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_lr_multiplier_groups_cover_every_parameter_once(small_net: BpNetLite) -> None:
    net = small_net
    groups = {g["name"]: g for g in net.lr_multiplier_groups()}
    assert {n: g["lr_mult"] for n, g in groups.items()} == {
        "early_kernels": 1.0, "early_biases": 2.0, "refine_kernels": 4.0, "refine_biases": 8.0}
    ids = [id(p) for g in groups.values() for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))
    assert any(p is net.stages[0].paf.out.bias for p in groups["early_biases"]["params"])
    assert any(p is net.stages[2].heatmap.out.weight for p in groups["refine_kernels"]["params"])
    assert any(p is net.stages[1].trunk[0][0].bias for p in groups["refine_biases"]["params"])
    bn = net.neck[0][1].bias  # a norm's bias is no conv bias: x1
    assert any(p is bn for p in groups["early_kernels"]["params"])


def test_heads_are_the_output_convs(small_net: BpNetLite) -> None:
    heads = small_net.heads()
    assert len(heads) == 6
    assert [h.out_channels for h in heads] == [8, 6] * 3
    assert all(h.kernel_size == (1, 1) for h in heads)


def test_self_attention_adds_a_gate_per_stage() -> None:
    gated = BpNetLite(stages=2, backbone="mobilenet_v2", use_self_attention=True)
    gates = [m for m in gated.modules() if m.__class__.__name__ == "AttentionGate"]
    assert len(gates) == 2
    assert sum(p.numel() for g in gates for p in g.parameters()) == 2 * (128 * 9 + 1)
    with torch.no_grad():
        assert gated.eval()(torch.rand(1, 3, 16, 16))[0].shape == (1, 38, 2, 2)


def test_refinement_kernel_sets_only_the_refinement_trunk() -> None:
    net = BpNetLite(stages=3, backbone="mobilenet_v2", refinement_kernel=3)
    refine = [m.kernel_size for stage in net.stages[1:] for m in stage.trunk.modules()
              if isinstance(m, torch.nn.Conv2d)]
    assert refine == [(3, 3)] * 10
    assert [m[0].kernel_size for m in net.stages[0].trunk] == [(3, 3)] * 3
    default = BpNetLite(stages=3, backbone="mobilenet_v2")
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in default.parameters())
    with pytest.raises(ValueError, match="refinement_kernel"):
        BpNetLite(stages=2, backbone="mobilenet_v2", refinement_kernel=4)


def test_architecture_round_trip_through_a_graft_file(tmp_path: Path) -> None:
    pose = PoseConfig(joints=["head", "l_hand", "r_hand"], limbs=[(0, 1), (0, 2)],
                      source_joints=["head", "l_hand", "r_hand"], synthesized=[])
    arch = architecture_dict(pose.model_dump(mode="json"), backbone="mobilenet_v2", stages=2,
                             refinement_kernel=5)
    assert (arch["heat_channels"], arch["paf_channels"]) == (4, 4)
    net = build_model(arch).eval()
    assert net.stages[1].trunk[0][0].kernel_size == (5, 5)
    manifest = {"task": "bpnet", "architecture": arch,
                "input": {"channels": 3, "height": 32, "width": 32}}
    GraftModel(net, manifest).save(tmp_path / "m.graft")
    loaded = load(tmp_path / "m.graft")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        for a, b in zip(net(x), loaded.module(x), strict=True):
            torch.testing.assert_close(a, b)
    assert loaded.task.output_names(loaded.manifest) == ["paf", "heatmap"]
    assert loaded.task.output_layers(loaded.module, loaded.manifest) == loaded.module.heads()


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path: Path) -> None:
    pose = PoseConfig(joints=["head", "l_hand", "r_hand"], limbs=[(0, 1), (0, 2)],
                      source_joints=["head", "l_hand", "r_hand"], synthesized=[])
    arch = architecture_dict(pose.model_dump(mode="json"), backbone="mobilenet_v2", stages=2)
    net = build_model({**arch, "refinement_kernel": 3})  # weights say 3x3, manifest says 7x7
    GraftModel(net, {"task": "bpnet", "architecture": arch}).save(tmp_path / "m.graft")
    with pytest.raises(ArchiveError, match="does not match its architecture.*size mismatch"):
        load(tmp_path / "m.graft")
