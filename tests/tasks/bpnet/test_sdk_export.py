"""export --sdk_compatible_model: the PAF output gains a 2x ConvTranspose upsampling."""

import onnx
import torch
import torch.nn.functional as F

from graft.tasks.bpnet.model import PafUpsampleHead


def test_paf_head_is_bilinear_2x_upsampling():
    head = PafUpsampleHead(4)
    paf = torch.rand(1, 4, 6, 8)
    heat = torch.rand(1, 3, 6, 8)
    up, same = head(paf, heat)
    assert up.shape == (1, 4, 12, 16) and same is heat
    ref = F.interpolate(paf, scale_factor=2, mode="bilinear", align_corners=False)
    # identical away from the border (the transposed conv zero-pads where interpolation clamps)
    assert torch.allclose(up[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-6)


def test_sdk_compatible_export_adds_conv_transpose(tmp_path):
    from graft.tasks.bpnet.task import TASK

    manifest = {"architecture": {"pose_config": {"limbs": [[0, 1], [1, 2]]}}}
    head, names = TASK.sdk_compatible_head(manifest)
    assert names == ["paf_upsampled", "heatmap"]
    path = tmp_path / "head.onnx"
    torch.onnx.export(head, (torch.rand(1, 4, 6, 8), torch.rand(1, 3, 6, 8)), str(path),
                      input_names=["paf", "heatmap_in"], output_names=names, dynamo=False)
    assert "ConvTranspose" in {n.op_type for n in onnx.load(str(path)).graph.node}
