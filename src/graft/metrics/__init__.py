"""Metrics shared by every task: the COCO evaluator, confusion matrices, plots and tables.

- :mod:`graft.metrics.coco`: COCO AP for ``bbox``, ``segm`` and ``keypoints`` results
  (``graft evaluate coco``), numbers equal to pycocotools'.
- :mod:`graft.metrics.confusion`: confusion matrices of classifications and of detections.
- :mod:`graft.metrics.plots`: PR curves and confusion matrices as PNG files.
- :mod:`graft.metrics.tables`: per-class tables for the console and as CSV.

Nothing heavy is imported here, so the CLI stays fast to start.
"""
