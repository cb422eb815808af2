"""dataset_convert's index and loss masks are identical to what the converter wrote before it
moved onto the shared COCO layer (``graft.data.coco``).

``fixtures/index_golden.json`` holds digests of every index array, the stats and each mask's
pixels, computed by the converter as it was before the move (``python
tests/tasks/bpnet/test_convert_golden.py`` rewrites it: only do that on purpose).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from graft.tasks.bpnet.convert import PoseIndex, dataset_convert

GOLDEN = Path(__file__).parent / "fixtures" / "index_golden.json"
ARRAYS = ("image_ids", "file_names", "heights", "widths", "mask_files", "person_start",
          "keypoints", "bboxes", "main")


def _digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    text = array.astype(str) if array.dtype.kind == "U" else array
    return hashlib.sha256(repr((array.dtype.str, array.shape)).encode() +
                          np.ascontiguousarray(text).tobytes()).hexdigest()[:16]


def index_digest(spec: Path, mode: str, out: Path) -> dict:
    """Digests of the index of ``mode`` and of its loss masks (written with masks)."""
    summary = dataset_convert(spec, mode, out, generate_masks=True, progress=False)
    index = PoseIndex.load(out)
    digest = {name: _digest(getattr(index, name)) for name in ARRAYS}
    digest["stats"] = index.stats
    digest["summary_keys"] = sorted(summary)
    digest["masks"] = {}
    for i in range(len(index)):
        path = index.mask_path(i)
        if path is not None:
            pixels = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            digest["masks"][str(index.file_names[i])] = _digest(pixels)
    return digest


def all_digests(coco_small: Path, custom5: Path, tmp: Path) -> dict:
    return {f"{name}/{mode}": index_digest(spec, mode, tmp / name / mode)
            for name, spec in (("coco_small", coco_small), ("custom5", custom5))
            for mode in ("train", "test")}


def test_index_is_unchanged(coco_small, custom5, tmp_path):
    expected = json.loads(GOLDEN.read_text())
    assert all_digests(coco_small, custom5, tmp_path) == expected


if __name__ == "__main__":  # regenerate the golden file
    import tempfile

    sys.path.insert(0, str(Path(__file__).parents[3]))
    from tests.tasks.bpnet.conftest import FIXTURES, make_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        small = make_dataset(root / "coco_small", FIXTURES / "coco_small" / "person_keypoints.json")
        (root / "custom5").mkdir()
        shutil.copy(FIXTURES / "custom5" / "pose_config.json", root / "custom5")
        custom = make_dataset(root / "custom5", FIXTURES / "custom5" / "person_keypoints.json",
                              {"pose_config_path": "pose_config.json"})
        GOLDEN.write_text(json.dumps(all_digests(small, custom, root / "out"), indent=1) + "\n")
