"""The training module: cost and autoweighting per step and epoch, validation by mAP in the
epochs evaluation_config names."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from graft.spec import validate
from graft.spec_paths import resolve_spec_paths
from graft.tasks.detectnet_v2.data import DetectionData
from graft.tasks.detectnet_v2.module import NEVER, DetectNetModule, ValidationSchedule
from graft.tasks.detectnet_v2.records import load_dataset
from graft.tasks.detectnet_v2.spec import DetectNetSpec
from graft.tasks.detectnet_v2.train import NORMALIZATION, build_network
from tests.tasks.detectnet_v2.conftest import spec_dict


def _spec(root: Path, **sections) -> DetectNetSpec:
    return resolve_spec_paths(validate(DetectNetSpec, spec_dict(**sections)), root)


def test_validation_runs_in_the_epochs_evaluation_config_names(kitti: Path) -> None:
    spec = _spec(kitti, training_config={"num_epochs": 12}, evaluation_config={
        "validation_period_during_training": 5, "first_validation_epoch": 3})
    net, _ = build_network(spec)
    module = DetectNetModule(net, spec, NORMALIZATION)
    (schedule,) = module.configure_callbacks()
    validated = []
    for epoch in range(12):
        trainer = SimpleNamespace(current_epoch=epoch, check_val_every_n_epoch=5)
        schedule.on_train_epoch_start(trainer, module)
        if (epoch + 1) % trainer.check_val_every_n_epoch == 0:
            validated.append(epoch + 1)
        else:
            assert trainer.check_val_every_n_epoch == NEVER
    assert validated == [3, 8, 12]
    assert isinstance(schedule, ValidationSchedule)


def test_a_training_step_and_the_epoch_autoweighting(kitti: Path) -> None:
    spec = _spec(kitti)
    data = DetectionData(load_dataset(spec.dataset_config), spec.augmentation_config, 3, 0)
    net, arch = build_network(spec)
    assert arch["num_classes"] == 2 and arch["class_names"] == ["car", "person"]
    module = DetectNetModule(net, spec, NORMALIZATION)
    batch = next(iter(data.train_dataloader()))
    before = module.cost.objective_weights.clone()
    loss = module.training_step(batch, 0)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert net.output_cov.weight.grad.abs().sum() > 0
    assert (module.cost.cost_sums > 0).all()
    module.on_train_epoch_end()
    assert not torch.equal(module.cost.objective_weights, before)
    assert (module.cost.cost_sums == 0).all()


class PerfectNet(nn.Module):
    """Answers with the targets of the labels it was given, whatever the images."""

    def __init__(self, cov: torch.Tensor, bbox: torch.Tensor) -> None:
        super().__init__()
        self.cov, self.bbox = cov, bbox
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor):
        return self.cov, self.bbox


def test_validation_scores_decoded_detections_in_original_pixels(kitti: Path) -> None:
    spec = _spec(kitti, augmentation_config={"preprocessing": {
        "output_image_width": 32, "output_image_height": 48}},
        postprocessing_config={"target_class_config": {c: {"clustering_config": {
            "minimum_bounding_box_height": 2}} for c in ("car", "person")}})
    data = DetectionData(load_dataset(spec.dataset_config), spec.augmentation_config, 2, 0)
    batch = next(iter(data.val_dataloader()))
    module = DetectNetModule(nn.Identity(), spec, NORMALIZATION)
    targets = module.encoder(batch["boxes"], batch["labels"])
    b, c, _, h, w = targets.bbox.shape
    module.net = PerfectNet(targets.cov, targets.bbox.reshape(b, 4 * c, h, w))
    logged = {}
    module.log = lambda name, value, **kw: logged.__setitem__(name, float(value))
    module.on_validation_epoch_start()
    module.validation_step(batch, 0)
    module.on_validation_epoch_end()
    assert logged["val/mAP"] > 0.95, logged
    assert {"val/AP/car", "val/AP/person", "val/loss"} <= set(logged)
