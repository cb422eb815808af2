"""The margin crop: the arithmetic at the frame edges, the DeepStream sample's bug as a
regression case, squares, ratios, zero padding and the minimum size."""

from __future__ import annotations

import numpy as np
import pytest

from graft.app.margin import CropRule
from graft.errors import UserError

W, H = 640, 480


def blog_crop(x: float, t: float, w: float, h: float, m: float) -> tuple[float, ...]:
    """The sample's C arithmetic (x = left): its right edge is stored as the width."""
    clip_x = lambda v: min(max(v, 0), W)  # noqa: E731
    clip_y = lambda v: min(max(v, 0), H)  # noqa: E731
    left, top = clip_x(x - m), clip_y(t - m)
    return left, top, clip_x(left + w + m), clip_y(top + h + m)


@pytest.mark.parametrize("box", [(300, 200, 400, 260), (500, 300, 600, 420), (10, 5, 60, 40)])
def test_pixel_margin_is_the_box_plus_margin_clipped(box) -> None:
    rule = CropRule("pixels", 200, square=False)
    x1, y1, x2, y2 = rule.expand(box, W, H)
    assert (x1, y1) == (max(box[0] - 200, 0), max(box[1] - 200, 0))
    assert (x2, y2) == (min(box[2] + 200, W), min(box[3] + 200, H))


def test_blog_bug_regression() -> None:
    """Box at x=500, w=100, 200 px margin, 640 wide: the right edge must stop at 640; the C
    code's crop runs to 300 + 600 = 900, and in mid-frame its right margin is x - 200."""
    x, t, w, h, m = 500, 300, 100, 100, 200
    bl, bt, bw, bh = blog_crop(x, t, w, h, m)
    assert bl + bw > W  # what the bug did
    x1, y1, x2, y2 = CropRule("pixels", m, square=False).expand((x, t, x + w, t + h), W, H)
    assert (x1, x2) == (300, 640) and (y1, y2) == (100, 480)
    # mid-frame: the C crop's right margin is l - 200 = 100, not 200
    bl, _, bw, _ = blog_crop(300, 200, 100, 50, m)
    assert bl + bw - (300 + 100) == 100
    x1, _, x2, _ = CropRule("pixels", m, square=False).expand((300, 200, 400, 250), W, H)
    assert (300 - x1, x2 - 400) == (200, 200)


def test_ratio_square_crop() -> None:
    rule = CropRule("ratio", 1.2, square=True)
    assert rule.region((100, 100, 200, 150)) == (90, 65, 210, 185)  # 120x120 about the centre
    assert rule.expand((100, 100, 200, 150), W, H) == (90, 65, 210, 185)
    assert CropRule("ratio", 1.0, square=False).region((10, 20, 30, 60)) == (10, 20, 30, 60)


@pytest.mark.parametrize("box", [(0, 0, 50, 50), (600, 440, 640, 480), (-20, -10, 30, 30),
                                 (620, 10, 700, 90), (0, 0, 640, 480)])
def test_expand_always_inside_frame(box) -> None:
    for rule in (CropRule("ratio", 1.5), CropRule("pixels", 300, square=False)):
        x1, y1, x2, y2 = rule.expand(box, W, H)
        assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H


def test_zero_border_keeps_the_aspect_ratio_clip_does_not() -> None:
    img = np.full((H, W, 3), 7, np.uint8)
    box = (600, 200, 640, 240)  # at the right edge
    padded = CropRule("ratio", 2.0, border="zeros").crop(img, box)
    assert padded.shape == (80, 80, 3)
    assert (padded[:, :60] == 7).all() and (padded[:, 60:] == 0).all()
    clipped = CropRule("ratio", 2.0, border="clip").crop(img, box)
    assert clipped.shape == (80, 60, 3) and (clipped == 7).all()
    top_left = CropRule("ratio", 2.0).crop(img, (0, 0, 20, 20))
    assert top_left.shape == (40, 40, 3) and (top_left[:10] == 0).all()
    assert (top_left[10:, 10:] == 7).all()


def test_min_size_and_empty_boxes() -> None:
    rule = CropRule(min_size=16)
    assert rule.classifiable((0, 0, 16, 40)) and not rule.classifiable((0, 0, 15, 40))
    assert not CropRule().classifiable((5, 5, 5, 9))


def test_rule_from_manifest_and_overrides() -> None:
    rule = CropRule.from_manifest({"crop": {"ratio": 1.2, "square": True, "border": "zeros"}})
    assert (rule.mode, rule.value, rule.square) == ("ratio", 1.2, True)
    assert CropRule.from_manifest(None) == CropRule("ratio", 1.1, True)
    over = CropRule.from_manifest({"crop": {"ratio": 1.2}}, mode="pixels", value=40,
                                  square=None)
    assert (over.mode, over.value, over.square) == ("pixels", 40, True)


def test_bad_rules_are_user_errors() -> None:
    with pytest.raises(UserError, match="ratio must be > 0"):
        CropRule("ratio", 0)
    with pytest.raises(UserError, match="pixel margin"):
        CropRule("pixels", -1)
    with pytest.raises(UserError, match="margin mode"):
        CropRule("percent", 1)  # type: ignore[arg-type]
