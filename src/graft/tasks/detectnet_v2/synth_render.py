"""Drawing for ``graft synth detection``: aircraft seen from above on textured airfield ground.

Aircraft are unions of polygons in unit coordinates (nose at y = -0.5, tail at y = +0.5,
wings along x), scaled, rotated and placed by :mod:`graft.tasks.detectnet_v2.synth`. Each
type has a distinct silhouette, the cue a detector has to learn:

- ``airliner``: long fuselage, swept wings with engines, swept tailplane (the largest type);
- ``propeller``: short fuselage, straight wings wider than the plane is long, propeller;
- ``fighter``: a delta wing over a slim fuselage with a dark canopy;
- ``helicopter``: cabin, tail boom and a disc of 2..5 rotor blades.

The ground is grass, concrete slabs, tarmac or sand from layered value noise, crossed by a
paved strip with runway markings; buildings and vehicles are distractors; every object casts
a shadow in one sun direction per image. Everything is float32 RGB in [0, 1], drawn with
OpenCV's anti-aliased polygon fill on the object's own region of interest, so an image takes
a few milliseconds. The "real" domain adds haze, a colour cast, desaturation, blur, sensor
noise and row banding on top of the same kind of scene (:func:`real_look`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

AIRCRAFT = ("airliner", "propeller", "fighter", "helicopter")
SUBPIXEL = 4  # cv2 fixed-point bits: polygons are drawn at 1/16 pixel precision
# A part: polygon (N, 2) in unit coordinates, brightness factor, opacity; parts with opacity
# below 1 (the blurred rotor disc) are drawn but are no part of the label box.
Part = tuple[np.ndarray, float, float]
ROTOR_ALPHA = 0.22


def _mirror(right: list[tuple[float, float]]) -> np.ndarray:
    """A left-right symmetric polygon from its right half (listed nose to tail)."""
    pts = np.array(right, dtype=np.float64)
    return np.concatenate([pts, pts[::-1] * [-1.0, 1.0]])


def _wing(root_x: float, y_lead: float, root_chord: float, half_span: float, sweep: float,
          tip_chord: float, side: float) -> np.ndarray:
    tip_lead = y_lead + (half_span - root_x) * math.tan(sweep)
    pts = [(root_x, y_lead), (half_span, tip_lead), (half_span, tip_lead + tip_chord),
           (root_x, y_lead + root_chord)]
    return np.array(pts) * [side, 1.0]


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 14) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=np.float64)


def _solid(parts: list[tuple[np.ndarray, float]]) -> list[Part]:
    return [(p, shade, 1.0) for p, shade in parts]


def airliner(rng: np.random.Generator) -> list[Part]:
    wf = rng.uniform(0.08, 0.1) / 2
    body = _mirror([(0.0, -0.5), (wf * 0.7, -0.46), (wf, -0.39), (wf, 0.33), (wf * 0.3, 0.5)])
    sweep, span = math.radians(rng.uniform(25, 35)), rng.uniform(0.44, 0.5)
    parts = [(body, 1.0)]
    for side in (1.0, -1.0):
        parts.append((_wing(wf, -0.1, 0.24, span, sweep, 0.06, side), 0.96))
        parts.append((_wing(wf * 0.6, 0.33, 0.11, 0.17, sweep, 0.045, side), 0.96))
        for x in (0.17, 0.31)[:int(rng.integers(1, 3))]:
            y = -0.1 + (x - wf) * math.tan(sweep) - 0.07
            parts.append((_rect(side * x - 0.022, y, side * x + 0.022, y + 0.1), 0.62))
    return _solid(parts)


def propeller(rng: np.random.Generator) -> list[Part]:
    wf, span = rng.uniform(0.12, 0.15) / 2, rng.uniform(0.6, 0.68)
    body = _mirror([(0.0, -0.5), (wf, -0.44), (wf, -0.05), (wf * 0.35, 0.47), (0.0, 0.5)])
    chord = rng.uniform(0.14, 0.18)
    return _solid([(body, 1.0), (_rect(-span, -0.26, span, -0.26 + chord), 0.97),
                   (_rect(-0.2, 0.37, 0.2, 0.47), 0.97), (_rect(-0.02, -0.25, 0.02, 0.3), 0.55),
                   (_rect(-0.15, -0.535, 0.15, -0.5), 0.25)])


def fighter(rng: np.random.Generator) -> list[Part]:
    half, nose = rng.uniform(0.3, 0.36), rng.uniform(-0.28, -0.18)
    delta = _mirror([(0.0, nose), (half, 0.34), (half, 0.4), (0.05, 0.4)])
    body = _mirror([(0.0, -0.5), (0.04, -0.34), (0.06, 0.42), (0.045, 0.5)])
    parts = [(delta, 0.92), (body, 1.0), (_ellipse(0.0, -0.3, 0.025, 0.07), 0.3)]
    if rng.random() < 0.5:  # canards
        parts += [(_wing(0.05, -0.24, 0.06, 0.14, 0.5, 0.025, s), 0.9) for s in (1.0, -1.0)]
    return _solid(parts)


def helicopter(rng: np.random.Generator) -> list[Part]:
    cabin = _ellipse(0.0, -0.2, rng.uniform(0.09, 0.12), 0.23, 16)
    radius, start, blades = rng.uniform(0.4, 0.47), rng.uniform(0, np.pi), int(rng.integers(2, 6))
    parts = [(cabin, 1.0), (_rect(-0.025, -0.02, 0.025, 0.47), 0.95),
             (_rect(-0.03, 0.41, 0.1, 0.47), 0.9), (_ellipse(0.0, -0.32, 0.06, 0.06, 10), 0.35)]
    parts += [(_blade(start + 2 * np.pi * k / blades, radius), 0.3) for k in range(blades)]
    return [(_ellipse(0.0, -0.2, radius, radius, 24), 0.35, ROTOR_ALPHA), *_solid(parts)]


def _blade(angle: float, radius: float, centre_y: float = -0.2) -> np.ndarray:
    d, n = np.array([math.cos(angle), math.sin(angle)]), np.array([-math.sin(angle),
                                                                    math.cos(angle)])
    c, w = np.array([0.0, centre_y]), 0.018
    return np.array([c + n * w, c + d * radius + n * w, c + d * radius - n * w, c - n * w])


SHAPES = {"airliner": airliner, "propeller": propeller, "fighter": fighter,
          "helicopter": helicopter}
PALETTES = {  # body colours (RGB) per type; one is picked per aircraft and jittered
    "airliner": [(0.93, 0.93, 0.94), (0.86, 0.87, 0.9), (0.95, 0.94, 0.9)],
    "propeller": [(0.95, 0.95, 0.95), (0.92, 0.78, 0.2), (0.8, 0.2, 0.18), (0.25, 0.4, 0.75)],
    "fighter": [(0.48, 0.5, 0.53), (0.4, 0.44, 0.4), (0.56, 0.57, 0.6)],
    "helicopter": [(0.3, 0.34, 0.25), (0.22, 0.24, 0.27), (0.85, 0.2, 0.2), (0.9, 0.9, 0.88)],
}
GROUNDS = {  # base colour, low-frequency amplitude, grain
    "grass": ((0.3, 0.42, 0.2), 0.22, 0.05),
    "concrete": ((0.63, 0.62, 0.59), 0.08, 0.03),
    "tarmac": ((0.24, 0.25, 0.26), 0.12, 0.06),
    "sand": ((0.62, 0.54, 0.4), 0.14, 0.05),
}
ROOFS = [(0.55, 0.55, 0.57), (0.78, 0.78, 0.76), (0.55, 0.28, 0.2), (0.35, 0.42, 0.5)]


def value_noise(rng: np.random.Generator, h: int, w: int, cell: int, octaves: int = 3
                ) -> np.ndarray:
    """Smooth noise (h, w), roughly unit variance: random grids of about ``cell`` pixels
    upsampled bicubically, each octave half the cell size and amplitude of the one before."""
    total, norm, amp = np.zeros((h, w), np.float32), 0.0, 1.0
    for _ in range(octaves):
        grid = rng.standard_normal((h // cell + 2, w // cell + 2), np.float32)
        total += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        norm, amp, cell = norm + amp, amp * 0.5, max(cell // 2, 1)
    return total / np.float32(norm)


def grain(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-mean, unit-variance pixel noise (uniform: four times cheaper than Gaussian)."""
    return (rng.random(shape, np.float32) - np.float32(0.5)) * np.float32(math.sqrt(12))


def ground(rng: np.random.Generator, h: int, w: int, kind: str) -> np.ndarray:
    """A textured ground image (h, w, 3) of ``kind`` (a key of :data:`GROUNDS`)."""
    colour, amp, fine = GROUNDS[kind]
    base = np.asarray(colour, np.float32) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    light = 1.0 + amp * value_noise(rng, h, w, int(rng.integers(24, 64)))
    img = base * light[..., None] + np.float32(fine) * grain(rng, (h, w, 1))
    if kind == "concrete":  # slab joints
        pitch = int(rng.integers(14, 30))
        img[int(rng.integers(0, pitch))::pitch] *= 0.85
        img[:, int(rng.integers(0, pitch))::pitch] *= 0.85
    return img


def clip_polygon(poly: np.ndarray, w: float, h: float) -> np.ndarray:
    """Sutherland-Hodgman: ``poly`` (N, 2) clipped to [0, w] x [0, h]."""
    lo, hi = poly.min(0), poly.max(0)
    if lo[0] >= 0 and lo[1] >= 0 and hi[0] <= w and hi[1] <= h:
        return poly
    for axis, bound, upper in ((0, 0.0, False), (0, w, True), (1, 0.0, False), (1, h, True)):
        if not len(poly):
            break
        inside = poly[:, axis] <= bound if upper else poly[:, axis] >= bound
        out = []
        for i in range(len(poly)):
            j = i - 1
            if inside[i] != inside[j]:
                t = (bound - poly[j, axis]) / (poly[i, axis] - poly[j, axis])
                out.append(poly[j] + t * (poly[i] - poly[j]))
            if inside[i]:
                out.append(poly[i])
        poly = np.array(out).reshape(-1, 2)
    return poly


def to_pixels(poly: np.ndarray) -> np.ndarray:
    """Corner coordinates (pixel 0 spans [0, 1]) -> OpenCV's fixed-point pixel centres."""
    return np.round((poly - 0.5) * (1 << SUBPIXEL)).astype(np.int32)


def poly_mask(polys: list[np.ndarray]) -> tuple[int, int, np.ndarray]:
    """(x0, y0, coverage): the anti-aliased union of ``polys`` (image pixels) in its own
    bounding region, which may reach outside the image."""
    pts = np.concatenate(polys)
    x0, y0 = (int(math.floor(v)) - 1 for v in pts.min(0))
    x1, y1 = (int(math.ceil(v)) + 2 for v in pts.max(0))
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for p in polys:
        cv2.fillPoly(mask, [to_pixels(p - [x0, y0])], 255, cv2.LINE_AA, shift=SUBPIXEL)
    return x0, y0, mask.astype(np.float32) / 255.0


def blend(img: np.ndarray, x0: int, y0: int, mask: np.ndarray, colour: np.ndarray | None,
          alpha: float = 1.0, darken: float | None = None) -> None:
    """Paint ``colour`` (RGB, or an image starting at the region's first pixel inside the
    image), or multiply by ``darken``, through ``mask`` placed at (x0, y0)."""
    h, w = img.shape[:2]
    ya, xa, yb, xb = max(y0, 0), max(x0, 0), min(y0 + mask.shape[0], h), min(x0 + mask.shape[1], w)
    if ya >= yb or xa >= xb:
        return
    a = alpha * mask[ya - y0:yb - y0, xa - x0:xb - x0, None]
    roi = img[ya:yb, xa:xb]
    if colour is not None and colour.ndim == 3:  # an image, aligned with the region
        colour = colour[:yb - ya, :xb - xa]
    if darken is not None:
        roi *= 1.0 - a * (1.0 - darken)
    else:
        roi += a * (colour - roi)


def fill(img: np.ndarray, polys: list[np.ndarray], colour, alpha: float = 1.0) -> None:
    x0, y0, mask = poly_mask(polys)
    blend(img, x0, y0, mask, np.asarray(colour, np.float32), alpha)


def shadow(img: np.ndarray, polys: list[np.ndarray], offset: np.ndarray, darken: float) -> None:
    x0, y0, mask = poly_mask([p + offset for p in polys])
    blend(img, x0, y0, mask, None, darken=darken)


def rotated_rect(cx: float, cy: float, length: float, width: float, angle: float
                 ) -> np.ndarray:
    d, n = np.array([math.cos(angle), math.sin(angle)]), np.array([-math.sin(angle),
                                                                    math.cos(angle)])
    c = np.array([cx, cy])
    return np.array([c - d * length / 2 - n * width / 2, c + d * length / 2 - n * width / 2,
                     c + d * length / 2 + n * width / 2, c - d * length / 2 + n * width / 2])


def paved_strip(rng: np.random.Generator, img: np.ndarray, kind: str) -> float:
    """A runway/taxiway strip of ``kind`` across the image with markings; returns its angle."""
    h, w = img.shape[:2]
    angle = float(rng.choice([0.0, np.pi / 2]) + rng.normal(0, 0.25))
    centre = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])
    width, length = rng.uniform(0.25, 0.6) * min(h, w), 1.5 * math.hypot(h, w)
    strip = clip_polygon(rotated_rect(*centre, length, width, angle), w, h)
    if len(strip) < 3:
        return angle
    x0, y0, mask = poly_mask([strip])
    paved = ground(rng, h, w, kind)
    blend(img, x0, y0, mask, paved[max(y0, 0):, max(x0, 0):][:mask.shape[0], :mask.shape[1]])
    white, yellow = np.array([0.92, 0.92, 0.9]), np.array([0.9, 0.75, 0.15])
    d = np.array([math.cos(angle), math.sin(angle)])
    n = np.array([-d[1], d[0]])
    if rng.random() < 0.6:  # dashed centreline
        dash, gap = rng.uniform(10, 20), rng.uniform(8, 16)
        for t in np.arange(-length / 2, length / 2, dash + gap):
            c = centre + d * t
            if -dash < c[0] < w + dash and -dash < c[1] < h + dash:
                fill(img, [rotated_rect(*c, dash, 2.0, angle)], white, 0.85)
    for side in (-1, 1):  # edge lines, white on runways, yellow on taxiways
        line = clip_polygon(rotated_rect(*(centre + n * side * (width / 2 - 3)), length, 1.6,
                                         angle), w, h)
        if len(line) >= 3:
            fill(img, [line], white if rng.random() < 0.5 else yellow, 0.8)
    return angle


def building(rng: np.random.Generator, img: np.ndarray, cx: float, cy: float, size: float,
             angle: float, sun: np.ndarray) -> None:
    """A two-tone roof (hangar or house) with its shadow."""
    length, width = size, size * rng.uniform(0.45, 0.9)
    rect = rotated_rect(cx, cy, length, width, angle)
    shadow(img, [rect], sun * size * rng.uniform(0.15, 0.3), 0.45)
    roof = np.asarray(ROOFS[int(rng.integers(len(ROOFS)))], np.float32) * rng.uniform(0.9, 1.1)
    fill(img, [rect], roof)
    side = np.array([-math.sin(angle), math.cos(angle)]) * width / 4
    fill(img, [rotated_rect(cx + side[0], cy + side[1], length, width / 2, angle)], roof * 0.8)


def vehicle(rng: np.random.Generator, img: np.ndarray, cx: float, cy: float, angle: float,
            sun: np.ndarray, scale: float = 1.0) -> None:
    """A car or truck; ``scale`` 1 is 7..14 px long."""
    rect = rotated_rect(cx, cy, rng.uniform(7, 14) * scale, rng.uniform(4, 6.5) * scale, angle)
    shadow(img, [rect], sun * 2.0, 0.5)
    fill(img, [rect], rng.uniform(0.1, 0.95, 3))


def tank(rng: np.random.Generator, img: np.ndarray, cx: float, cy: float,
         sun: np.ndarray, scale: float = 1.0) -> None:
    """A round fuel tank: a disc the size of a rotor disc, so not every circle is a
    helicopter; ``scale`` 1 is 5..14 px in radius."""
    r = rng.uniform(5, 14) * scale
    disc = _ellipse(cx, cy, r, r, 20)
    shadow(img, [disc], sun * r * 0.5, 0.5)
    fill(img, [disc], np.full(3, rng.uniform(0.6, 0.9)))


REAL_LOOK = {  # ranges drawn per image for the "real" domain (BENCHMARKS.md: domain gap)
    "saturation": (0.6, 0.9), "haze": (0.05, 0.2), "gain": (0.9, 1.1), "cast": 0.04,
    "light": 0.1, "blur": (0.6, 1.2), "noise": (0.01, 0.03), "banding": 0.01,
}


def real_look(rng: np.random.Generator, img: np.ndarray,
              look: dict | None = None) -> np.ndarray:
    """The "real-like" domain: desaturation, colour cast, haze, uneven light, blur (sigma in
    pixels), sensor noise and row banding, as satellite imagery has and clean renderings lack
    (``look``: ranges as :data:`REAL_LOOK`)."""
    k = {**REAL_LOOK, **(look or {})}
    h, w = img.shape[:2]
    f32 = np.float32
    grey = img.mean(axis=2, keepdims=True)
    img = grey + (img - grey) * f32(rng.uniform(*k["saturation"]))
    haze = rng.uniform(*k["haze"])
    gain = (rng.uniform(*k["gain"], 3) * (1 - haze)).astype(f32)
    offset = rng.uniform(-k["cast"], k["cast"], 3) * (1 - haze) + haze * np.array([0.68, 0.7,
                                                                                  0.74])
    img = img * gain + offset.astype(f32)
    img *= (1.0 + f32(k["light"]) * value_noise(rng, h, w, max(h, w) // 2, 1))[..., None]
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(*k["blur"]))
    img += f32(rng.uniform(*k["noise"])) * grain(rng, img.shape)
    img += f32(k["banding"]) * grain(rng, (h, 1, 1))
    return img
