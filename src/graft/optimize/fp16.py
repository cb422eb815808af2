"""Export step 2 for FP16: onnxconverter-common's float16 conversion, inputs and outputs kept
FP32 so callers need not change."""

from __future__ import annotations

import warnings
from typing import Any

from graft.errors import UserError


def to_fp16(model: Any) -> tuple[Any, dict[str, Any]]:
    """FP16 weights and compute; FP32 inputs and outputs.

    Returns the model and what the conversion clamped to the FP16 range (count, examples)."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise UserError("FP16 export needs onnxconverter-common",
                        "pip install onnxconverter-common") from None
    with warnings.catch_warnings(record=True) as caught:
        # one "the float32 number X will be truncated to Y" per clamped tensor: a trained net
        # has hundreds (tiny weights go to FP16's smallest subnormal); counted, not printed
        warnings.simplefilter("always")
        converted = float16.convert_float_to_float16(model, keep_io_types=True)
    clamped = [str(w.message) for w in caught if "truncated" in str(w.message)]
    for w in caught:  # anything else the converter says is still shown
        if "truncated" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return converted, {"clamped": len(clamped), "examples": clamped[:5]}
