"""Argsort on the CPU through one vectorised ``np.sort`` of packed 64-bit keys.

``np.argsort`` of 10M floats takes ~1.4 s here, while ``np.sort`` of 10M 64-bit integers takes
~0.16 s (NumPy's SIMD sort covers ``sort`` but not ``argsort``). Packing an order-preserving
integer image of each value into the high bits and the row index into the low bits turns the
argsort into a plain integer sort; the index falls out of the low bits afterwards. Float32 keys
fit whole (32 + 32 bits); float64 keys are truncated to make room for the index and the few
rows whose truncated keys collide are re-sorted exactly.
"""

from __future__ import annotations

import sys

import numpy as np

_LITTLE_ENDIAN = sys.byteorder == "little"
_LOW31 = np.int32(0x7FFFFFFF)
_LOW63 = np.int64(0x7FFF_FFFF_FFFF_FFFF)


def _flip_negative32(key: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Map float32 bit patterns to int32 that sort like the floats (an involution)."""
    return np.bitwise_xor(key, np.bitwise_and(key >> 31, _LOW31), out=out)


def _sort_f32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = x.size
    packed = np.empty(n, dtype=np.int64)
    words = packed.view(np.int32).reshape(n, 2)  # little endian: [:, 0] low, [:, 1] high
    _flip_negative32(x.view(np.int32), out=words[:, 1])
    words.view(np.uint32)[:, 0] = np.arange(n, dtype=np.uint32)
    packed.sort()
    index = words.view(np.uint32)[:, 0].astype(np.intp)
    values = _flip_negative32(words[:, 1]).view(np.float32)
    return values, index


def _resort_collisions(keys: np.ndarray, values: np.ndarray, index: np.ndarray) -> None:
    """Order runs of equal truncated ``keys`` by their exact ``values``, in place."""
    same = keys[1:] == keys[:-1]
    if not same.any():
        return
    in_run = np.zeros(keys.size, dtype=bool)
    starts = np.flatnonzero(same)
    in_run[starts] = True
    in_run[starts + 1] = True
    members = np.flatnonzero(in_run)
    perm = np.lexsort((values[members], keys[members]))
    values[members] = values[members][perm]
    index[members] = index[members][perm]


def _sort_f64(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = x.size
    bits = max(1, (n - 1).bit_length())
    raw = x.view(np.int64)
    packed = np.bitwise_xor(raw, np.bitwise_and(raw >> 63, _LOW63))
    packed >>= bits
    packed <<= bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    index = packed & np.int64((1 << bits) - 1)
    values = x[index]
    packed >>= bits
    _resort_collisions(packed, values, index)
    return values, index


def sort_with_index(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(np.sort(x), order)`` with ``x[order] == np.sort(x)``; ``x`` 1-D without NaN.

    The order among equal values is unspecified (callers give ties one shared score).
    """
    x = np.ascontiguousarray(x)
    if x.size < 2:
        return x.copy(), np.arange(x.size, dtype=np.intp)
    if _LITTLE_ENDIAN and x.dtype == np.float32 and x.size < 2**32:
        return _sort_f32(x)
    if _LITTLE_ENDIAN and x.dtype == np.float64 and x.size < 2**40:
        return _sort_f64(x)
    order = np.argsort(x)
    return x[order], order


def group_order(codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, list[int]]:
    """Row order that makes each group contiguous, and the group boundaries (length G + 1).

    ``codes`` are ints in ``[0, n_groups)``; the sort packs them with the row index as above.
    """
    n = codes.size
    counts = np.bincount(codes, minlength=n_groups)
    bounds = [0, *np.cumsum(counts).tolist()]
    bits = max(1, (n - 1).bit_length()) if n else 1
    if n_groups <= 1 or n == 0:
        return np.arange(n, dtype=np.intp), bounds
    if bits + max(1, (n_groups - 1).bit_length()) > 63:
        return np.argsort(codes, kind="stable"), bounds
    packed = codes.astype(np.int64) << bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    packed &= np.int64((1 << bits) - 1)
    return packed.astype(np.intp, copy=False), bounds
