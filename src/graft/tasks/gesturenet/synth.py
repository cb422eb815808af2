"""``graft synth hands``: frames of 1-4 drawn hands for the hand detector (KITTI, class
``hand``) and GestureNet (one label JSON per hand), split by user.

Layout of OUT::

    detector/{train,val}/images/NNNNNN.png, labels/NNNNNN.txt   (KITTI, class hand)
    detector/spec.yaml, dataset_spec.yaml                       (DetectNet_v2 specs)
    gesturenet/<user_id>/NNNNNN_K.json                          (class, box in %, user_id)
    clips/clip_NNN.mp4, clip_NNN.jsonl                          (videos + per-frame truth)
    summary.json

The val frames belong to users never seen in train (``--val-users``), so both models are
scored on new people. Every frame is one user's (hand build, skin, sleeve). The clips
(:mod:`graft.tasks.gesturenet.clips`) show ``clip_users`` only: by default the last user, a
val user, whom ``graft gesturenet dataset_convert --kpi_users`` can hold out as the test user.

Why the detector spec shrinks the frames: DetectNet_v2 predicts on a 16-pixel grid and learns
best when an object spans 1-3 cells; a hand here is 22-48 % of the frame's short side tall, so
the spec's input has a short side of :data:`DETECTOR_SHORT_SIDE` (hands of 21-46 px, 1.3-2.9
cells tall, narrower than that; 128x96 for 320x240 frames, half the CPU time of 176x128) and the
detector resizes every frame to it (and its boxes back).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from graft.data.kitti import KittiObject, write_labels
from graft.errors import UserError
from graft.fsutil import atomic_dir, check_fresh_dir, write_json
from graft.tasks.gesturenet.crop import CLASSES
from graft.tasks.gesturenet.hands import DrawnHand, User, draw_hand, random_label
from graft.tasks.gesturenet.scene import SUPERSAMPLE, background, lighting

DETECTOR_SHORT_SIDE = 96
DETECTOR_SETTINGS: dict[str, Any] = {}  # departures from synth detection's RECOMMENDED


def detector_input(size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of the detector's input for frames of ``size`` (w, h): the short side
    :data:`DETECTOR_SHORT_SIDE`, both sides multiples of 16 (see the module docstring)."""
    w, h = size
    scale = DETECTOR_SHORT_SIDE / min(w, h)
    return (max(16, round(h * scale / 16) * 16), max(16, round(w * scale / 16) * 16))


def write_detector_specs(folder: Path, size: tuple[int, int]) -> None:
    """``spec.yaml`` (full DetectNet_v2 training spec, class ``hand``) and
    ``dataset_spec.yaml`` in ``folder``, paths relative to it."""
    import yaml

    from graft.tasks.detectnet_v2.spec import DetectNetSpec
    from graft.tasks.detectnet_v2.synth_write import dataset_config, training_spec

    spec = training_spec(["hand"], detector_input(size), DETECTOR_SETTINGS)
    DetectNetSpec.model_validate(spec)  # a generator bug, never the user's: fail loudly
    note = "paths are relative to this file's folder"
    (folder / "spec.yaml").write_text(
        f"# graft synth hands: DetectNet_v2 training spec for the hand detector; {note}\n"
        + yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    (folder / "dataset_spec.yaml").write_text(
        f"# graft synth hands: DetectNet_v2 dataset_config; {note}\n"
        + yaml.safe_dump({"dataset_config": dataset_config(["hand"])}, sort_keys=False),
        encoding="utf-8")


def _overlaps(box: tuple[float, ...], boxes: list[tuple[float, ...]]) -> bool:
    return any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
               for b in boxes)


def render_frame(size: tuple[int, int], user: User, hands: int, rng: np.random.Generator,
                 labels: list[str] | None = None) -> tuple[np.ndarray, list[DrawnHand]]:
    """One (H, W, 3) uint8 frame with up to ``hands`` non-overlapping hands of ``user``."""
    w, h = size
    img = background(size, rng)
    draw = ImageDraw.Draw(img)
    placed: list[DrawnHand] = []
    for k in range(hands):
        label = labels[k] if labels else random_label(rng)
        for _attempt in range(12):
            scale = rng.uniform(0.07, 0.15) * min(w, h) * 1.4
            centre = (rng.uniform(0.1, 0.9) * w, rng.uniform(0.15, 0.85) * h)
            # draw into a scratch copy first, keep it only if it fits without overlap
            trial = img.copy()
            hand = draw_hand(ImageDraw.Draw(trial), label, user, centre, scale,
                             rng.uniform(-25, 25), bool(rng.random() < 0.5), rng, SUPERSAMPLE)
            x1, y1, x2, y2 = hand.box
            inside = x1 >= -0.1 * (x2 - x1) and y1 >= -0.1 * (y2 - y1) and x2 <= w * 1.1 \
                and y2 <= h * 1.1
            if inside and not _overlaps(hand.box, [p.box for p in placed]):
                img = trial
                draw = ImageDraw.Draw(img)
                clipped = (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))
                placed.append(DrawnHand(label, clipped))
                break
    del draw
    small = img.resize((w, h), Image.Resampling.LANCZOS)
    return lighting(small, rng), placed


def _png(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array).save(path, format="PNG", compress_level=1)


def make_hands_dataset(out_dir: str | Path, *, frames: int = 600, users: int = 8,
                       val_users: int = 2, size: tuple[int, int] = (320, 240),
                       max_hands: int = 4, seed: int = 0, force: bool = False,
                       clips: int = 0, clip_frames: int = 90,
                       clip_users: list[str] | None = None) -> dict[str, Any]:
    """Write the dataset (layout in the module docstring); returns the summary. ``clips``
    videos of ``clip_frames`` frames show ``clip_users`` (default: the last user)."""
    out = check_fresh_dir(out_dir, force)
    people = [User.make(k, seed) for k in range(users)]
    val_ids = {p.user_id for p in people[users - val_users:]}
    chosen = clip_users or [people[-1].user_id]
    unknown = sorted(set(chosen) - {p.user_id for p in people})
    if unknown:
        raise UserError(f"clip user {unknown[0]} is not one of user00..user{users - 1:02d}",
                        "name generated users (e.g. the last one) in --clip-users")
    counts: dict[str, Counter] = {"train": Counter(), "val": Counter()}
    frame_counts = Counter()
    with atomic_dir(out, replace=force) as tmp:
        for split in ("train", "val"):
            (tmp / "detector" / split / "images").mkdir(parents=True)
            (tmp / "detector" / split / "labels").mkdir(parents=True)
        for person in people:
            (tmp / "gesturenet" / person.user_id).mkdir(parents=True)
        for index in range(frames):
            rng = np.random.default_rng([seed, index])
            person = people[index % users]
            split = "val" if person.user_id in val_ids else "train"
            image, hands = render_frame(size, person, int(rng.integers(1, max_hands + 1)), rng)
            name = f"{index:06d}"
            _png(image, tmp / "detector" / split / "images" / f"{name}.png")
            write_labels(tmp / "detector" / split / "labels" / f"{name}.txt",
                         [KittiObject("hand", hand.box) for hand in hands])
            for k, hand in enumerate(hands):
                x1, y1, x2, y2 = hand.box
                write_json(tmp / "gesturenet" / person.user_id / f"{name}_{k}.json", {
                    "image": f"../../detector/{split}/images/{name}.png",
                    "user_id": person.user_id, "class": hand.label, "box_units": "percent",
                    "box": [round(100 * x1 / size[0], 4), round(100 * y1 / size[1], 4),
                            round(100 * x2 / size[0], 4), round(100 * y2 / size[1], 4)]})
                counts[split][hand.label] += 1
            frame_counts[split] += 1
        summary: dict[str, Any] = {
            "frames": dict(frame_counts), "size": list(size), "seed": seed,
            "users": [p.user_id for p in people], "val_users": sorted(val_ids),
            "hands": {s: {c: counts[s].get(c, 0) for c in CLASSES} for s in counts}}
        write_detector_specs(tmp / "detector", size)
        if clips:
            from graft.tasks.gesturenet.clips import write_clips

            summary["clips"] = write_clips(
                tmp / "clips", clips=clips, frames=clip_frames, size=size,
                users=[p for p in people if p.user_id in chosen], max_hands=max_hands,
                seed=seed)
        write_json(tmp / "summary.json", summary)
    return summary
