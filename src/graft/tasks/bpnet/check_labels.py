"""``graft bpnet check_labels``: look at the training targets and measure the round-trip AP.

Two checks users run before days of training on a custom pose config:

1. Pictures: ``num_images`` training samples, augmented as in training, rendered as PNGs with
   four panels: the image with its keypoints and skeleton, the joint heatmaps, the PAFs
   (hue = direction) and the loss mask (ignored regions in red).
2. Round trip: for every image of the split, ground truth -> encoder targets at the network
   stride -> the production decoder -> keypoints back in image pixels -> COCO keypoint AP
   against the annotation file. Perfect targets should decode to AP near 1; a low number means
   the pose config, the encoder or the decoder settings lose people before any learning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from graft.errors import UserError
from graft.fsutil import check_output_dir, write_bytes, write_json
from graft.spec import read_yaml, validate
from graft.spec_paths import resolve_spec_paths, spec_folder
from graft.tasks.bpnet.augment import SpatialTransform, transform_keypoints
from graft.tasks.bpnet.convert import build_index
from graft.tasks.bpnet.data import BpnetDataset
from graft.tasks.bpnet.data_spec import DataloaderSpec, require_same_joints
from graft.tasks.bpnet.dataset_spec import DatasetSpec, load_dataset_spec
from graft.tasks.bpnet.encoder import TargetEncoder
from graft.tasks.bpnet.pose_config import PoseConfig
from graft.tasks.bpnet.pose_index import PoseIndex

RESULT_FILE = "check_labels.json"


# -- inputs -----------------------------------------------------------------------------------
def load_dataloader_spec(train_spec: str | Path | DataloaderSpec | None,
                         dataset_spec_path: str | Path | None) -> DataloaderSpec:
    """The ``dataloader`` section of a training spec file (or defaults when none is given)."""
    if isinstance(train_spec, DataloaderSpec):
        return train_spec
    data: dict[str, Any] = {}
    source = "dataloader"
    if train_spec is not None:
        raw = read_yaml(train_spec)
        data = dict(raw.get("dataloader") or {})
        source = f"{train_spec}: dataloader"
    default = Path(dataset_spec_path or ".").absolute()  # given on the command line
    data.setdefault("dataset_config", {"dataset_spec": str(default)})
    spec = validate(DataloaderSpec, data, source=source)
    base = spec_folder(train_spec) if train_spec is not None else Path.cwd()
    return resolve_spec_paths(spec, base, source=str(train_spec or "dataloader"))


# -- pictures ---------------------------------------------------------------------------------
def _limb_colours(n: int) -> list[tuple[int, int, int]]:
    hsv = np.stack([np.linspace(0, 179, n, endpoint=False), np.full(n, 220), np.full(n, 255)], 1)
    rgb = cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]
    return [tuple(int(c) for c in px) for px in rgb]


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, limbs: list[tuple[int, int]],
                  radius: int = 3) -> np.ndarray:
    """Keypoints (filled: visible, hollow: occluded) and labeled limbs on an RGB image."""
    out = image.copy()
    colours = _limb_colours(max(len(limbs), 1))
    for person in keypoints:
        for k, (a, b) in enumerate(limbs):
            if person[a, 2] > 0 and person[b, 2] > 0:
                cv2.line(out, tuple(np.round(person[a, :2]).astype(int)),
                         tuple(np.round(person[b, :2]).astype(int)), colours[k], 2, cv2.LINE_AA)
        for x, y, v in person:
            if v > 0:
                cv2.circle(out, (int(round(x)), int(round(y))), radius, (255, 255, 255),
                           -1 if v >= 2 else 1, cv2.LINE_AA)
    return out


def _upsample(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(grid, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def render_targets(image: np.ndarray, keypoints: np.ndarray, heatmap: np.ndarray,
                   paf: np.ndarray, mask: np.ndarray, limbs: list[tuple[int, int]]) -> np.ndarray:
    """Four panels side by side (RGB uint8): keypoints, heatmaps, PAFs, loss mask."""
    size = image.shape[:2]
    joints = _upsample(heatmap[:-1].max(axis=0), size)
    heat_rgb = cv2.applyColorMap((np.clip(joints, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat_panel = cv2.addWeighted(image, 0.45, cv2.cvtColor(heat_rgb, cv2.COLOR_BGR2RGB), 0.55, 0)
    vx, vy = paf[0::2].sum(axis=0), paf[1::2].sum(axis=0)
    magnitude = np.clip(np.sqrt(vx**2 + vy**2), 0, 1)
    angle = (np.degrees(np.arctan2(vy, vx)) % 360) / 2
    hsv = np.stack([angle, np.full_like(angle, 255), magnitude * 255], -1).astype(np.uint8)
    paf_rgb = _upsample(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), size)
    paf_panel = np.where(_upsample(magnitude, size)[..., None] > 0.05, paf_rgb, image // 3)
    ignore = _upsample(1.0 - mask, size)[..., None]
    red = np.zeros_like(image)
    red[..., 0] = 255
    mask_panel = (image * (1 - 0.6 * ignore) + red * 0.6 * ignore).astype(np.uint8)
    panels = [draw_skeleton(image, keypoints, limbs), heat_panel, paf_panel.astype(np.uint8),
              mask_panel]
    for panel, title in zip(panels, ("keypoints", "heatmaps", "PAFs", "loss mask"), strict=True):
        cv2.putText(panel, title, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return np.concatenate(panels, axis=1)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"could not encode {path.name}")
    write_bytes(path, data.tobytes())


# -- round trip -------------------------------------------------------------------------------
def round_trip_predictions(index: PoseIndex, pose: PoseConfig, stride: int,
                           heatmap_sigma: float = 7.0, paf_ortho_dist_thresh: float = 1.0,
                           height: int | None = None, decoder_params: Any = None,
                           image_limit: int | None = None,
                           progress: bool = True) -> dict[int, list[dict[str, Any]]]:
    """Decode the ground truth's own targets: image id -> persons in image pixels.

    ``height=None`` encodes at the image's own resolution (padded to a stride multiple); a
    number resizes each image to that height first, keeping the aspect ratio (as inference
    with ``adjust_network_input`` does).
    """
    from rich.progress import track

    from graft.tasks.bpnet.decoder import decode

    limbs = [tuple(limb) for limb in pose.limbs]
    preds: dict[int, list[dict[str, Any]]] = {}
    count = len(index) if image_limit is None else min(image_limit, len(index))
    for i in track(range(count), description="round trip", disable=not progress):
        h, w = int(index.heights[i]), int(index.widths[i])
        scale = 1.0 if height is None else height / h
        in_h = int(np.ceil(h * scale / stride) * stride)
        in_w = int(np.ceil(w * scale / stride) * stride)
        # scale about the top-left corner (pixel centres stay centres); pad right and bottom
        shift = 0.5 * scale - 0.5
        transform = SpatialTransform(np.array([[scale, 0, shift], [0, scale, shift]]), False,
                                     (in_h, in_w))
        kps = transform_keypoints(index.keypoints[index.persons(i)], transform)
        encoder = TargetEncoder(limbs, pose.num_joints, (in_h, in_w), stride, heatmap_sigma,
                                paf_ortho_dist_thresh)
        heatmap, paf = encoder(kps)
        people = decode(heatmap, paf, limbs, decoder_params, stride=stride)
        inverse = transform.inverse()
        out = []
        for person in people:
            k = np.asarray(person["keypoints"], dtype=np.float64).copy()
            k[:, :2] = k[:, :2] @ inverse[:, :2].T + inverse[:, 2]
            k[k[:, 2] <= 0, :2] = 0.0
            out.append({**person, "keypoints": k})
        preds[int(index.image_ids[i])] = out
    return preds


def round_trip_ap(index: PoseIndex, pose: PoseConfig,
                  predictions: dict[int, list[dict[str, Any]]]) -> dict[str, float]:
    """COCO keypoint AP (the 10 standard numbers) of ``predictions`` on the index's images."""
    from graft.tasks.bpnet.metrics import coco_keypoint_ap

    return coco_keypoint_ap(index.annotation_file, predictions, pose,
                            image_ids=sorted(predictions))


# -- the command ------------------------------------------------------------------------------
def check_labels(
    dataset_spec: str | Path | DatasetSpec,
    train_spec: str | Path | DataloaderSpec | None,
    out_dir: str | Path,
    num_images: int = 8,
    mode: str = "train",
    round_trip_height: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Render target pictures into ``out_dir`` and return (and save) the round-trip AP."""
    if num_images < 0:
        raise UserError("--num_images must not be negative")
    out = check_output_dir(out_dir)
    spec = (dataset_spec if isinstance(dataset_spec, DatasetSpec)
            else load_dataset_spec(dataset_spec))
    dl = load_dataloader_spec(train_spec, None if isinstance(dataset_spec, DatasetSpec)
                              else dataset_spec)
    index = build_index(spec, mode, generate_masks=False, progress=progress)
    pose = index.pose_config
    if dl.pose_config.pose_config_path:  # the model's skeleton, on the data's joint order
        model_pose = dl.pose_config.load()
        require_same_joints(index.pose_config, model_pose, f"the {index.mode} data")
        pose = model_pose.model_copy(update={"source_joints": index.pose_config.source_joints,
                                             "synthesized": index.pose_config.synthesized})
    dataset = BpnetDataset(index, dl, pose, train=True)
    rng = np.random.default_rng(seed)
    pictures = []
    picks = rng.permutation(len(dataset))[:num_images]
    for k in picks:
        s = dataset.load(int(k), rng)
        panel = render_targets(s["image"], s["keypoints"], s["heatmap"], s["paf"], s["mask"],
                               [tuple(limb) for limb in pose.limbs])
        path = out / "targets" / f"{s['image_id']}_{int(k)}.png"
        _write_png(path, panel)
        pictures.append(str(path))

    label = dl.label_processor_config
    preds = round_trip_predictions(index, pose, dl.image_config.stride,
                                   label.heatmap_gaussian_sigma, label.paf_ortho_dist_thresh,
                                   round_trip_height, progress=progress)
    ap = round_trip_ap(index, pose, preds)
    result = {
        "mode": index.mode,
        "annotation_file": str(index.annotation_file),
        "images": len(index),
        "persons": index.num_persons,
        "stride": dl.image_config.stride,
        "round_trip_resolution": "native" if round_trip_height is None else round_trip_height,
        "heatmap_gaussian_sigma": label.heatmap_gaussian_sigma,
        "paf_ortho_dist_thresh": label.paf_ortho_dist_thresh,
        "round_trip_ap": ap,
        "pictures": pictures,
    }
    write_json(out / RESULT_FILE, result)
    write_json(out / "round_trip_predictions.json", {
        str(k): [{"keypoints": np.asarray(p["keypoints"]).round(2).tolist(),
                  "score": float(p["score"])} for p in v] for k, v in preds.items()})
    return result


def summary_line(result: dict[str, Any]) -> str:
    """One line for the terminal."""
    ap = result["round_trip_ap"]
    main = ap.get("AP", next(iter(ap.values()), float("nan"))) if isinstance(ap, dict) else ap
    return (f"round-trip AP {main:.3f} over {result['images']} images "
            f"({result['persons']} persons); pictures in {Path(result['pictures'][0]).parent}"
            if result["pictures"] else f"round-trip AP {main:.3f} over {result['images']} images")

