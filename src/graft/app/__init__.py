"""Video applications built from graft models: ``graft app gesture`` (hand detector -> margin
crop -> gesture classifier -> tracker) as a command and as :class:`GesturePipeline` in Python.

- :mod:`graft.app.sources` - video files, image folders, cameras and streams as frames;
- :mod:`graft.app.margin` - the classifier's crop: margin, square, clipped to the frame;
- :mod:`graft.app.tracking` - ByteTrack track ids and per-track gesture smoothing;
- :mod:`graft.app.outputs` - annotated mp4, JSON lines, latency summary, finalized on stop;
"""
