"""Stick-figure people for ``graft synth pose``: an articulated front-facing figure in COCO's
17-keypoint order, drawn with OpenCV (anti-aliased, 1/16-pixel precision), and the textured,
noisy backgrounds the figures stand on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

COCO_KEYPOINT_NAMES = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
COCO_SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
    [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]
(NOSE, L_EYE, R_EYE, L_EAR, R_EAR, L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI, L_HIP, R_HIP,
 L_KNEE, R_KNEE, L_ANK, R_ANK) = range(17)
_SHIFT = 4  # cv2 drawing with 1/16-pixel precision
_ONE = 1 << _SHIFT


@dataclass
class Figure:
    """One drawn person: keypoints (17, 2) in pixels, its unit length and colours."""

    keypoints: np.ndarray
    head_centre: np.ndarray
    unit: float
    colours: dict[str, tuple[int, int, int]]


def _rot(v: np.ndarray, deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    c, s = np.cos(t), np.sin(t)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def random_figure(rng: np.random.Generator, centre: np.ndarray, height: float) -> Figure:
    """An articulated front-facing figure (its left side on the image's right)."""
    u = height / 7.5  # body unit: about one head height
    lean = rng.normal(0, 10) if rng.random() > 0.1 else rng.uniform(-90, 90)
    up = _rot(np.array([0.0, -1.0]), lean)
    side = _rot(np.array([1.0, 0.0]), lean)  # towards the figure's left (image right)
    down = -up
    yaw = np.cos(np.deg2rad(rng.uniform(-55, 55)))  # turning narrows shoulders and hips
    k = np.zeros((17, 2))
    pelvis = centre + down * 0.4 * u
    neck = pelvis + up * 2.6 * u
    k[L_SHO], k[R_SHO] = neck + side * 0.95 * u * yaw, neck - side * 0.95 * u * yaw
    k[L_HIP], k[R_HIP] = pelvis + side * 0.65 * u * yaw, pelvis - side * 0.65 * u * yaw
    head_dir = _rot(up, rng.normal(0, 12))
    head_centre = neck + head_dir * 1.25 * u
    head_side = _rot(head_dir, 90)  # as side is to up
    turn = rng.uniform(-0.3, 0.3) * u  # where the face points sideways
    k[NOSE] = head_centre - head_dir * 0.15 * u + head_side * turn
    k[L_EYE] = head_centre + head_dir * 0.2 * u + head_side * (0.38 * u * yaw + turn)
    k[R_EYE] = head_centre + head_dir * 0.2 * u - head_side * (0.38 * u * yaw - turn)
    k[L_EAR] = head_centre + head_side * 0.75 * u
    k[R_EAR] = head_centre - head_side * 0.75 * u
    for s, (sho, elb, wri) in ((1, (L_SHO, L_ELB, L_WRI)), (-1, (R_SHO, R_ELB, R_WRI))):
        a = rng.uniform(-25, 165)  # away from the body: 0 hanging, 90 sideways, 180 raised
        upper = _rot(down, -s * a)
        k[elb] = k[sho] + upper * 1.5 * u
        k[wri] = k[elb] + _rot(upper, -s * rng.uniform(-20, 135)) * 1.3 * u
    for s, (hip, knee, ank) in ((1, (L_HIP, L_KNEE, L_ANK)), (-1, (R_HIP, R_KNEE, R_ANK))):
        thigh = _rot(down, -s * rng.uniform(-15, 55))
        k[knee] = k[hip] + thigh * 1.95 * u
        k[ank] = k[knee] + _rot(thigh, s * rng.uniform(-40, 60)) * 1.85 * u

    def colour(lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
        return tuple(int(c) for c in rng.integers(lo, hi, 3))  # type: ignore[return-value]

    skin = (int(rng.integers(90, 240)), int(rng.integers(70, 200)), int(rng.integers(50, 170)))
    return Figure(k, head_centre, u, {"shirt": colour(), "pants": colour(), "skin": skin,
                                      "shoes": colour(0, 90)})


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0] * _ONE)), int(round(p[1] * _ONE))


def draw_figure(canvas: np.ndarray, fig: Figure, colour_override: int | None = None) -> None:
    """Draw ``fig`` on ``canvas`` (RGB image, or a mask with ``colour_override``)."""
    k, u = fig.keypoints, fig.unit

    def c(name: str) -> Any:
        return colour_override if colour_override is not None else fig.colours[name]

    def limb(a: int, b: int, width: float, name: str) -> None:
        cv2.line(canvas, _pt(k[a]), _pt(k[b]), c(name), max(int(round(width)), 1),
                 cv2.LINE_AA, _SHIFT)

    for hip, knee, ank in ((L_HIP, L_KNEE, L_ANK), (R_HIP, R_KNEE, R_ANK)):
        limb(hip, knee, 0.55 * u, "pants")
        limb(knee, ank, 0.45 * u, "pants")
        cv2.circle(canvas, _pt(k[ank]), int(0.3 * u * _ONE), c("shoes"), -1, cv2.LINE_AA, _SHIFT)
    torso = np.array([_pt(k[i]) for i in (L_SHO, R_SHO, R_HIP, L_HIP)], dtype=np.int32)
    cv2.fillConvexPoly(canvas, torso, c("shirt"), cv2.LINE_AA, _SHIFT)
    limb(L_SHO, R_SHO, 0.5 * u, "shirt")
    limb(L_HIP, R_HIP, 0.5 * u, "pants")
    neck = (k[L_SHO] + k[R_SHO]) / 2
    cv2.line(canvas, _pt(neck), _pt(fig.head_centre), c("skin"), max(int(0.4 * u), 1),
             cv2.LINE_AA, _SHIFT)
    for sho, elb, wri in ((L_SHO, L_ELB, L_WRI), (R_SHO, R_ELB, R_WRI)):
        limb(sho, elb, 0.42 * u, "shirt")
        limb(elb, wri, 0.36 * u, "skin")
        cv2.circle(canvas, _pt(k[wri]), int(0.24 * u * _ONE), c("skin"), -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(canvas, _pt(fig.head_centre), int(0.78 * u * _ONE), c("skin"), -1, cv2.LINE_AA,
               _SHIFT)
    if colour_override is None:  # a face tells the figure's orientation
        dark = (20, 20, 20)
        for eye in (L_EYE, R_EYE):
            cv2.circle(canvas, _pt(k[eye]), int(max(0.12 * u, 1) * _ONE), dark, -1,
                       cv2.LINE_AA, _SHIFT)
        cv2.circle(canvas, _pt(k[NOSE]), int(max(0.09 * u, 1) * _ONE), (150, 40, 40), -1,
                   cv2.LINE_AA, _SHIFT)


def figure_mask(shape: tuple[int, int], fig: Figure) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    draw_figure(mask, fig, colour_override=255)
    return mask > 127


def textured_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour blobs, a gradient, distractor shapes and sensor noise (RGB uint8)."""
    cells = int(rng.integers(2, 9))
    blobs = rng.uniform(0, 255, (cells, cells, 3)).astype(np.float32)
    img = cv2.resize(blobs, (w, h), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None] * rng.uniform(-40, 40, 3)
    img = np.clip(img * rng.uniform(0.4, 0.9) + ramp + rng.uniform(0, 80), 0, 255)
    img = img.astype(np.uint8)
    for _ in range(int(rng.integers(3, 10))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(5, w // 3)),
                                        y + int(rng.integers(5, h // 3))), colour, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), int(rng.integers(3, max(h, w) // 8)), colour, -1, cv2.LINE_AA)
        else:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour,
                     int(rng.integers(1, 4)), cv2.LINE_AA)
    stripes = rng.random() < 0.3
    if stripes:  # a texture that is not flat colour
        period = int(rng.integers(4, 16))
        img[:, (np.arange(w) // period) % 2 == 0] //= 2
    return img


def sensor_noise(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    sigma = rng.uniform(3, 10)
    return np.clip(img.astype(np.float32) + rng.normal(0, sigma, img.shape), 0, 255).astype(
        np.uint8)
