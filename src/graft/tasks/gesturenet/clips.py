"""Short videos for the gesture app: 1-4 hands drift across a still scene and change gesture
now and then, with the ground truth of every frame (``graft synth hands --clips N``).

Each clip is one mp4 (H.264 through :class:`graft.data.video.Mp4Writer`) and one JSONL with a
line per frame: ``{"frame", "width", "height", "hands": [{"hand_id", "user_id", "gesture",
"box"}]}`` (box: x1, y1, x2, y2 in pixels, the tight box of the hand without the sleeve, as in
the detector's KITTI labels). Hands are drawn by :mod:`graft.tasks.gesturenet.hands` like the
training frames, so a clip scores the models on the same rendering, but its users are chosen
by the caller: the demo uses the held-out test user, whom neither model trained on.

Why lanes: every hand keeps to its own vertical strip of the frame, so hands never overlap
and each ground-truth box is the whole visible hand. Why a fresh generator per gesture segment:
the pose (finger jitter, which "random" pose) stays fixed while the hand moves, and changes
only when the gesture does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from graft.tasks.gesturenet.hands import User, draw_hand, random_label
from graft.tasks.gesturenet.scene import SUPERSAMPLE, background, lighting

FPS = 15.0
MIN_SEGMENT, MAX_SEGMENT = 15, 40  # frames a gesture is held
# how far a hand reaches from its centre, in palm widths: sideways, up, down (measured over
# all poses at +-25 degrees; the thumb and the ok ring stick out most)
REACH = (1.4, 1.65, 1.05)
CRF = 18  # near-lossless H.264: the frames the app sees are close to the rendered ones


@dataclass
class MovingHand:
    """One hand's state in a clip: where it is, how it moves, what it shows."""

    hand_id: int
    user: User
    lane: tuple[float, float]  # x range of its strip
    scale: float
    centre: np.ndarray
    velocity: np.ndarray
    angle: float
    mirror: bool
    label: str
    segment: int = 0
    left: int = 0  # frames until the gesture changes

    def step(self, size: tuple[int, int], rng: np.random.Generator) -> None:
        """Move one frame (bouncing inside the lane) and maybe change gesture."""
        w, h = size
        lo = np.array([self.lane[0] + REACH[0] * self.scale, REACH[1] * self.scale])
        hi = np.array([self.lane[1] - REACH[0] * self.scale, h - REACH[2] * self.scale])
        hi = np.maximum(hi, lo)
        self.centre = self.centre + self.velocity
        for axis in (0, 1):
            if self.centre[axis] < lo[axis] or self.centre[axis] > hi[axis]:
                self.velocity[axis] = -self.velocity[axis]
                self.centre[axis] = float(np.clip(self.centre[axis], lo[axis], hi[axis]))
        self.angle = float(np.clip(self.angle + rng.normal(0, 1.0), -25, 25))
        self.left -= 1
        if self.left <= 0:
            new = random_label(rng)
            while new == self.label:
                new = random_label(rng)
            self.label, self.segment = new, self.segment + 1
            self.left = int(rng.integers(MIN_SEGMENT, MAX_SEGMENT + 1))


def start_hands(size: tuple[int, int], users: list[User], count: int,
                rng: np.random.Generator) -> list[MovingHand]:
    """``count`` hands in equal lanes, each of a user drawn from ``users``."""
    w, h = size
    lane_w = w / count
    hands = []
    for k in range(count):
        lane = (k * lane_w, (k + 1) * lane_w)
        scale = min(rng.uniform(0.07, 0.15) * min(w, h) * 1.4, lane_w / (2 * REACH[0] + 0.4),
                    h / (REACH[1] + REACH[2] + 0.4))
        centre = np.array([rng.uniform(*lane), rng.uniform(0.3, 0.7) * h])
        speed = rng.uniform(0.004, 0.012) * w
        heading = rng.uniform(0, 2 * np.pi)
        hand = MovingHand(k, users[int(rng.integers(len(users)))], lane, float(scale), centre,
                          speed * np.array([np.cos(heading), np.sin(heading)]),
                          float(rng.uniform(-20, 20)), bool(rng.random() < 0.5),
                          random_label(rng), left=int(rng.integers(MIN_SEGMENT,
                                                                     MAX_SEGMENT + 1)))
        hand.step(size, np.random.default_rng(0))  # into its lane's bounds
        hands.append(hand)
    return hands


def render_clip_frame(scene: Image.Image, size: tuple[int, int], hands: list[MovingHand],
                      seed: list[int]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Draw the hands on a copy of the (supersampled) scene; returns the frame and its truth."""
    w, h = size
    img = scene.copy()
    draw = ImageDraw.Draw(img)
    truth = []
    for hand in hands:
        pose_rng = np.random.default_rng([*seed, hand.hand_id, hand.segment])
        drawn = draw_hand(draw, hand.label, hand.user, (float(hand.centre[0]),
                                                        float(hand.centre[1])),
                          hand.scale, hand.angle, hand.mirror, pose_rng, SUPERSAMPLE)
        x1, y1, x2, y2 = drawn.box
        box = [max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)]
        truth.append({"hand_id": hand.hand_id, "user_id": hand.user.user_id,
                      "gesture": hand.label, "box": [round(v, 2) for v in box]})
    del draw
    small = img.resize((w, h), Image.Resampling.LANCZOS)
    return lighting(small, np.random.default_rng([*seed, 99])), truth


def write_clip(video: Path, truth_file: Path, *, users: list[User], frames: int,
               size: tuple[int, int], hands: int, seed: list[int], fps: float = FPS
               ) -> dict[str, Any]:
    """Render one clip to ``video`` (mp4) and ``truth_file`` (JSONL); returns its summary."""
    from graft.app.outputs import JsonlWriter
    from graft.data.video import Mp4Writer

    rng = np.random.default_rng([*seed, 1])
    scene = background(size, rng)
    moving = start_hands(size, users, hands, rng)
    mp4, jsonl = Mp4Writer(video, fps, crf=CRF), JsonlWriter(truth_file)
    counts: dict[str, int] = {}
    try:
        for index in range(frames):
            image, truth = render_clip_frame(scene, size, moving, seed)
            mp4.write(image)
            jsonl.write({"frame": index, "width": size[0], "height": size[1], "hands": truth})
            for t in truth:
                counts[t["gesture"]] = counts.get(t["gesture"], 0) + 1
            for hand in moving:
                hand.step(size, rng)
    finally:
        mp4.close()
        jsonl.close()
    return {"video": video.name, "truth": truth_file.name, "frames": frames, "fps": fps,
            "hands": hands, "users": sorted({h.user.user_id for h in moving}),
            "gestures": dict(sorted(counts.items()))}


def write_clips(folder: Path, *, clips: int, frames: int, size: tuple[int, int],
                users: list[User], max_hands: int, seed: int) -> list[dict[str, Any]]:
    """``clips`` clips ``clip_NNN.mp4`` + ``clip_NNN.jsonl`` in ``folder``, 1..max_hands
    hands each (the first clip has ``max_hands``)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(clips):
        rng = np.random.default_rng([seed, k, 5])
        hands = max_hands if k == 0 else int(rng.integers(1, max_hands + 1))
        out.append(write_clip(folder / f"clip_{k:03d}.mp4", folder / f"clip_{k:03d}.jsonl",
                              users=users, frames=frames, size=size, hands=hands,
                              seed=[seed, k, 11]))
    return out
