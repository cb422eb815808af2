"""Drawn hands for ``graft synth hands``: a palm with five jointed fingers posed per gesture.

A hand lives in its own frame (palm width 1, wrist at the origin, fingers towards +y) and is
seen from the front: a finger bent by the angles (a1, a2, a3) at its three joints shows each
segment shortened by the cosine of the summed angle, so a curled finger folds back over the
palm, as a fist looks to a camera. Users differ in skin tone, finger length and width, palm
shape and sleeve colour; every pose is jittered, so no two hands are the same.

"random" hands take poses that differ from each of the five gestures in at least two fingers
(:func:`pose_distance`), so a person would not read one as a gesture: horns, claws, hooks. A pose
one finger or only the thumb away from a gesture (pointing, "four") is not drawn at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from graft.tasks.gesturenet.crop import CLASSES

SKIN_TONES = [(255, 224, 196), (241, 194, 167), (224, 172, 105), (198, 134, 66),
              (141, 85, 36), (92, 56, 33)]
FINGER_X = (-0.375, -0.125, 0.125, 0.375)  # index, middle, ring, pinky bases on the palm
FINGER_LEN = ((0.45, 0.28, 0.22), (0.5, 0.3, 0.23), (0.47, 0.28, 0.22), (0.36, 0.22, 0.18))
SPREAD = (-10.0, -3.0, 4.0, 11.0)  # degrees from the palm axis, extended
EXTENDED, CURLED, HALF = (3.0, 3.0, 2.0), (90.0, 100.0, 70.0), (35.0, 45.0, 30.0)

# A pose: flexion per finger (index..pinky) and the thumb ("out", "across", "up", "ok")
Pose = tuple[tuple[tuple[float, float, float], ...], str]
POSES: dict[str, Pose] = {
    "stop": ((EXTENDED,) * 4, "out"),
    "fist": ((CURLED,) * 4, "across"),
    "thumbs_up": ((CURLED,) * 4, "up"),
    "two": ((EXTENDED, EXTENDED, CURLED, CURLED), "across"),
    "ok": (((50.0, 60.0, 40.0), EXTENDED, EXTENDED, EXTENDED), "ok"),
}
# "random" = any other hand, but never one a person could take for a gesture: every random
# pose differs from each of the five in at least RANDOM_MIN_FINGERS fingers (pose_distance).
# Poses one finger or only the thumb away (pointing, three, four, three with the thumb out,
# pinky) are left out: a real GestureNet data set would not label them "random" either, and in a
# small crop they are the gesture with a detail wrong. HALF (a loose, half-bent finger) looks
# short and stubby from the front, between extended and curled.
RANDOM_POSES: list[Pose] = [
    ((EXTENDED, CURLED, CURLED, EXTENDED), "across"),  # horns
    ((EXTENDED, CURLED, CURLED, EXTENDED), "out"),  # I love you
    ((HALF,) * 4, "out"),  # claw
    ((HALF,) * 4, "across"),  # loose claw
    ((HALF, HALF, CURLED, CURLED), "across"),  # hook
    ((EXTENDED, HALF, HALF, EXTENDED), "out"),  # loose horns
    ((EXTENDED, HALF, HALF, HALF), "across"),  # loose point
    ((HALF, HALF, HALF, EXTENDED), "out"),  # loose pinky
]
FINGER_APART = 60.0  # degrees of summed flexion that make a finger look different
RANDOM_MIN_FINGERS = 2


def pose_distance(a: Pose, b: Pose) -> int:
    """How many of the four fingers (thumb not counted) differ in summed flexion by at least
    FINGER_APART degrees: a finger's summed flexion decides how long it looks from the front."""
    return sum(abs(sum(fa) - sum(fb)) >= FINGER_APART for fa, fb in zip(a[0], b[0], strict=True))


@dataclass(frozen=True)
class User:
    """What stays the same for one person: the hand's build and the sleeve."""

    user_id: str
    skin: tuple[int, int, int]
    finger_length: float
    finger_width: float
    palm_aspect: float
    sleeve: tuple[int, int, int]

    @classmethod
    def make(cls, index: int, seed: int) -> User:
        rng = np.random.default_rng([seed, index, 7])
        base = np.array(SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], float)
        skin = tuple(int(v) for v in np.clip(base * rng.uniform(0.9, 1.1, 3), 0, 255))
        sleeve = tuple(int(v) for v in rng.integers(0, 256, 3))
        return cls(f"user{index:02d}", skin, float(rng.uniform(0.85, 1.15)),
                   float(rng.uniform(0.85, 1.2)), float(rng.uniform(0.9, 1.15)), sleeve)


def _rot(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _finger(base: np.ndarray, direction: float, lengths: tuple[float, ...],
            flex: tuple[float, ...]) -> list[np.ndarray]:
    """Joint positions of a finger seen from the front (see the module docstring)."""
    axis = _rot(direction) @ np.array([0.0, 1.0])
    points, along, total = [base], 0.0, 0.0
    for length, angle in zip(lengths, flex, strict=True):
        total += angle
        along += length * math.cos(math.radians(total))
        points.append(base + axis * along)
    return points


@dataclass
class DrawnHand:
    """A hand placed in the frame: its tight box (pixels) and gesture."""

    label: str
    box: tuple[float, float, float, float]


def pose_for(label: str, rng: np.random.Generator) -> Pose:
    if label == "random":
        return RANDOM_POSES[int(rng.integers(len(RANDOM_POSES)))]
    return POSES[label]


def hand_parts(label: str, user: User, rng: np.random.Generator
               ) -> tuple[list[tuple[list[np.ndarray], float, bool]], np.ndarray]:
    """(strokes, palm polygon) in hand coordinates: a stroke is (joints, width, folded)."""
    fingers, thumb = pose_for(label, rng)
    palm_h = user.palm_aspect
    palm = np.array([[-0.5, 0.05], [-0.55, 0.6 * palm_h], [-0.45, palm_h], [0.45, palm_h],
                     [0.5, 0.6 * palm_h], [0.45, 0.0]])
    width = 0.22 * user.finger_width
    strokes = []
    for k, flex in enumerate(fingers):
        jitter = tuple(max(0.0, a + rng.normal(0, 6)) for a in flex)
        spread = SPREAD[k] * (1.0 if flex[0] < 20 else 0.3) + rng.normal(0, 3)
        if label == "two" and k < 2:
            spread = (-12.0, 12.0)[k] + rng.normal(0, 3)  # the V
        lengths = tuple(v * user.finger_length for v in FINGER_LEN[k])
        joints = _finger(np.array([FINGER_X[k], palm_h * 0.97]), spread, lengths, jitter)
        strokes.append((joints, width, jitter[0] + jitter[1] > 90))
    t_base = np.array([-0.45, 0.3 * palm_h])
    t_len = tuple(v * user.finger_length for v in (0.35, 0.3, 0.25))
    if thumb == "ok":  # thumb and index make a ring with a hole (the index is the ring)
        r = 0.24 * user.finger_length
        centre = np.array([-0.5, palm_h + r * 0.9])
        ring = [centre + r * np.array([math.cos(a), math.sin(a)])
                for a in np.linspace(-0.4 * math.pi, 1.6 * math.pi, 17)]
        strokes[0] = (ring, width * 0.9, False)
        strokes.append(([t_base, centre + np.array([-r, -0.3 * r])], width * 1.1, False))
    else:
        direction, flex = {"out": (45.0, (5.0, 5.0, 5.0)), "up": (90.0, (0.0, 0.0, 0.0)),
                           "across": (-75.0, (20.0, 30.0, 20.0))}[thumb]
        joints = _finger(t_base, direction + rng.normal(0, 5), t_len, flex)
        strokes.append((joints, width * 1.1, thumb == "across"))
    return strokes, palm


def draw_hand(draw: ImageDraw.ImageDraw, label: str, user: User, centre: tuple[float, float],
              scale: float, angle: float, mirror: bool, rng: np.random.Generator,
              supersample: int = 1) -> DrawnHand:
    """Draw one hand (sleeve, palm, fingers) with its palm of width ``scale`` pixels; the box
    is the tight box of the hand without the sleeve, in output pixels."""
    strokes, palm = hand_parts(label, user, rng)
    if label == "thumbs_up":
        angle += 90.0 if not mirror else -90.0  # fist on its side, thumb to the sky
    m = _rot(angle) @ np.diag([(-1.0 if mirror else 1.0) * scale, -scale])  # y down in images
    ss = supersample
    origin = np.array(centre) - m @ np.array([0.0, 0.6 * user.palm_aspect])

    def tf(p: np.ndarray) -> np.ndarray:
        return (m @ p + origin) * ss

    skin = np.array(user.skin, float) * rng.uniform(0.9, 1.1)
    fill = tuple(int(v) for v in np.clip(skin, 0, 255))
    edge = tuple(int(v) for v in np.clip(skin * 0.6, 0, 255))
    shade = tuple(int(v) for v in np.clip(skin * 0.82, 0, 255))
    sleeve = [tf(np.array(p)) for p in ([-0.55, 0.05], [0.55, 0.05], [0.6, -0.9], [-0.6, -0.9])]
    draw.polygon([tuple(p) for p in sleeve], fill=user.sleeve)
    wrist = [tf(np.array(p)) for p in ([-0.42, -0.2], [0.42, -0.2], [0.5, 0.2], [-0.5, 0.2])]
    draw.polygon([tuple(p) for p in wrist], fill=fill, outline=edge)
    draw.polygon([tuple(tf(p)) for p in palm], fill=fill, outline=edge, width=max(1, ss))
    points = [tf(p) for p in palm]
    for joints, width, folded in sorted(strokes, key=lambda s: s[2]):
        px = [tf(j) for j in joints]
        w = max(2.0, width * scale * ss)
        for colour, grow in ((edge, 2 * ss), (shade if folded else fill, 0)):
            draw.line([tuple(p) for p in px], fill=colour, width=int(w + grow), joint="curve")
            for p in px:
                r = (w + grow) / 2
                draw.ellipse((p[0] - r, p[1] - r, p[0] + r, p[1] + r), fill=colour)
        points += [p + d for p in px for d in (np.array([w / 2, w / 2]),
                                                np.array([-w / 2, -w / 2]))]
    points += [wrist[0], wrist[1]]
    arr = np.array(points) / ss
    box = (float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 0].max()),
           float(arr[:, 1].max()))
    return DrawnHand(label, box)


def random_label(rng: np.random.Generator, random_share: float = 0.25) -> str:
    """A gesture: 'random' with ``random_share``, else one of the five uniformly."""
    if rng.random() < random_share:
        return "random"
    return CLASSES[int(rng.integers(len(CLASSES) - 1))]
