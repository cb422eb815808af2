"""Classification's device input path (run here with device='cpu'): decode + augment a batch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from graft.data.images import read_rgb
from graft.tasks.classification.data import ClassificationData
from graft.tasks.classification.spec import DataSpec


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            Image.fromarray(img).save(tmp_path / cls / f"{i}.png")
    return tmp_path


def data(folder, **aug) -> ClassificationData:
    spec = DataSpec.model_validate({"train_dir": str(folder), "batch_size": 6, "workers": 0,
                                    "augmentation": aug})
    return ClassificationData(spec, (48, 64))


def cuda_trainer() -> SimpleNamespace:
    return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cuda", 0)))


def test_device_path_is_chosen_for_a_cuda_trainer(folder, monkeypatch):
    monkeypatch.delenv("GRAFT_CPU_INPUT", raising=False)
    dm = data(folder)
    dm.setup("fit")
    assert dm.device_augment is None
    assert isinstance(next(iter(dm.train_dataloader()))[0], torch.Tensor)  # the CPU path
    dm.trainer = cuda_trainer()
    dm.setup("fit")
    assert dm.device_augment is not None
    encoded, labels = next(iter(dm.train_dataloader()))
    assert isinstance(encoded[0], bytes) and labels.shape == (6,)


def test_device_batch_is_the_cpu_resize_without_randomness(folder):
    """Whole-image crop, no flips: the device path gives the CPU path's Resize."""
    dm = data(folder, random_crop=False, horizontal_flip=0.0, color_jitter=(0, 0, 0, 0))
    dm.trainer = cuda_trainer()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    images, labels = dm.on_after_batch_transfer(batch, 0)
    assert images.shape == (6, 3, 48, 64) and images.dtype == torch.float32
    paths = {p.read_bytes(): p for p in folder.glob("*/*.png")}
    resize = v2.Resize((48, 64), antialias=True)
    for image, encoded in zip(images, batch[0], strict=True):
        want = resize(read_rgb(paths[encoded]).float())
        torch.testing.assert_close(image, want, atol=1e-3, rtol=0)


def test_device_augmentation_flips_crops_and_jitters(folder):
    dm = data(folder, horizontal_flip=1.0, crop_scale=(0.3, 0.5), color_jitter=(0.4, 0.4, 0.4, 0))
    dm.trainer = cuda_trainer()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    torch.manual_seed(0)
    images, _ = dm.on_after_batch_transfer(batch, 0)
    assert images.shape == (6, 3, 48, 64)
    assert images.min() >= 0 and images.max() <= 255
    plain = data(folder, random_crop=False, horizontal_flip=0.0, color_jitter=(0, 0, 0, 0))
    plain.trainer = cuda_trainer()
    plain.setup("fit")
    whole, _ = plain.on_after_batch_transfer(batch, 0)
    assert (images - whole).abs().mean() > 10  # augmented, not the plain resize


@pytest.mark.slow
def test_training_runs_through_the_device_path(tmp_path, shapes_dir, monkeypatch):
    """A real Lightning run calls the data module's hook: every training batch is augmented
    by DeviceAugment (forced on the CPU here), and the model is written."""
    import yaml

    from graft.tasks.classification import data as data_module
    from graft.tasks.classification.train import train
    from tests.conftest import classification_spec_dict

    calls = []
    original = data_module.DeviceAugment.__call__

    def counted(self, encoded, device):
        out = original(self, encoded, device)
        calls.append(out.shape)
        return out

    monkeypatch.setattr(data_module.DeviceAugment, "__call__", counted)
    monkeypatch.setenv("GRAFT_DEVICE_INPUT", "1")
    monkeypatch.delenv("GRAFT_CPU_INPUT", raising=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(classification_spec_dict(shapes_dir, epochs=1)))
    summary = train(spec, tmp_path / "r", accelerator="cpu", progress=False)
    assert summary.written and (tmp_path / "r" / "model.graft").exists()
    assert calls and all(s[1:] == (3, 32, 32) for s in calls)
