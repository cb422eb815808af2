"""Task-agnostic model optimization: prune, quantize (QAT / INT8), export.

Modules import their heavy dependencies (torch-pruning, onnx, onnxruntime, ModelOpt, TensorRT)
lazily, so ``import graft.optimize`` stays cheap. Entry points:

- :func:`graft.optimize.prune.prune_module` - TLT-semantics structured pruning;
- :func:`graft.optimize.export.export_onnx` - ONNX fp32/fp16/int8 (:class:`ExportOptions`) with
  the parity gate of :mod:`graft.optimize.parity` (INT8 calibration in :mod:`graft.optimize.int8`);
- :func:`graft.optimize.quantize.prepare_qat` - ModelOpt fake quantization for ``enable_qat``;
- :func:`graft.optimize.cli.add_optimize_commands` - ``graft TASK prune|export``.

Exported models run through :mod:`graft.runtime` (one runner for every backend).
"""
