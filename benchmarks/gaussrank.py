"""Gauss rank transform: the seed's Pandas+NumPy recipe vs sklearn vs graft (CPU and GPU).

The timed flow is the seed blog's: transform the training column (``fit_transform``), then
map as many predictions back (``inverse_transform``). The predictions are each method's own
scores for the training column, so the same call also measures the round-trip error.

Usage:
    python benchmarks/gaussrank.py --sizes 1e5 1e6 1e7 --device cpu --json gaussrank_cpu.json
    python benchmarks/gaussrank.py --sizes 1e5 1e6 1e7 1e8 --device cuda --json gaussrank_gpu.json

On ``--device cuda`` the CPU baselines (seed, sklearn) still run on the host CPU for sizes up
to ``--cpu-max`` (default 1e7), and the floor (one ``torch.sort`` of the data on the device)
is reported next to graft's GPU backends (torch, and CuPy when installed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import erfinv
from sklearn.preprocessing import QuantileTransformer

from graft.tabular import GaussRankScaler


# --- the seed's recipe ------------------------------------------------------------------------
# Forward as the blog's notebook writes it (ranks by argsort().argsort(), scaled to [-1, 1],
# clipped at 1 - epsilon, erfinv). The blog shows its inverse only as an image; this follows
# the description in shared/REFERENCE.md: sort the (value, score) training pairs with pandas,
# search the predictions in the sorted scores, interpolate linearly by hand.
def seed_forward(data: np.ndarray, epsilon: float = 1e-6) -> np.ndarray:
    ranks = data.argsort().argsort()
    scaled = (ranks / ranks.max() - 0.5) * 2
    scaled = np.clip(scaled, -1 + epsilon, 1 - epsilon)
    return erfinv(scaled)


def seed_inverse(train: np.ndarray, train_gauss: np.ndarray, pred: np.ndarray) -> np.ndarray:
    pairs = pd.DataFrame({"src": train, "tgt": train_gauss}).sort_values("tgt")
    scores, values = pairs["tgt"].values, pairs["src"].values
    pos = np.searchsorted(scores, pred)
    pos[pos >= len(scores)] = len(scores) - 1
    x0, x1 = scores[pos - 1], scores[pos]  # pos == 0 wraps to the last row (the seed's bug)
    y0, y1 = values[pos - 1], values[pos]
    return y0 + (pred - x0) * (y1 - y0) / (x1 - x0)


def run_seed(train: np.ndarray) -> tuple[float, float, np.ndarray]:
    start = time.perf_counter()
    scores = seed_forward(train)
    middle = time.perf_counter()
    back = seed_inverse(train, scores, scores)
    return middle - start, time.perf_counter() - middle, back


def run_sklearn(train: np.ndarray) -> tuple[float, float, np.ndarray]:
    qt = QuantileTransformer(output_distribution="normal", random_state=0)
    start = time.perf_counter()
    scores = qt.fit_transform(train.reshape(-1, 1))
    middle = time.perf_counter()
    back = qt.inverse_transform(scores)
    return middle - start, time.perf_counter() - middle, back.ravel()


def run_graft(train: Any, sync: Callable[[], None] = lambda: None) -> tuple[float, float, Any]:
    scaler = GaussRankScaler()
    column = train.reshape(-1, 1)
    sync()
    start = time.perf_counter()
    scores = scaler.fit_transform(column)
    sync()
    middle = time.perf_counter()
    back = scaler.inverse_transform(scores)
    sync()
    return middle - start, time.perf_counter() - middle, back.reshape(-1)


def run_graft_new_data(train: np.ndarray, new: np.ndarray) -> float:
    scaler = GaussRankScaler().fit(train.reshape(-1, 1))
    start = time.perf_counter()
    scaler.transform(new.reshape(-1, 1))
    return time.perf_counter() - start


def _to_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    if hasattr(a, "get"):
        return a.get()
    return np.asarray(a)


def relative_error(train: np.ndarray, back: Any) -> float:
    """max |inverse(forward(x)) - x| over the data range (NaN results count as the range)."""
    back = _to_numpy(back).astype(np.float64)
    span = float(train.max() - train.min())
    error = np.abs(back - train.astype(np.float64))
    error[np.isnan(error)] = span
    return float(error.max() / span)


def best_of(repeats: int, run: Callable[[], tuple[float, float, Any]]) -> tuple[float, float, Any]:
    results = [run() for _ in range(repeats)]
    return min(results, key=lambda r: r[0] + r[1])


def gpu_runs(train: np.ndarray, repeats: int) -> list[dict[str, Any]]:
    import torch

    rows = []
    sync = torch.cuda.synchronize
    device_train = torch.from_numpy(train).cuda()
    run_graft(device_train[:1000], sync)  # warm up kernels and the allocator

    def sort_floor() -> tuple[float, float, Any]:
        sync()
        start = time.perf_counter()
        torch.sort(device_train)
        sync()
        return time.perf_counter() - start, 0.0, None

    fwd, inv, _ = best_of(repeats, sort_floor)
    rows.append({"method": "floor: one torch.sort", "device": "cuda", "fwd": fwd, "inv": inv})
    fwd, inv, back = best_of(repeats, lambda: run_graft(device_train, sync))
    rows.append({"method": "graft torch", "device": "cuda", "fwd": fwd, "inv": inv,
                 "error": relative_error(train, back)})
    try:
        import cupy
    except ImportError:
        return rows
    cupy_train = cupy.asarray(train)
    cupy_sync = cupy.cuda.Device().synchronize
    run_graft(cupy_train[:1000], cupy_sync)
    fwd, inv, back = best_of(repeats, lambda: run_graft(cupy_train, cupy_sync))
    rows.append({"method": "graft cupy", "device": "cuda", "fwd": fwd, "inv": inv,
                 "error": relative_error(train, back)})
    return rows


def measure(n: int, device: str, repeats: int, cpu_max: int, with_torch_cpu: bool):
    rng = np.random.default_rng(0)
    train = rng.lognormal(size=n).astype(np.float32)
    new = rng.lognormal(size=n).astype(np.float32)
    reps = repeats if n < 10_000_000 else 1
    rows: list[dict[str, Any]] = []
    if n <= cpu_max:
        for method, run in (("seed pandas+numpy", run_seed), ("sklearn QuantileTransformer",
                                                                run_sklearn)):
            fwd, inv, back = best_of(reps, lambda run=run: run(train))
            rows.append({"method": method, "device": "cpu", "fwd": fwd, "inv": inv,
                         "error": relative_error(train, back)})
            del back
        fwd, inv, back = best_of(reps, lambda: run_graft(train))
        rows.append({"method": "graft numpy", "device": "cpu", "fwd": fwd, "inv": inv,
                     "error": relative_error(train, back)})
        del back
        if with_torch_cpu:
            import torch

            tensor = torch.from_numpy(train)
            fwd, inv, back = best_of(reps, lambda: run_graft(tensor))
            rows.append({"method": "graft torch", "device": "cpu", "fwd": fwd, "inv": inv,
                         "error": relative_error(train, back)})
        new_data = min(run_graft_new_data(train, new) for _ in range(reps))
        rows.append({"method": "graft transform of new data (info)", "device": "cpu",
                     "fwd": new_data, "inv": 0.0})
    if device == "cuda":
        rows.extend(gpu_runs(train, repeats))
    seed = next((r for r in rows if r["method"].startswith("seed")), None)
    for row in rows:
        row["n"] = n
        row["total"] = row["fwd"] + row["inv"]
        comparable = seed and "(info)" not in row["method"] and "floor" not in row["method"]
        row["speedup_vs_seed"] = seed["total"] / row["total"] if comparable else None
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| n | method | device | fit_transform s | inverse s | total s | vs seed "
             "| round-trip error |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        speed = f"{r['speedup_vs_seed']:.1f}x" if r.get("speedup_vs_seed") else "-"
        error = f"{r['error']:.1e}" if r.get("error") is not None else "-"
        lines.append(f"| {r['n']:.0e} | {r['method']} | {r['device']} | {r['fwd']:.4f} | "
                     f"{r['inv']:.4f} | {r['total']:.4f} | {speed} | {error} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1e5", "1e6", "1e7"])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="best of N below 1e7")
    parser.add_argument("--cpu-max", default="1e7", help="largest size for the CPU methods")
    parser.add_argument("--torch-cpu", action="store_true", help="also time CPU tensors")
    parser.add_argument("--json", help="write the rows to this JSON file")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        n = int(float(size))
        batch = measure(n, args.device, args.repeats, int(float(args.cpu_max)), args.torch_cpu)
        print(markdown(batch), flush=True)
        rows.extend(batch)
    print("\n" + markdown(rows))
    if args.json:
        from graft.fsutil import write_json

        write_json(args.json, rows)


if __name__ == "__main__":
    main()
