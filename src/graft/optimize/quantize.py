"""Quantization-aware training (``enable_qat: true``) through NVIDIA ModelOpt.

:func:`prepare_qat` swaps every conv / linear layer for ModelOpt's fake-quantized twin
(symmetric int8: per-channel weights, per-tensor activations: TensorRT's explicit-quantization
recipe); training then adapts the weights to the quantization grid through straight-through
estimators. The activation ranges are calibrated (max) on real batches: the ones passed to
:func:`prepare_qat` / :func:`calibrate_qat`, or else the first batch the network sees (training
or validation data, so always real data through the task's own preprocessing; under DDP the
ranks agree on the largest range). The exported ONNX carries the ranges as
QuantizeLinear/DequantizeLinear pairs (:func:`graft.optimize.export.export_onnx`), so an INT8
export of a QAT model needs no calibration images.

Saving and loading stay pickle-free: the ranges are ordinary ``*_quantizer._amax`` tensors in the
state dict. Rebuild a saved QAT model by building the network, applying its layer shapes, calling
:func:`prepare_qat` (no batches) and loading the state dict: a load hook adopts the stored ranges.

Why ModelOpt: it is NVIDIA's maintained successor of TLT's QAT and emits the QDQ layout TensorRT
expects. It works on CPU with torch 2.14 but its 0.47 release imports ``requests`` and
``huggingface_hub`` without declaring them, so those are QAT dependencies too (~75 MB together);
everything imports lazily, only when QAT is used.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from graft.errors import UserError


def _mtq() -> Any:
    try:
        import modelopt.torch.quantization as mtq
    except ImportError as exc:
        raise UserError(
            f"quantization-aware training needs NVIDIA ModelOpt ({exc.name} is missing)",
            "pip install nvidia-modelopt huggingface_hub requests",
        ) from None
    return mtq


def _config() -> dict[str, Any]:
    """ModelOpt's int8 recipe: per-channel symmetric weights, per-tensor activations, max calib."""
    import copy

    return copy.deepcopy(_mtq().INT8_DEFAULT_CFG)


def _quantizers(module: nn.Module) -> dict[str, nn.Module]:
    qnn = sys.modules.get("modelopt.torch.quantization.nn")
    if qnn is None:  # ModelOpt never imported: nothing can be quantized
        return {}
    return {n: m for n, m in module.named_modules() if isinstance(m, qnn.TensorQuantizer)}


def is_quantized(module: nn.Module) -> bool:
    """True if ``module`` holds fake-quantization layers (QAT), which export as QDQ."""
    return bool(_quantizers(module))


def needs_calibration(module: nn.Module) -> bool:
    """True while some enabled quantizer has no fixed range yet."""
    return any(q.is_enabled and getattr(q, "_amax", None) is None
               for q in _quantizers(module).values())


def _adopt_ranges(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """load_state_dict pre-hook: create the range buffers a QAT state dict is about to fill."""
    for name, q in _quantizers(module).items():
        key = f"{prefix}{name}._amax" if name else f"{prefix}_amax"
        value = state_dict.get(key)
        if value is None:
            continue
        current = getattr(q, "_amax", None)
        if current is None or current.shape != value.shape:
            q._buffers.pop("_amax", None)
            q.amax = value.detach().clone()


def _sync_ranges(module: nn.Module) -> None:
    """Under DDP every rank calibrated its own batch: agree on the largest range."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    for q in _quantizers(module).values():
        amax = getattr(q, "_amax", None)
        if amax is not None:
            dist.all_reduce(amax, op=dist.ReduceOp.MAX)


def calibrate_qat(module: nn.Module, batches: Iterable[Any]) -> nn.Module:
    """(Re)compute every quantizer's range (max) over real input batches, in eval mode."""
    mtq = _mtq()
    batches = list(batches)
    if not batches:
        raise UserError("QAT calibration got no batches", "pass real, preprocessed inputs")
    device = next(module.parameters()).device
    was_training = module.training

    def forward_loop(model: nn.Module) -> None:
        for b in batches:
            args = b if isinstance(b, tuple | list) else (b,)
            model(*[a.to(device) if isinstance(a, torch.Tensor) else a for a in args])

    module.eval()
    with torch.no_grad():
        mtq.calibrate(module, algorithm="max", forward_loop=forward_loop)
    _sync_ranges(module)
    module.train(was_training)
    return module


def prepare_qat(module: nn.Module, calibration_batches: Iterable[Any] | None = None) -> nn.Module:
    """Insert fake quantizers (in place; returned). Idempotent.

    With ``calibration_batches`` (network inputs, tensors or tuples) the ranges are calibrated
    now; without, on the first forward call, unless a QAT state dict is loaded first.
    """
    mtq = _mtq()
    if not is_quantized(module):
        was_training = module.training
        module = mtq.quantize(module, _config(), None)  # weight ranges now, activations pending
        module.train(was_training)
        module.register_load_state_dict_pre_hook(_adopt_ranges)
        _calibrate_on_first_forward(module)
    if calibration_batches is not None:
        calibrate_qat(module, calibration_batches)
    return module


def _calibrate_on_first_forward(module: nn.Module) -> None:
    handle = None

    def hook(mod: nn.Module, args: tuple[Any, ...]) -> None:
        handle.remove()
        if needs_calibration(mod):
            calibrate_qat(mod, [args])

    handle = module.register_forward_pre_hook(hook)
