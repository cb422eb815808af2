"""The shared COCO layer: validation errors that name the image or annotation, masks of every
segmentation kind, per-image instances."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from graft.data.coco import annotation_mask, image_file, instances, load_coco
from graft.data.masks import mask_bbox, polygons, rle_compressed, rle_uncompressed
from graft.errors import UserError

H, W = 40, 60


def square(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


def dataset() -> dict:
    a, b, c = square(5, 5, 20, 25), square(30, 10, 50, 30), square(0, 30, 60, 40)
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "height": H, "width": W},
                   {"id": 2, "file_name": "sub/b.jpg", "height": H, "width": W}],
        "categories": [{"id": 1, "name": "person", "keypoints": ["nose", "tail"]},
                       {"id": 3, "name": "car"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": mask_bbox(a), "iscrowd": 0,
             "segmentation": polygons(a), "keypoints": [10, 10, 2, 0, 0, 0]},
            {"id": 11, "image_id": 1, "category_id": 3, "bbox": mask_bbox(b), "iscrowd": 0,
             "segmentation": rle_compressed(b)},
            {"id": 12, "image_id": 1, "category_id": 3, "bbox": mask_bbox(c), "iscrowd": 1,
             "segmentation": rle_uncompressed(c)},
            {"id": 13, "image_id": 2, "category_id": 3, "bbox": [1, 2, 3, 4], "iscrowd": 0},
        ],
    }


def write(tmp_path, data) -> object:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return path


def test_masks_of_polygons_rle_and_crowd(tmp_path):
    coco = load_coco(write(tmp_path, dataset()))
    image = coco.imgs[1]
    masks = {a["id"]: annotation_mask(coco, a, image) for a in coco.imgToAnns[1]}
    assert masks[11].sum() == 20 * 20 and masks[12].sum() == 60 * 10
    # a polygon traced along pixel centres covers the square up to its border pixels
    assert abs(int(masks[10].sum()) - 15 * 20) <= 15 + 20
    box_only = annotation_mask(coco, coco.anns[13], coco.imgs[2])
    assert box_only.sum() == 3 * 4  # no segmentation: the box


def test_instances_of_an_image(tmp_path):
    coco = load_coco(write(tmp_path, dataset()))
    inst = instances(coco, 1)
    assert inst.ann_ids.tolist() == [10, 11, 12] and inst.crowd.tolist() == [False, False, True]
    np.testing.assert_allclose(inst.boxes[1], [30, 10, 50, 30])
    assert inst.keypoints is None  # not every annotation has keypoints
    people = instances(coco, 1, category_ids={1})
    assert people.keypoints.shape == (1, 2, 3) and len(people) == 1
    assert len(instances(coco, 2, category_ids={1})) == 0


def error(tmp_path, data) -> str:
    with pytest.raises(UserError) as info:
        load_coco(write(tmp_path, data))
    text = str(info.value)
    assert "\n" not in text
    return text


def edited(change) -> dict:
    data = copy.deepcopy(dataset())
    change(data)
    return data


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3, 4]]),
     ["annotation 10 (image 1, a.jpg)", "polygon 0 has 4 coordinates"]),
    (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3, 4, 5, 6, 7]]),
     ["annotation 10", "7 coordinates"]),
    (lambda d: d["annotations"][1].update(image_id=99),
     ["annotation 11 refers to image 99", "add the image"]),
    (lambda d: d["annotations"][3].update(category_id=7),
     ["annotation 13 (image 2, sub/b.jpg) has category_id 7", "1 person, 3 car"]),
    (lambda d: d["annotations"][1]["segmentation"].update(size=[W, H]),
     ["annotation 11 (image 1, a.jpg) has a 60x40 RLE mask on a 40x60 image"]),
    (lambda d: d["annotations"][2]["segmentation"]["counts"].append(3),
     ["annotation 12", "do not cover the 40x60 image"]),
    (lambda d: d["annotations"][3].update(bbox=[1, 2, -3, 4]),
     ["annotation 13", "bbox [1, 2, -3, 4]"]),
    (lambda d: d["annotations"][0].update(keypoints=[1, 2, 2]),
     ["annotation 10", "1 keypoints, category 'person' names 2"]),
    (lambda d: d["annotations"][3].update(id=10), ["annotation id 10 appears twice"]),
    (lambda d: d["images"][1].pop("height"), ["image 2", "lacks file_name/height/width"]),
    (lambda d: d.pop("categories"), ["no 'categories' list"]),
])
def test_errors_name_the_annotation_and_the_fix(tmp_path, change, expected):
    message = error(tmp_path, edited(change))
    for part in expected:
        assert part in message, message
    assert "(" in message  # the fix


def test_file_level_errors(tmp_path):
    with pytest.raises(UserError, match="annotation file not found"):
        load_coco(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_coco(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(UserError, match="not a COCO annotation file"):
        load_coco(tmp_path / "list.json")


def test_missing_image_file_names_the_image(tmp_path):
    coco = load_coco(write(tmp_path, dataset()))
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert image_file(tmp_path, coco.imgs[1]) == tmp_path / "a.jpg"
    with pytest.raises(UserError, match=r"image file not found: .*sub/b\.jpg \(image id 2\)"):
        image_file(tmp_path, coco.imgs[2])


def test_rle_encoders_round_trip():
    from pycocotools import mask as mask_utils

    mask = square(3, 4, 17, 9)
    mask[0, 0] = 1  # starts with a run of ones
    assert np.array_equal(mask_utils.decode(
        mask_utils.frPyObjects(rle_uncompressed(mask), H, W)), mask)
    compressed = rle_compressed(mask)
    assert np.array_equal(mask_utils.decode({**compressed,
                                             "counts": compressed["counts"].encode()}), mask)
    assert mask_bbox(square(3, 4, 17, 9)) == [3.0, 4.0, 14.0, 5.0]
    assert mask_bbox(np.zeros((3, 3))) == [0.0, 0.0, 0.0, 0.0]
