"""Output buffers for data-dependent TensorRT outputs: the bookkeeping TensorRT's
IOutputAllocator callbacks drive, run here on CPU tensors (the callbacks themselves need
TensorRT and a GPU and are not run here)."""

from __future__ import annotations

import pytest
import torch

from graft.runtime.trt_outputs import DynamicOutputs


def _outputs() -> DynamicOutputs:
    return DynamicOutputs({"boxes": torch.float32, "labels": torch.int64,
                           "masks": torch.float32}, torch.device("cpu"))


def test_a_run_reads_back_the_final_shapes_from_the_memory_it_handed_out() -> None:
    outs = _outputs()
    outs.start_run()
    address = outs.reallocate("boxes", 10 * 4 * 4, alignment=256)  # upper bound: 10 boxes
    assert address % 256 == 0
    buf = outs.buffers["boxes"]
    start = address - buf.data_ptr()
    want = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    buf[start:start + want.numel() * 4].copy_(want.reshape(-1).view(torch.uint8))
    outs.notify_shape("boxes", (3, 4))  # the run found 3 detections
    got = outs.views(["boxes"])["boxes"]
    assert got.shape == (3, 4) and got.dtype == torch.float32
    assert torch.equal(got, want)
    assert got.data_ptr() == address  # a view, no copy


def test_buffers_grow_only_when_a_run_needs_more_and_are_reused_otherwise() -> None:
    outs = _outputs()
    first = outs.reallocate("masks", 1000, alignment=16)
    assert outs.allocations == 1
    outs.start_run()
    assert outs.reallocate("masks", 400, alignment=16) == first  # smaller: same memory
    assert outs.reallocate("masks", 1000, alignment=16) == first
    assert outs.allocations == 1
    outs.start_run()
    bigger = outs.reallocate("masks", 5000, alignment=16)
    assert outs.allocations == 2 and outs.buffers["masks"].numel() >= 5000
    assert bigger % 16 == 0
    assert outs.reallocate("labels", 8, alignment=8) % 8 == 0  # each output its own buffer
    assert outs.allocations == 3


def test_zero_detections_give_empty_tensors_of_the_right_shape() -> None:
    outs = _outputs()
    assert outs.reallocate("masks", 0, alignment=256) != 0  # 0 would read as failure
    outs.notify_shape("masks", (0, 1, 64, 64))
    outs.notify_shape("labels", (0,))
    views = outs.views(["masks", "labels"])
    assert views["masks"].shape == (0, 1, 64, 64) and views["labels"].dtype == torch.int64
    assert views["labels"].shape == (0,)


def test_a_shape_from_an_earlier_run_does_not_pass_for_this_one() -> None:
    outs = _outputs()
    outs.reallocate("boxes", 64)
    outs.notify_shape("boxes", (4, 4))
    assert outs.views(["boxes"])["boxes"].shape == (4, 4)
    outs.start_run()
    with pytest.raises(RuntimeError, match="did not report"):
        outs.views(["boxes"])


def test_a_reported_shape_larger_than_the_allocation_is_refused() -> None:
    outs = _outputs()
    outs.reallocate("boxes", 16, alignment=4)  # room for one box
    outs.notify_shape("boxes", (2, 4))
    with pytest.raises(RuntimeError, match="more than TensorRT asked"):
        outs.views(["boxes"])
    with pytest.raises(KeyError):
        outs.reallocate("logits", 16)
