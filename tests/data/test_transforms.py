"""Augmentation moves the image, boxes, masks and keypoints together; objects leaving the image
are dropped or kept as ignore regions."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors

from graft.data.transforms import (
    LUMA,
    RandomColour,
    RandomFlip,
    RandomShift,
    SanitizeTargets,
    apply_colour,
    colour_matrix,
    detection_augmentation,
    instance_augmentation,
    make_sample,
    resize_sample,
)

H, W = 60, 80
COLOURS = torch.tensor([[250, 20, 20], [20, 250, 20], [20, 20, 250]], dtype=torch.uint8)
BOXES = torch.tensor([[10, 10, 30, 40], [45, 5, 70, 25], [35, 35, 75, 55]], dtype=torch.float32)


def scene() -> dict:
    """Three coloured rectangles on grey, with boxes, masks and two keypoints each (the
    rectangle's left-top and right-bottom pixel, as pixel indices; a left/right pair)."""
    image = torch.full((3, H, W), 90, dtype=torch.uint8)
    masks = torch.zeros((3, H, W), dtype=torch.uint8)
    kps = torch.zeros((3, 2, 3))
    for k, (x1, y1, x2, y2) in enumerate(BOXES.int().tolist()):
        image[:, y1:y2, x1:x2] = COLOURS[k][:, None, None]
        masks[k, y1:y2, x1:x2] = 1
        kps[k] = torch.tensor([[x1, y1, 2], [x2 - 1, y2 - 1, 2]])
    return make_sample(image, BOXES, [1, 2, 3], ignore=[[0, 0, 5, 5]], masks=masks,
                       keypoints=kps)


def test_flip_moves_everything_and_swaps_keypoint_pairs():
    out = RandomFlip(horizontal=1.0, flip_pairs=[(0, 1)])(scene())
    torch.testing.assert_close(out["boxes"][0], torch.tensor([50.0, 10, 70, 40]))
    assert torch.equal(out["masks"][0], scene()["masks"][0].flip(-1))
    assert torch.equal(out["image"], scene()["image"].flip(-1))
    # pixel (x, y) goes to (W - 1 - x, y), and the left/right pair swaps places
    torch.testing.assert_close(out["keypoints"][0], torch.tensor([[50.0, 39], [69, 10]]))
    torch.testing.assert_close(out["ignore"][0], torch.tensor([75.0, 0, 80, 5]))
    vertical = RandomFlip(horizontal=0.0, vertical=1.0, flip_pairs=[(0, 1)])(scene())
    torch.testing.assert_close(vertical["keypoints"][0], torch.tensor([[10.0, 49], [29, 20]]))


@pytest.mark.parametrize("outside", ["drop", "ignore"])
def test_objects_leaving_the_image(outside):
    sample = scene()
    shift = {"boxes": torch.tensor([-25.0, 0, -25, 0]), "keypoints": torch.tensor([-25.0, 0])}
    for key, by in shift.items():  # everything 25 px to the left
        sample[key] = tv_tensors.wrap(sample[key] + by, like=sample[key])
    out = SanitizeTargets(min_visible=0.5, outside=outside)(sample)
    # box 0 keeps 5 of its 20 px width (25 %): gone; boxes 1 and 2 stay whole
    assert out["labels"].tolist() == [2, 3]
    torch.testing.assert_close(out["boxes"], torch.tensor([[20.0, 5, 45, 25], [10, 35, 50, 55]]))
    assert len(out["masks"]) == 2 and out["visibility"].shape == (2, 2)
    if outside == "ignore":
        torch.testing.assert_close(out["ignore"], torch.tensor([[0.0, 0, 5, 5], [0, 10, 5, 40]]))
    else:
        torch.testing.assert_close(out["ignore"], torch.tensor([[0.0, 0, 5, 5]]))
    sample["keypoints"] = tv_tensors.wrap(sample["keypoints"] + torch.tensor([0.0, 15]),
                                          like=sample["keypoints"])
    out = SanitizeTargets()(sample)
    assert out["visibility"][2].tolist() == [2.0, 0.0]  # the lower corner fell off the bottom


def assert_aligned(out: dict) -> None:
    """Every object's mask lies inside its box and shows its own colour in the image."""
    image = out["image"].as_subclass(torch.Tensor)
    for box, mask, label in zip(out["boxes"], out["masks"], out["labels"], strict=True):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert len(xs) > 0
        x1, y1, x2, y2 = box.tolist()
        assert xs.min() >= x1 - 1 and xs.max() <= x2 and ys.min() >= y1 - 1 and ys.max() <= y2
        pixels = image[:, ys, xs].float().mean(1)
        expected = COLOURS[int(label) - 1].float()
        assert (pixels - expected).abs().max() < 60, (pixels, expected)


@pytest.mark.parametrize("seed", range(6))
def test_detection_augmentation_keeps_targets_on_their_objects(seed):
    torch.manual_seed(seed)
    aug = detection_augmentation((48, 64), hflip=0.5, vflip=0.5, zoom=(0.7, 1.4),
                                 translate=(0.2, 0.2), rotate_deg=20, min_visible=0.3)
    out = aug(scene())
    assert out["image"].shape == (3, 48, 64) and out["masks"].shape[1:] == (48, 64)
    assert len(out["labels"]) == len(out["boxes"]) == len(out["masks"])
    assert_aligned(out)
    boxes = out["boxes"].as_subclass(torch.Tensor)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 64).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 48).all()


def test_colour_changes_pixels_only():
    torch.manual_seed(0)
    out = detection_augmentation((H, W), hflip=0.0, hue_deg=30, saturation=0.5,
                                 contrast=0.5)(scene())
    assert not torch.equal(out["image"], scene()["image"])
    torch.testing.assert_close(out["boxes"].as_subclass(torch.Tensor), BOXES)


@pytest.mark.parametrize("seed", range(4))
def test_translation_alone_is_a_whole_pixel_shift_of_everything(seed):
    torch.manual_seed(seed)
    aug = detection_augmentation((H, W), hflip=0.0, translate=(0.25, 0.25), min_visible=0.0)
    assert any(isinstance(t, RandomShift) for t in aug.transforms)
    out = aug(scene())
    assert_aligned(out)
    moved = out["keypoints"][:, 0] - scene()["keypoints"][:, 0]  # the same (dx, dy) for all
    dx, dy = moved[0].tolist()
    assert dx == round(dx) and dy == round(dy) and abs(dx) <= 20 and abs(dy) <= 15
    torch.testing.assert_close(moved, torch.tensor([[dx, dy]]).expand(3, 2))
    image, original = out["image"].as_subclass(torch.Tensor), scene()["image"]
    dx, dy = int(dx), int(dy)
    ys, xs = slice(max(dy, 0), H + min(dy, 0)), slice(max(dx, 0), W + min(dx, 0))
    src_y, src_x = slice(max(-dy, 0), H - max(dy, 0)), slice(max(-dx, 0), W - max(dx, 0))
    assert torch.equal(image[:, ys, xs], original[:, src_y, src_x])
    assert image.sum() < original.sum() or (dx, dy) == (0, 0)  # uncovered pixels are 0


def test_random_shift_moves_boxes_with_pixels_without_clipping():
    shift = RandomShift((0.0, 0.0))
    params = {"top": 3, "left": -7, "height": H, "width": W}  # content 7 right, 3 up
    out = {k: shift.transform(v, params) if isinstance(v, tv_tensors.TVTensor) else v
           for k, v in scene().items()}
    torch.testing.assert_close(out["boxes"].as_subclass(torch.Tensor),
                               BOXES + torch.tensor([7.0, -3, 7, -3]))
    assert out["boxes"][2, 2] == 82  # past the right edge: SanitizeTargets decides
    assert torch.equal(out["image"][:, 0:57, 7:], scene()["image"][:, 3:, :73])
    assert torch.equal(out["masks"][:, 0:57, 7:], scene()["masks"][:, 3:, :73])


def test_colour_matrix_identity_greys_and_rotation():
    matrix, offset = colour_matrix()
    torch.testing.assert_close(matrix, torch.eye(3))
    torch.testing.assert_close(offset, torch.zeros(3))
    # +120 degrees about the grey axis takes red to green, green to blue
    matrix, _ = colour_matrix(hue_deg=120)
    torch.testing.assert_close(matrix @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(matrix @ torch.tensor([0.0, 1, 0]), torch.tensor([0.0, 0, 1]),
                               atol=1e-6, rtol=0)
    grey = torch.full((3,), 77.0)
    matrix, offset = colour_matrix(hue_deg=-33, saturation=1.6)
    torch.testing.assert_close(matrix @ grey + offset, grey)
    # saturation 0: every channel becomes the pixel's luma
    matrix, _ = colour_matrix(saturation=0.0)
    rgb = torch.tensor([200.0, 100, 50])
    luma = float(torch.tensor(LUMA) @ rgb)
    torch.testing.assert_close(matrix @ rgb, torch.full((3,), luma))
    # contrast scales around the centre, then the shift is added
    matrix, offset = colour_matrix(contrast=2.0, center=0.4, shift=(1.0, 2.0, 3.0))
    centre = torch.full((3,), 0.4 * 255)
    torch.testing.assert_close(matrix @ centre + offset, centre + torch.tensor([1.0, 2, 3]))
    torch.testing.assert_close(matrix @ (centre + 10) + offset,
                               centre + 20 + torch.tensor([1.0, 2, 3]))


def test_apply_colour_rounds_and_clips_to_uint8():
    image = torch.tensor([[[0, 100, 255]], [[10, 20, 30]], [[250, 5, 128]]], dtype=torch.uint8)
    out = apply_colour(image, torch.eye(3) * 1.5, torch.tensor([0.0, -20.0, 0.3]))
    assert out.dtype == torch.uint8 and out.shape == image.shape
    assert out[0, 0].tolist() == [0, 150, 255]
    assert out[1, 0].tolist() == [0, 10, 25]
    assert out[2, 0].tolist() == [255, 8, 192]


def test_random_colour_seeded_images_only():
    neutral = RandomColour()(scene())
    assert torch.equal(neutral["image"], scene()["image"])
    torch.manual_seed(3)
    a = RandomColour(30, 0.5, 0.3, 0.5, 0.05)(scene())
    torch.manual_seed(3)
    b = RandomColour(30, 0.5, 0.3, 0.5, 0.05)(scene())
    assert torch.equal(a["image"], b["image"]) and not torch.equal(a["image"], scene()["image"])
    assert isinstance(a["image"], tv_tensors.Image)
    torch.testing.assert_close(a["boxes"].as_subclass(torch.Tensor), BOXES)
    assert torch.equal(a["masks"], scene()["masks"])
    with pytest.raises(TypeError, match="uint8"):
        RandomColour(10)(tv_tensors.Image(torch.rand(3, 4, 4)))


@pytest.mark.parametrize("seed", range(4))
def test_instance_augmentation(seed):
    torch.manual_seed(seed)
    out = instance_augmentation((64, 64), scale=(0.5, 1.5))(scene())
    assert out["image"].shape == (3, 64, 64) and out["masks"].shape[1:] == (64, 64)
    assert_aligned(out)


def test_resize_sample():
    out = resize_sample(scene(), (30, 40))
    torch.testing.assert_close(out["boxes"][0], torch.tensor([5.0, 5, 15, 20]))
    assert out["masks"].shape == (3, 30, 40) and set(out["masks"].unique().tolist()) == {0, 1}
