"""Small networks and a test task for the optimization toolkit (no other task needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from graft.tasks.base import Task


@pytest.fixture(autouse=True)
def _one_thread_and_a_seed():
    """Tiny convs run 100x slower when OpenMP threads fight other processes for 2 cores; the
    seed makes every random initialization (and so every pruning decision) reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(before)


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())


class Block(nn.Module):
    """Residual block: the two convs' outputs meet in an add (an equalization group)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv_bn(cin, cout, stride)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.down is None else self.down(x)
        return torch.relu(self.bn2(self.conv2(self.conv1(x))) + skip)


class TinyResNet(nn.Module):
    def __init__(self, num_classes: int = 4, width: int = 32) -> None:
        super().__init__()
        self.stem = conv_bn(3, width)
        self.layer1 = Block(width, width)
        self.layer2 = Block(width, 2 * width, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layer2(self.layer1(self.stem(x)))), 1))


class TwoStage(nn.Module):
    """bpnet in miniature: stage 2 reads concat(features, stage-1 heatmap, stage-1 PAF)."""

    def __init__(self, feat: int = 32, paf: int = 6, heat: int = 4) -> None:
        super().__init__()
        self.backbone = nn.Sequential(conv_bn(3, 32), conv_bn(32, 48, 2), conv_bn(48, feat))
        self.s1 = nn.Sequential(conv_bn(feat, 32), conv_bn(32, 32))
        self.s1_paf = nn.Sequential(nn.Conv2d(32, 40, 1), nn.ReLU(), nn.Conv2d(40, paf, 1))
        self.s1_heat = nn.Sequential(nn.Conv2d(32, 40, 1), nn.ReLU(), nn.Conv2d(40, heat, 1))
        self.s2 = nn.Sequential(conv_bn(feat + heat + paf, 32), conv_bn(32, 32))
        self.s2_paf = nn.Sequential(nn.Conv2d(32, 24, 1), nn.ReLU(), nn.Conv2d(24, paf, 1))
        self.s2_heat = nn.Sequential(nn.Conv2d(32, 24, 1), nn.ReLU(), nn.Conv2d(24, heat, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f = self.backbone(x)
        h1 = self.s1(f)
        paf1, heat1 = self.s1_paf(h1), self.s1_heat(h1)
        h2 = self.s2(torch.cat([f, heat1, paf1], 1))
        return [self.s2_paf(h2), self.s2_heat(h2)]

    def heads(self) -> list[nn.Module]:
        return [self.s1_paf[2], self.s1_heat[2], self.s2_paf[2], self.s2_heat[2]]


class ExportDrift(nn.Module):
    """A net whose exported graph differs from eager PyTorch on purpose: while an ONNX exporter
    traces it, the output is multiplied by ``scale`` and shifted by ``offset``."""

    def __init__(self, scale: float = 1.0, offset: float = 0.0, gain: float = 1.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.scale, self.offset, self.gain = scale, offset, gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x) * self.gain
        if torch.onnx.is_in_onnx_export():
            y = y * self.scale + self.offset
        return y


def spread_filter_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give filters very different norms (as L1-regularized training does) so pruning bites."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                shape = (m.weight.shape[0],) + (1,) * (m.weight.dim() - 1)
                m.weight.mul_(torch.rand(shape, generator=g) ** 2)
    return model


class ToyTask(Task):
    """A task over the toy networks, registered for graft.api.load by the fixture below."""

    name = "toy"
    summary = "test networks"
    builders = {"tiny_resnet": TinyResNet, "two_stage": TwoStage, "drift": ExportDrift}

    def build_model(self, architecture: dict[str, Any]) -> nn.Module:
        return self.builders[architecture["name"]](**architecture.get("kwargs", {}))

    def output_names(self, manifest: dict[str, Any]) -> list[str]:
        return ["paf", "heatmap"] if manifest["architecture"]["name"] == "two_stage" else ["logits"]

    def output_layers(self, model: nn.Module, manifest: dict[str, Any]) -> list[nn.Module]:
        if isinstance(model, ExportDrift):
            return [model.conv]
        return model.heads() if isinstance(model, TwoStage) else [model.fc]


def manifest_for(arch: str, size: int = 32) -> dict[str, Any]:
    return {
        "task": "toy",
        "architecture": {"name": arch},
        "input": {"channels": 3, "height": size, "width": size,
                  "normalization": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}},
        "classes": ["a", "b", "c", "d"] if arch == "tiny_resnet" else [],
    }


@pytest.fixture
def toy_task(monkeypatch: pytest.MonkeyPatch) -> ToyTask:
    """Make ``graft.tasks.get("toy")`` find the toy task (the registry is the lead's)."""
    import graft.tasks

    task = ToyTask()
    real_get = graft.tasks.get
    monkeypatch.setattr(graft.tasks, "get", lambda n: task if n == "toy" else real_get(n))
    return task


@pytest.fixture
def image_dir(tmp_path):
    """A folder of small real image files (ImageFolder layout) for calibration."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(12):
        d = tmp_path / "images" / ("cls_a" if i % 2 else "cls_b")
        d.mkdir(parents=True, exist_ok=True)
        yy, xx = np.mgrid[0:40, 0:48]
        img = np.stack([(xx * 5 + i * 20) % 256, (yy * 6) % 256,
                        rng.integers(0, 256, (40, 48))], -1).astype(np.uint8)
        Image.fromarray(img).save(d / f"img_{i}.png")
    return tmp_path / "images"
