"""One generated aerial image and its labels (``graft synth detection``).

API::

    rng = np.random.default_rng([seed, domain, index])
    image, objects = render_image(rng, (256, 256), ["airliner", "propeller", "fighter"],
                                  domain="synthetic")
    objects[0].box, objects[0].label, objects[0].truncation, objects[0].dontcare

A scene: ground with an optional paved strip, 0..``max_objects`` aircraft that do not overlap
(in 40 % of the images parked with one heading), buildings, vehicles and tanks kept clear of
them, and a shadow for everything in one sun direction. An aircraft's size (its longest side
before rotation) is drawn log-uniformly from a share of ``object_size`` that depends on its
type (airliners the largest, propeller planes the smallest, overlapping), and its label box is
the axis-aligned box of its rotated polygons clipped to the image, exact to the sub-pixel.
``truncation`` is the share of the aircraft's area outside the image; an aircraft more than
half outside, or whose visible box is under :data:`MIN_VISIBLE` pixels on a side, is a
``dontcare`` region rather than an object to find.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from graft.tasks.detectnet_v2 import synth_render as draw

MIN_VISIBLE = 8.0  # px: a smaller visible box is a dontcare region
MAX_TRUNCATION = 0.5  # above: a dontcare region
SIZE_SHARE = {  # (low, high) share of the log object-size range per type
    "airliner": (0.5, 1.0), "propeller": (0.0, 0.45), "fighter": (0.25, 0.7),
    "helicopter": (0.15, 0.6)}


@dataclass
class Aircraft:
    """A placed aircraft; ``polygons()`` gives its parts in image pixels."""

    name: str
    label: int
    centre: np.ndarray
    size: float
    heading: float  # radians, the nose direction clockwise from image up
    parts: list[draw.Part]
    colour: np.ndarray

    def polygons(self) -> list[tuple[np.ndarray, float, float]]:
        solid = np.concatenate([p for p, _, alpha in self.parts if alpha >= 1.0])
        scale = self.size / float(np.ptp(solid, axis=0).max())
        c, s = math.cos(self.heading), math.sin(self.heading)
        rot = np.array([[c, -s], [s, c]])
        return [(self.centre + scale * p @ rot.T, shade, alpha)
                for p, shade, alpha in self.parts]


@dataclass
class LabeledObject:
    """What the label files say about one aircraft (boxes x1, y1, x2, y2 in pixels)."""

    name: str
    label: int
    box: tuple[float, float, float, float]
    truncation: float
    heading: float
    area: float  # visible pixels
    polygons: list[np.ndarray] = field(default_factory=list)  # clipped to the image
    dontcare: bool = False


def _size(rng: np.random.Generator, name: str, object_size: tuple[float, float]) -> float:
    lo, hi = (math.log(v) for v in object_size)
    a, b = SIZE_SHARE[name]
    return math.exp(lo + (hi - lo) * rng.uniform(a, b))


def random_aircraft(rng: np.random.Generator, hw: tuple[int, int], classes: Sequence[str],
                    object_size: tuple[float, float], max_objects: int) -> list[Aircraft]:
    """Non-overlapping aircraft; one in eight is centred near the border (truncated)."""
    h, w = hw
    count = 0 if rng.random() < 0.05 else int(rng.integers(1, max_objects + 1))
    parked = rng.random() < 0.4
    common_heading = rng.uniform(-math.pi, math.pi)
    placed: list[Aircraft] = []
    for _ in range(count):
        label = int(rng.integers(len(classes)))
        name = classes[label]
        size = _size(rng, name, object_size)
        r = size / 2
        for _attempt in range(30):
            if rng.random() < 0.125:  # over the border
                centre = np.array([rng.uniform(-0.3 * r, w + 0.3 * r),
                                   rng.uniform(-0.3 * r, h + 0.3 * r)])
            else:
                centre = np.array([rng.uniform(r * 0.7, w - r * 0.7),
                                   rng.uniform(r * 0.7, h - r * 0.7)])
            if all(np.hypot(*(centre - a.centre)) > 0.95 * (r + a.size / 2) for a in placed):
                break
        else:
            continue
        heading = (common_heading + rng.normal(0, 0.08) if parked
                   else rng.uniform(-math.pi, math.pi))
        palette = draw.PALETTES[name]
        colour = np.asarray(palette[int(rng.integers(len(palette)))], np.float32)
        placed.append(Aircraft(name, label, centre, size, heading, draw.SHAPES[name](rng),
                               np.clip(colour * rng.uniform(0.92, 1.06, 3), 0, 1)))
    return placed


def _clear(point: np.ndarray, radius: float, aircraft: list[Aircraft]) -> bool:
    return all(np.hypot(*(point - a.centre)) > radius + a.size * 0.55 for a in aircraft)


def render_scene(rng: np.random.Generator, hw: tuple[int, int], aircraft: list[Aircraft],
                 domain: str, object_size: tuple[float, float] = (24.0, 80.0)) -> np.ndarray:
    """The RGB image (uint8) of a scene with ``aircraft``; distractors are drawn here, sized
    with the aircraft (``object_size``: a building up to the largest aircraft, a vehicle
    about a third of the smallest)."""
    h, w = hw
    scale = object_size[0] / 24.0
    kinds = list(draw.GROUNDS)
    base = kinds[int(rng.integers(len(kinds)))]
    img = draw.ground(rng, h, w, base)
    angle = rng.uniform(0, math.pi)
    if rng.random() < 0.75:
        paved = [k for k in ("concrete", "tarmac") if k != base]
        angle = draw.paved_strip(rng, img, paved[int(rng.integers(len(paved)))])
    sun_angle = rng.uniform(0, 2 * math.pi)
    sun = np.array([math.cos(sun_angle), math.sin(sun_angle)])
    for kind, count in (("building", rng.integers(0, 4)), ("vehicle", rng.integers(0, 9)),
                        ("tank", rng.integers(0, 3))):
        for _ in range(int(count)):
            size = (rng.uniform(0.25, 0.8) * object_size[1] if kind == "building"
                    else 14.0 * scale)
            point = np.array([rng.uniform(0, w), rng.uniform(0, h)])
            if not _clear(point, size * 0.75, aircraft):
                continue
            if kind == "building":
                draw.building(rng, img, *point, size, angle + rng.choice([0, math.pi / 2]), sun)
            elif kind == "vehicle":
                draw.vehicle(rng, img, *point, angle + rng.normal(0, 0.3), sun, scale)
            else:
                draw.tank(rng, img, *point, sun, scale)
    real = domain == "real"
    shadow_len = rng.uniform(0.06, 0.14)
    polys = [a.polygons() for a in aircraft]
    for a, parts in zip(aircraft, polys, strict=True):
        draw.shadow(img, [p for p, _, alpha in parts if alpha >= 1.0],
                    sun * a.size * shadow_len, 0.5)
    for a, parts in zip(aircraft, polys, strict=True):
        colour = a.colour * (rng.uniform(0.8, 0.95) if real else 1.0)
        for poly, shade, alpha in parts:
            draw.fill(img, [poly], colour * shade if alpha >= 1.0 else np.zeros(3), alpha)
    if real:
        img = draw.real_look(rng, img)
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def label(aircraft: Aircraft, hw: tuple[int, int]) -> LabeledObject | None:
    """The label of a placed aircraft; None when nothing of it is inside the image."""
    h, w = hw
    solid = [p for p, _, alpha in aircraft.polygons() if alpha >= 1.0]
    clipped = [q for q in (draw.clip_polygon(p, w, h) for p in solid) if len(q) >= 3]
    if not clipped:
        return None
    pts = np.concatenate(clipped)
    x1, y1 = pts.min(0)
    x2, y2 = pts.max(0)
    x0, y0, mask = draw.poly_mask(solid)
    ya, xa = max(-y0, 0), max(-x0, 0)
    visible = float(mask[ya:max(h - y0, 0), xa:max(w - x0, 0)].sum())
    if visible <= 0:
        return None
    truncation = 1.0 - visible / max(float(mask.sum()), 1e-9)
    heading = (aircraft.heading + math.pi) % (2 * math.pi) - math.pi
    dontcare = truncation > MAX_TRUNCATION or min(x2 - x1, y2 - y1) < MIN_VISIBLE
    return LabeledObject(aircraft.name, aircraft.label, (float(x1), float(y1), float(x2),
                                                         float(y2)),
                         round(truncation, 2), heading, visible, clipped, dontcare)


def render_image(rng: np.random.Generator, hw: tuple[int, int], classes: Sequence[str],
                 domain: str = "synthetic", object_size: tuple[float, float] = (24.0, 80.0),
                 max_objects: int = 6) -> tuple[np.ndarray, list[LabeledObject]]:
    """One image (H, W, 3 uint8 RGB) and its labels, drawn from ``rng``."""
    aircraft = random_aircraft(rng, hw, classes, object_size, max_objects)
    image = render_scene(rng, hw, aircraft, domain, object_size)
    labels = [lab for lab in (label(a, hw) for a in aircraft) if lab is not None]
    return image, labels
