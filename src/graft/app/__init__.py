"""Video applications built from graft models: ``graft app gesture`` (hand detector -> margin
crop -> gesture classifier -> tracker) as a command and as :class:`GesturePipeline` in Python.

- :mod:`graft.app.sources` - video files, image folders, cameras and streams as frames;
- :mod:`graft.app.margin` - the classifier's crop: margin, square, clipped to the frame;
- :mod:`graft.app.tracking` - ByteTrack track ids and per-track gesture smoothing;
- :mod:`graft.app.outputs` - annotated mp4, JSON lines, latency summary, finalized on stop;
- :mod:`graft.app.models` - the detector and classifier interfaces over graft model files;
- :mod:`graft.app.pipeline` - :class:`GesturePipeline`: the per-frame flow and the run loop;
- :mod:`graft.app.spec`, :mod:`graft.app.cli` - ``graft app gesture -e APP.yaml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graft.app.pipeline import GesturePipeline

__all__ = ["GesturePipeline"]


def __getattr__(name: str) -> Any:
    """``graft.app.GesturePipeline`` without importing torch for ``graft --help``."""
    if name == "GesturePipeline":
        from graft.app.pipeline import GesturePipeline

        return GesturePipeline
    raise AttributeError(name)
