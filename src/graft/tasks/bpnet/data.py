"""Training data: a torch Dataset over a converted index and a LightningDataModule.

Each sample is decoded by graft's image reader (a JPEG shrunk while decoding when the warp
shrinks it anyway), warped once (image and loss mask) by a random affine
transform (:mod:`~graft.tasks.bpnet.augment`), its keypoints moved by the same matrix and
turned into targets by the vectorized label processor (:mod:`~graft.tasks.bpnet.encoder`).
Batches are dicts::

    image     float32 (B, 3, H, W)   RGB, normalized (dataloader.normalization_params)
    heatmap   float32 (B, J+1, h, w) joints + background
    paf       float32 (B, 2L, h, w)
    mask      float32 (B, 1, h, w)   1 = use in the loss, 0 = ignore (crowds, unlabeled people)
    image_id  int64   (B,)

When the trainer's device is CUDA (:func:`graft.data.device_input.use_device_path`) training
samples carry their keypoints instead of ``heatmap``/``paf`` and the targets are made for the
whole batch on the device after transfer (:mod:`~graft.tasks.bpnet.device_targets`, the same
maps); the loader processes then only decode and warp.

Validation images use the ``standard`` mode without randomness. For COCO evaluation the data
module exposes the validation annotation file, image folder and image ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from graft.data.device_input import trainer_device, use_device_path
from graft.data.images import read_rgb_reduced
from graft.data.loader import make_loader
from graft.errors import UserError
from graft.tasks.bpnet.augment import (
    decode_reduction,
    for_resized_source,
    sample_transform,
    transform_keypoints,
    warp_image,
    warp_mask,
)
from graft.tasks.bpnet.convert import build_index
from graft.tasks.bpnet.data_spec import DataloaderSpec, require_same_joints
from graft.tasks.bpnet.dataset_spec import load_dataset_spec
from graft.tasks.bpnet.device_targets import BatchTargetEncoder, pad_keypoints
from graft.tasks.bpnet.encoder import TargetEncoder
from graft.tasks.bpnet.pose_config import PoseConfig
from graft.tasks.bpnet.pose_index import PoseIndex

# OpenCV's own thread pool does not survive fork(): a DataLoader worker forked while it is
# active can deadlock. Loader processes give the parallelism instead (the usual workaround).
cv2.setNumThreads(0)


def read_mask(path: Path | None) -> np.ndarray | None:
    if path is None:
        return None
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise UserError(f"cannot read mask {path}", "re-run dataset_convert --generate_masks")
    return mask


class BpnetDataset(Dataset):
    """Samples of one converted split, augmented (``train=True``) or not."""

    def __init__(self, index: PoseIndex, spec: DataloaderSpec, pose_config: PoseConfig,
                 train: bool) -> None:
        require_same_joints(index.pose_config, pose_config, f"the {index.mode} data")
        self.index = index
        self.spec = spec
        self.pose = pose_config
        self.train = train
        aug = spec.augmentation_config
        self.mode = aug.spatial_augmentation_mode if train else "standard"
        self.aug_params = aug.spatial_aug_params if (train and aug.enabled) else None
        self.input_size = spec.image_config.input_size
        self.stride = spec.image_config.stride
        self.encoder = TargetEncoder.from_config(pose_config, self.input_size, self.stride,
                                                 spec.label_processor_config)
        self.flip_permutation = pose_config.flip_permutation()
        scale, shift = spec.normalization_params.scale_shift()
        self._scale = torch.tensor(scale, dtype=torch.float32).view(3, 1, 1)
        self._shift = torch.tensor(shift, dtype=torch.float32).view(3, 1, 1)
        self.samples = self._samples()
        self._rng: np.random.Generator | None = None
        self._rng_key: int | None = None
        self.device_targets = False  # True: samples carry keypoints, targets made on the device

    def _samples(self) -> np.ndarray:
        """(S, 2) rows of (image, centre person or -1 = pick at random)."""
        idx = self.index
        rows: list[tuple[int, int]] = []
        per_person = self.train and self.mode == "person_centric" and idx.duplicate_each_person
        for i in range(len(idx)):
            persons = np.arange(idx.person_start[i], idx.person_start[i + 1])
            main = persons[idx.main[persons]] if per_person else []
            if len(main):
                rows.extend((i, int(p)) for p in main)
            else:
                rows.append((i, -1))
        return np.asarray(rows, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.samples)

    def rng(self) -> np.random.Generator:
        """One generator per process, seeded from torch's per-worker seed and the spec seed."""
        key = torch.initial_seed()
        if self._rng is None or self._rng_key != key:
            self._rng = np.random.default_rng([key % 2**63, self.spec.seed])
            self._rng_key = key
        return self._rng

    def _centre_box(self, i: int, person: int, rng: np.random.Generator | None) -> Any:
        if self.mode != "person_centric":
            return None
        if person < 0:
            sl = self.index.persons(i)
            if sl.stop == sl.start:
                return None
            candidates = np.arange(sl.start, sl.stop)
            main = candidates[self.index.main[candidates]]
            pool = main if len(main) else candidates
            person = int(pool[rng.integers(len(pool))]) if rng is not None else int(pool[0])
        return self.index.bboxes[person]

    def load(self, k: int, rng: np.random.Generator | None = None, targets: bool = True
             ) -> dict[str, Any]:
        """The sample as numpy arrays, plus its transform (used by check_labels)."""
        i, person = (int(v) for v in self.samples[k])
        h, w = int(self.index.heights[i]), int(self.index.widths[i])
        transform = sample_transform(self.mode, self.aug_params, (h, w), self.input_size,
                                     rng if self.aug_params is not None else None,
                                     self._centre_box(i, person, rng))
        image, reduce = read_rgb_reduced(self.index.image_path(i), decode_reduction(transform))
        got_h, got_w = image.shape[:2]
        if abs(got_h * reduce - h) >= reduce or abs(got_w * reduce - w) >= reduce:
            raise UserError(
                f"image {self.index.image_path(i)} is {got_w * reduce}x{got_h * reduce} but "
                f"its annotation says {w}x{h}",
                "fix width/height in the annotation file and re-run dataset_convert")
        image_transform = (transform if reduce == 1 else
                           for_resized_source(transform, got_w / w, got_h / h))
        mask = read_mask(self.index.mask_path(i))
        if mask is not None and mask.shape != (h, w):
            raise UserError(f"mask {self.index.mask_path(i)} does not match its {w}x{h} image",
                            "re-run dataset_convert --generate_masks")
        keypoints = transform_keypoints(self.index.keypoints[self.index.persons(i)], transform,
                                        self.flip_permutation)
        image = warp_image(image, image_transform)
        mask_small = warp_mask(mask, transform, self.stride)
        heatmap, paf = self.encoder(keypoints) if targets else (None, None)
        return {"image": image, "mask": mask_small, "keypoints": keypoints, "heatmap": heatmap,
                "paf": paf, "image_id": int(self.index.image_ids[i]), "transform": transform}

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        s = self.load(k, self.rng() if self.train else None, targets=not self.device_targets)
        image = torch.from_numpy(np.ascontiguousarray(s["image"].transpose(2, 0, 1))).float()
        out = {
            "image": image.mul_(self._scale).add_(self._shift),
            "mask": torch.from_numpy(s["mask"])[None],
            "image_id": torch.tensor(s["image_id"], dtype=torch.int64),
        }
        if self.device_targets:
            out["keypoints"] = np.asarray(s["keypoints"], np.float32)
        else:
            out["heatmap"] = torch.from_numpy(s["heatmap"])
            out["paf"] = torch.from_numpy(s["paf"])
        return out


class Collate:
    """Stack a batch; per-sample keypoints (device-target samples) pad to (B, P, J, 3)."""

    def __init__(self, num_joints: int) -> None:
        self.num_joints = num_joints

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        kps = [s.pop("keypoints") for s in samples] if "keypoints" in samples[0] else None
        batch = torch.utils.data.default_collate(samples)
        if kps is not None:
            batch["keypoints"] = pad_keypoints(kps, self.num_joints)
        return batch


class BpnetDataModule(L.LightningDataModule):
    """Train/val loaders for ``graft bpnet train`` from a :class:`DataloaderSpec`.

    The pose config is, in order: the ``pose_config`` argument, the spec's
    ``pose_config.pose_config_path``, or the one the training data was converted with.
    """

    def __init__(self, dataloader_spec: DataloaderSpec,
                 pose_config: PoseConfig | None = None) -> None:
        super().__init__()
        self.spec = dataloader_spec
        self._pose = pose_config
        self._train_index: PoseIndex | None = None
        self._val_index: PoseIndex | None = None
        self._loaded = False
        self.train_dataset: BpnetDataset | None = None
        self.val_dataset: BpnetDataset | None = None

    # -- indexes ---------------------------------------------------------------------------
    def _load_indexes(self) -> None:
        if self._loaded:
            return
        ds = self.spec.dataset_config
        dataset_spec = load_dataset_spec(ds.dataset_spec) if ds.dataset_spec else None
        if ds.train_records_folder_path:
            self._train_index = PoseIndex.load(ds.train_records_folder_path)
        else:
            self._train_index = build_index(dataset_spec, "train", progress=False)
        if ds.val_records_folder_path:
            self._val_index = PoseIndex.load(ds.val_records_folder_path)
        elif dataset_spec is not None and dataset_spec.test_data is not None:
            self._val_index = build_index(dataset_spec, "test", progress=False)
        if self._pose is None:
            path = self.spec.pose_config.pose_config_path
            self._pose = self.spec.pose_config.load() if path else self._train_index.pose_config
        self._loaded = True

    @property
    def pose_config(self) -> PoseConfig:
        self._load_indexes()
        assert self._pose is not None
        return self._pose

    @property
    def train_index(self) -> PoseIndex:
        self._load_indexes()
        assert self._train_index is not None
        return self._train_index

    @property
    def val_index(self) -> PoseIndex | None:
        self._load_indexes()
        return self._val_index

    @property
    def has_val(self) -> bool:
        return self.val_index is not None

    @property
    def val_annotation_file(self) -> Path | None:
        """COCO keypoint annotation file of the validation split (for COCO AP)."""
        return self.val_index.annotation_file if self.val_index is not None else None

    @property
    def val_image_dir(self) -> Path | None:
        return self.val_index.image_dir if self.val_index is not None else None

    @property
    def val_image_ids(self) -> list[int]:
        return [int(i) for i in self.val_index.image_ids] if self.val_index is not None else []

    # -- lightning hooks -------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_dataset is None:
            self.train_dataset = BpnetDataset(self.train_index, self.spec, self.pose_config, True)
        if self.val_dataset is None and self.val_index is not None:
            self.val_dataset = BpnetDataset(self.val_index, self.spec, self.pose_config, False)
        trainer = getattr(self, "trainer", None)
        self.train_dataset.device_targets = use_device_path(trainer_device(trainer))
        self._device_encoder = BatchTargetEncoder.from_encoder(self.train_dataset.encoder)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Make the heatmap/PAF targets on the batch's device when samples carried keypoints."""
        if isinstance(batch, dict) and "keypoints" in batch and "heatmap" not in batch:
            batch["heatmap"], batch["paf"] = self._device_encoder(batch.pop("keypoints"))
        return batch

    def _loader(self, dataset: BpnetDataset, train: bool) -> DataLoader:
        return make_loader(dataset, self.spec.batch_size, workers=self.spec.workers,
                           shuffle=train, drop_last=train and len(dataset) > self.spec.batch_size,
                           collate_fn=Collate(self.pose_config.num_joints))

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        assert self.train_dataset is not None
        return self._loader(self.train_dataset, train=True)

    def val_dataloader(self) -> DataLoader | list:
        self.setup("validate")
        if self.val_dataset is None:
            return []
        return self._loader(self.val_dataset, train=False)
