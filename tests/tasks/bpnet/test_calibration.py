from __future__ import annotations

import json

import pytest

from graft.errors import UserError
from graft.tasks.bpnet.calibration import SELECTION_FILE, sample_calibration


def images_in(folder):
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".jpg")


@pytest.fixture
def paths(coco_small):
    root = coco_small.parent
    return root / "annotations" / "person_keypoints.json", root / "images"


@pytest.mark.parametrize("n", [1, 2, 4])
def test_exactly_n_images(paths, tmp_path, n):
    ann, images = paths
    result = sample_calibration(ann, images, tmp_path / "calib", n)
    assert len(images_in(tmp_path / "calib")) == n == len(result["images"])
    assert result["qualifying"] == 4  # the image without people never qualifies
    saved = json.loads((tmp_path / "calib" / SELECTION_FILE).read_text())
    assert [im["image_id"] for im in saved["images"]] == sorted(
        im["image_id"] for im in saved["images"])


def test_filters_and_too_few(paths, tmp_path):
    ann, images = paths
    result = sample_calibration(ann, images, tmp_path / "a", 3, min_persons=2, min_keypoints=10)
    assert result["qualifying"] == 3
    assert images_in(tmp_path / "a") == ["crowd.jpg", "pair.jpg", "street.jpg"]
    with pytest.raises(UserError, match="only 3 images .* fewer than the 4"):
        sample_calibration(ann, images, tmp_path / "b", 4, min_persons=2, min_keypoints=10)
    with pytest.raises(UserError, match="only 0 images"):
        sample_calibration(ann, images, tmp_path / "c", 1, min_keypoints=18)


def test_randomize_is_reproducible(paths, tmp_path):
    ann, images = paths
    picks = [[im["image_id"] for im in sample_calibration(
        ann, images, tmp_path / f"r{k}", 3, randomize=True, seed=seed)["images"]]
        for k, seed in enumerate([7, 7, 8])]
    assert picks[0] == picks[1]
    assert len(set(picks[0])) == 3


def test_refuses_a_folder_with_images_and_bad_n(paths, tmp_path):
    ann, images = paths
    sample_calibration(ann, images, tmp_path / "calib", 1)
    with pytest.raises(UserError, match="not empty.*exactly 1 images"):
        sample_calibration(ann, images, tmp_path / "calib", 1)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")  # any file: TLT refuses it too
    with pytest.raises(UserError, match="not empty"):
        sample_calibration(ann, images, tmp_path / "other", 1)
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["notes.txt"]
    with pytest.raises(UserError, match="at least one"):
        sample_calibration(ann, images, tmp_path / "x", 0)
