from __future__ import annotations

import numpy as np
import pytest
import torch

from graft.errors import UserError
from graft.spec_paths import resolve_spec_paths
from graft.tasks.bpnet.convert import PoseIndex, dataset_convert
from graft.tasks.bpnet.data import BpnetDataModule, BpnetDataset
from graft.tasks.bpnet.data_spec import DataloaderSpec, NormalizationSpec
from graft.tasks.bpnet.pose_config import PoseConfig


@pytest.fixture(scope="module")
def converted(coco_small, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted")
    dataset_convert(coco_small, "train", out / "train", generate_masks=True, progress=False)
    dataset_convert(coco_small, "test", out / "val", progress=False)
    return out


def make_spec(converted, **extra) -> DataloaderSpec:
    data = {"batch_size": 3, "workers": 0,
            "image_config": {"image_dims": {"height": 128, "width": 96}},
            "dataset_config": {"train_records_folder_path": str(converted / "train"),
                               "val_records_folder_path": str(converted / "val")}}
    data.update(extra)
    return DataloaderSpec.model_validate(data)


def test_batches_have_the_contracted_layout(converted):
    dm = BpnetDataModule(make_spec(converted))
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (3, 3, 128, 96) and batch["image"].dtype == torch.float32
    assert batch["heatmap"].shape == (3, 19, 16, 12)
    assert batch["paf"].shape == (3, 38, 16, 12)
    assert batch["mask"].shape == (3, 1, 16, 12) and batch["mask"].dtype == torch.float32
    assert batch["image_id"].dtype == torch.int64
    assert batch["image"].min() >= -0.5 and batch["image"].max() < 0.5  # x / 256 - 0.5
    assert (batch["heatmap"].sum(dim=1) > 0).all()
    assert dm.pose_config.num_joints == 18


def test_val_loader_supports_coco_evaluation(converted, coco_small_json):
    dm = BpnetDataModule(make_spec(converted))
    assert dm.has_val
    assert dm.val_annotation_file.name == "person_keypoints.json"
    assert dm.val_image_ids == sorted(im["id"] for im in coco_small_json["images"])
    batches = list(dm.val_dataloader())
    ids = torch.cat([b["image_id"] for b in batches]).tolist()
    assert ids == dm.val_image_ids  # every image once, in order, no augmentation
    masks = torch.cat([b["mask"] for b in batches])
    crowd_image = ids.index(2)  # the crowd and the unlabeled person are masked out
    assert masks[crowd_image].min() < 0.5
    again = torch.cat([b["heatmap"] for b in dm.val_dataloader()])
    torch.testing.assert_close(again, torch.cat([b["heatmap"] for b in batches]))


def test_person_centric_samples_each_main_person(converted):
    spec = make_spec(converted)
    index = PoseIndex.load(converted / "train")
    train = BpnetDataset(index, spec, index.pose_config, train=True)
    assert len(train) == int(index.main.sum())
    standard = make_spec(converted, augmentation_config={"spatial_augmentation_mode": "standard"})
    assert len(BpnetDataset(index, standard, index.pose_config, train=True)) == len(index)
    sample = train.load(0, np.random.default_rng(0))
    assert sample["image"].shape == (128, 96, 3) and sample["image"].dtype == np.uint8


def test_augmentation_is_seeded_per_process(converted):
    index = PoseIndex.load(converted / "train")
    spec = make_spec(converted)
    a = BpnetDataset(index, spec, index.pose_config, train=True)
    b = BpnetDataset(index, spec, index.pose_config, train=True)
    torch.testing.assert_close(a[0]["heatmap"], b[0]["heatmap"])  # same seed, same stream
    assert not torch.equal(a[0]["heatmap"], a[0]["heatmap"])  # the stream moves on


def test_dataset_spec_only_and_mean_std(coco_small):
    def module(normalization):
        return BpnetDataModule(DataloaderSpec.model_validate({
            "batch_size": 2, "workers": 0,
            "image_config": {"image_dims": {"height": 64, "width": 64}},
            "dataset_config": {"dataset_spec": str(coco_small)},
            "normalization_params": normalization}))

    tlt, imagenet = module({}), module({"type": "mean_std"})
    assert len(tlt.train_index) == 4 and len(tlt.val_index) == 5  # built from the annotations
    a = next(iter(tlt.val_dataloader()))["image"]
    b = next(iter(imagenet.val_dataloader()))["image"]
    assert a.shape == (2, 3, 64, 64)
    pixels = (a + 0.5) * 256
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(b, (pixels / 255 - mean) / std, atol=1e-4, rtol=1e-4)


def test_workers_and_pose_mismatch(converted):
    dm = BpnetDataModule(make_spec(converted, workers=1))
    loader = dm.train_dataloader()
    assert loader.persistent_workers and loader.num_workers == 1
    assert next(iter(loader))["image"].shape[0] == 3
    custom = PoseConfig(joints=["nose", "neck"], limbs=[(0, 1)])
    with pytest.raises(UserError, match="re-run dataset_convert"):
        BpnetDataModule(make_spec(converted), pose_config=custom).setup("fit")


def test_normalization_forms():
    x = torch.tensor([0.0, 128.0, 255.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    tlt = NormalizationSpec().apply(x)
    torch.testing.assert_close(tlt[0, :, 0, 0], torch.tensor([-0.5, 0.0, 255 / 256 - 0.5]))
    ms = NormalizationSpec(type="mean_std", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    torch.testing.assert_close(ms.apply(x.to(torch.uint8))[0, :, 0, 0],
                               torch.tensor([-1.0, 128 / 127.5 - 1, 1.0]))


def test_spec_validation():
    with pytest.raises(ValueError, match="multiples of the stride"):
        DataloaderSpec.model_validate({"image_config": {"image_dims": {"height": 100}},
                                       "dataset_config": {"dataset_spec": "x"}})
    with pytest.raises(ValueError, match="target_shape"):
        DataloaderSpec.model_validate({"pose_config": {"target_shape": [46, 46]},
                                       "dataset_config": {"dataset_spec": "x"}})
    spec = DataloaderSpec.model_validate({"dataset_config": {"dataset_spec": "x"}})
    assert spec.batch_size == 10 and spec.image_config.target_size == (32, 32)
    assert spec.label_processor_config.heatmap_gaussian_sigma == 7.0
    assert spec.augmentation_config.spatial_aug_params.rotate_range == (-40.0, 40.0)
    resolved = resolve_spec_paths(spec, "/base")
    assert resolved.dataset_config.dataset_spec == "/base/x"


def test_custom_skeleton_batches(custom5):
    spec = DataloaderSpec.model_validate({
        "batch_size": 2, "workers": 0,
        "image_config": {"image_dims": {"height": 64, "width": 64}},
        "pose_config": {"pose_config_path": str(custom5.parent / "pose_config.json")},
        "dataset_config": {"dataset_spec": str(custom5)}})
    dm = BpnetDataModule(spec)
    batch = next(iter(dm.train_dataloader()))
    assert dm.pose_config.joints == ["head", "l_hand", "r_hand", "l_foot", "r_foot"]
    assert batch["heatmap"].shape == (2, 6, 8, 8) and batch["paf"].shape == (2, 8, 8, 8)


@pytest.mark.parametrize("mode", ["person_centric", "standard"])
def test_sample_image_and_keypoints_agree(dataset_factory, coco_small_json, mode):
    """Through the whole sample path (reduced JPEG decoding, warp, flips): dots drawn at the
    keypoints end up where the transformed keypoints are."""
    import cv2

    h, w = 600, 800
    grid = [(120 + 140 * (k % 5), 100 + 120 * (k // 5)) for k in range(17)]
    kps = [v for x, y in grid for v in (x, y, 2)]
    coco = {"images": [{"id": 1, "file_name": "dots.jpg", "height": h, "width": w}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                             "keypoints": kps, "num_keypoints": 17, "area": 5e5,
                             "bbox": [100, 80, 600, 480], "segmentation": []}],
            "categories": coco_small_json["categories"]}
    spec_path = dataset_factory(coco, write=False)
    image = np.zeros((h, w, 3), np.uint8)
    for x, y in grid:
        cv2.circle(image, (x, y), 14, (255, 255, 255), -1, cv2.LINE_AA)
    (spec_path.parent / "images").mkdir()
    cv2.imwrite(str(spec_path.parent / "images" / "dots.jpg"), image)
    spec = DataloaderSpec.model_validate({
        "workers": 0, "image_config": {"image_dims": {"height": 128, "width": 128}},
        "dataset_config": {"dataset_spec": str(spec_path)},
        "augmentation_config": {"spatial_augmentation_mode": mode, "spatial_aug_params": {
            "flip_lr_prob": 0.5, "flip_tb_prob": 0.3, "zoom_prob": 1.0}}})
    dataset = BpnetDataModule(spec).train_index
    ds = BpnetDataset(dataset, spec, dataset.pose_config, train=True)
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(6):
        s = ds.load(0, rng)
        gray = s["image"][..., 0].astype(float)
        for name, (x, y, v) in zip(ds.pose.joints, s["keypoints"][0], strict=True):
            if name == "neck" or v == 0 or not (6 <= x <= 121 and 6 <= y <= 121):
                continue  # (no dot is drawn at the synthesized neck)
            x0, y0 = int(round(x)) - 4, int(round(y)) - 4
            win = gray[y0:y0 + 9, x0:x0 + 9]
            win = np.clip(win - 128, 0, None)  # the dot, not the grey padding
            yy, xx = np.mgrid[0:9, 0:9]
            centre = (np.sum(xx * win) / win.sum() + x0, np.sum(yy * win) / win.sum() + y0)
            np.testing.assert_allclose(centre, (x, y), atol=1.0)
            checked += 1
    assert checked > 20


def test_images_come_out_rgb(dataset_factory, coco_small_json):
    import cv2

    coco = {**coco_small_json, "images": [coco_small_json["images"][0]],
            "annotations": [a for a in coco_small_json["annotations"] if a["image_id"] == 1]}
    spec_path = dataset_factory(coco, write=False)
    image = np.zeros((480, 640, 3), np.uint8)
    image[..., 2] = 255  # red, in OpenCV's BGR order
    (spec_path.parent / "images").mkdir()
    cv2.imwrite(str(spec_path.parent / "images" / coco["images"][0]["file_name"]), image)
    spec = DataloaderSpec.model_validate({
        "workers": 0, "image_config": {"image_dims": {"height": 64, "width": 64}},
        "dataset_config": {"dataset_spec": str(spec_path)},
        "augmentation_config": {"spatial_augmentation_mode": "standard_with_fixed_aspect_ratio",
                                "enabled": False}})
    dm = BpnetDataModule(spec)
    dm.setup()
    x = dm.train_dataset[0]["image"]
    assert x[0].mean() > 0.45 and x[1].abs().max() == 0.5 and x[2].mean() < -0.45


def test_device_targets_match_the_cpu_path(converted):
    """Keypoints through the loader, targets made after transfer: the CPU path's batch."""
    dm = BpnetDataModule(make_spec(converted))
    dm.setup("fit")
    assert dm.train_dataset.device_targets is False  # no trainer on CUDA: the CPU path
    torch.manual_seed(0)
    want = next(iter(dm.train_dataloader()))
    dm.train_dataset.device_targets = True
    dm.train_dataset._rng = None
    torch.manual_seed(0)
    raw = next(iter(dm._loader(dm.train_dataset, train=True)))  # train_dataloader re-decides
    assert "heatmap" not in raw and raw["keypoints"].shape[0] == 3
    assert raw["keypoints"].shape[2:] == (18, 3)
    got = dm.on_after_batch_transfer(raw, 0)
    assert "keypoints" not in got
    for key in ("image", "mask", "image_id"):
        torch.testing.assert_close(got[key], want[key])
    torch.testing.assert_close(got["heatmap"], want["heatmap"], atol=1e-5, rtol=0)
    torch.testing.assert_close(got["paf"], want["paf"], atol=1e-5, rtol=0)
    assert want["paf"].abs().sum() > 0


def test_device_targets_chosen_for_a_cuda_trainer(converted, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.delenv("GRAFT_CPU_INPUT", raising=False)
    dm = BpnetDataModule(make_spec(converted))
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cuda", 0)))
    dm.setup("fit")
    assert dm.train_dataset.device_targets is True
    monkeypatch.setenv("GRAFT_CPU_INPUT", "1")
    dm.setup("fit")
    assert dm.train_dataset.device_targets is False
