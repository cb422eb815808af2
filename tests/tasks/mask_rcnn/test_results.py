"""Network outputs -> COCO results (RLE masks, category ids) -> bbox and segm AP."""

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from graft.data.masks import rle_compressed
from graft.tasks.mask_rcnn.results import coco_ap, coco_results, summary_metrics


def _ground_truth() -> tuple[dict, list[np.ndarray]]:
    masks = []
    for y0, x0 in ((4, 4), (20, 30)):
        m = np.zeros((40, 50), np.uint8)
        m[y0:y0 + 12, x0:x0 + 8] = 1
        masks.append(m)
    anns = [{"id": k + 1, "image_id": 3, "category_id": cid, "iscrowd": 0,
             "bbox": [float(x0), float(y0), 8.0, 12.0], "area": 96.0,
             "segmentation": rle_compressed(m)}
            for k, (m, cid, (y0, x0)) in enumerate(zip(masks, (11, 12), ((4, 4), (20, 30)),
                                                       strict=True))]
    gt = {"images": [{"id": 3, "file_name": "x.png", "height": 40, "width": 50},
                     {"id": 4, "file_name": "y.png", "height": 40, "width": 50}],
          "categories": [{"id": 11, "name": "a"}, {"id": 12, "name": "b"}], "annotations": anns}
    return gt, masks


def _output(masks: list[np.ndarray], labels: list[int], scores: list[float]) -> dict:
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "scores": torch.tensor(scores),
            "masks": torch.from_numpy(np.stack(masks)).float()[:, None] * 0.9
            if masks else torch.zeros(0, 1, 40, 50)}


def test_results_map_labels_to_category_ids_and_encode_masks():
    _, masks = _ground_truth()
    res = coco_results(_output(masks, [1, 2], [0.9, 0.4]), 3, [11, 12])
    assert [r["category_id"] for r in res] == [11, 12]
    assert res[1]["bbox"] == [30.0, 20.0, 8.0, 12.0]
    decoded = mask_utils.decode({"size": res[1]["segmentation"]["size"],
                                 "counts": res[1]["segmentation"]["counts"].encode()})
    assert np.array_equal(decoded, masks[1])
    assert len(coco_results(_output(masks, [1, 2], [0.9, 0.4]), 3, [11, 12], 0.5)) == 1


def test_perfect_results_score_one_and_a_wrong_class_zero():
    gt, masks = _ground_truth()
    perfect = coco_results(_output(masks, [1, 2], [0.9, 0.8]), 3, [11, 12])
    m = summary_metrics(coco_ap(gt, perfect))
    assert m["bbox_AP"] == pytest.approx(1.0) and m["segm_AP"] == pytest.approx(1.0)
    swapped = coco_results(_output(masks, [2, 1], [0.9, 0.8]), 3, [11, 12])
    assert summary_metrics(coco_ap(gt, swapped))["segm_AP50"] == pytest.approx(0.0)


def test_no_detections_at_all():
    gt, _ = _ground_truth()
    assert coco_results(_output([], [], []), 4, [11, 12]) == []
    m = summary_metrics(coco_ap(gt, []), "val/")
    assert m["val/segm_AP"] == 0.0 and m["val/bbox_AP50"] == 0.0
