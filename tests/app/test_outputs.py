"""Output files: a playable mp4 and whole JSON lines, also when a run stops half-way;
latency percentiles in constant memory; annotation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from graft.app.outputs import JsonlWriter, Latency, annotate
from graft.app.sources import open_source
from graft.data.video import Mp4Writer
from tests.app.conftest import frame_of


def test_interrupted_writers_leave_valid_files(tmp_path: Path) -> None:
    mp4, jsonl = Mp4Writer(tmp_path / "c.mp4"), JsonlWriter(tmp_path / "c.jsonl")
    try:
        for i in range(100):
            if i == 5:
                raise KeyboardInterrupt
            mp4.write(frame_of(i))
            jsonl.write({"frame": i, "boxes": []})
    except KeyboardInterrupt:
        pass
    finally:
        mp4.close()
        jsonl.close()
    assert len(list(open_source(tmp_path / "c.mp4"))) == 5
    lines = (tmp_path / "c.jsonl").read_text().splitlines()
    assert [json.loads(x)["frame"] for x in lines] == [0, 1, 2, 3, 4]


def test_latency_percentiles_in_bounded_memory() -> None:
    lat = Latency(keep=500)
    values = np.random.default_rng(0).uniform(0, 0.1, 20_000)
    for v in values:
        lat.add(float(v))
    s = lat.summary()
    assert len(lat.sample) == 500 and s["count"] == 20_000
    assert abs(s["p50_ms"] - 50) < 8 and abs(s["p90_ms"] - 90) < 5
    assert s["max_ms"] == round(values.max() * 1e3, 3)
    assert Latency().summary() == {"count": 0}


def test_annotate_draws_on_a_copy() -> None:
    img = np.zeros((120, 160, 3), np.uint8)
    recs = [{"box": [20, 30, 80, 100], "score": 0.9, "track_id": 3, "gesture": "fist",
             "confidence": 0.8},
            {"box": [100, 0, 150, 40], "score": 0.5, "track_id": -1, "gesture": None}]
    out = annotate(img, recs, ["ok", "fist"])
    assert img.max() == 0 and out.shape == img.shape
    assert out[60, 20].any() and out[60, 50].max() == 0  # the box's edge, not its inside
