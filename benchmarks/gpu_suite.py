"""Every owed GPU benchmark in one run: one JSON per benchmark and a summary, in one folder.

Run through ``benchmarks/gpu_suite.sh`` (which first installs carried wheels); the list below
is the one place that says what runs and at what size. Each benchmark runs in its own process
under its own time limit; one that fails or times out is recorded and the rest still run.

    python benchmarks/gpu_suite.py OUTDIR                       # on the GPU machine, < 9 min
    python benchmarks/gpu_suite.py OUTDIR --device cpu --quick  # the same list at tiny sizes
    python benchmarks/gpu_suite.py OUTDIR --only bpnet_network,gaussrank

``OUTDIR`` gets ``NAME.json`` per benchmark that wrote one and ``summary.json`` (each
benchmark's command, exit status, seconds and the end of its output), at most 8 files; a
rerun with ``--only`` replaces those benchmarks' entries and keeps the others.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TAIL_CHARS = 4000


@dataclass(frozen=True)
class Bench:
    """One benchmark: its script, its arguments at full (GPU) size and at quick size."""

    name: str
    script: str
    full: str
    quick: str
    timeout_s: int  # at full size; the budgets add up to under 9 minutes


SUITE: tuple[Bench, ...] = (
    Bench("train_memory", "train_throughput.py",
          "--batch-size 256 --steps 100 --warmup 10 --data memory",
          "--batch-size 2 --size 64 --steps 2 --warmup 1 --data memory --workers 0", 60),
    Bench("train_jpeg", "train_throughput.py",
          "--batch-size 256 --steps 60 --warmup 10 --data jpeg --workers 12",
          "--batch-size 2 --size 64 --steps 2 --warmup 1 --data jpeg --workers 0", 75),
    Bench("bpnet_network", "bpnet_throughput.py",
          "--size 288x384 --batch 64 --iters 30 --warmup 5 --dtypes fp16,bf16 "
          "--modes eager,graphs,compile --compile-dtypes bf16 --compile-mode default "
          "--variants unpruned,pruned --end-to-end",
          "--size 64x64 --batch 2 --iters 1 --warmup 1 --dtypes fp32 --modes eager,graphs "
          "--variants unpruned,pruned", 140),
    Bench("bpnet_decoder", "bpnet_decoder.py",
          "--batch 64 --persons 1,5,10,30,50 --scenes 8 --repeats 10",
          "--batched --batch 2 --persons 1,5 --scenes 2 --repeats 1", 35),
    Bench("gaussrank", "gaussrank.py", "--sizes 1e5 1e6 1e7 1e8 --repeats 3",
          "--sizes 1e3 1e4 --repeats 1", 70),
    Bench("detectnet", "detectnet_throughput.py",
          "--height 384 --width 1248 --batch-size 32 --steps 30 --warmup 5 --rounds 1 "
          "--infer-batch-size 32 --infer-iters 10",
          "--height 64 --width 64 --batch-size 2 --steps 1 --warmup 1 --rounds 1 "
          "--infer-batch-size 2 --infer-iters 1 --objects 2", 80),
    Bench("input_fraction", "input_fraction.py",
          "--batch-size 128 --steps 20 --warmup 5 --workers 12",
          "--batch-size 2 --steps 1 --warmup 1 --size 64 --bpnet-size 64x64 --workers 0 "
          "--src-height 96 --src-width 128", 60),
)


def command(bench: Bench, device: str, quick: bool, json_path: Path) -> list[str]:
    """The benchmark's command line: its script, its size arguments, device and JSON path."""
    args = shlex.split(bench.quick if quick else bench.full)
    return [sys.executable, str(HERE / bench.script), "--device", device, *args,
            "--json", str(json_path)]


def select(names: str | None) -> list[Bench]:
    """The benchmarks named in ``names`` (comma-separated), or all; unknown names are errors."""
    if not names:
        return list(SUITE)
    known = {b.name: b for b in SUITE}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in wanted]


def run_one(bench: Bench, device: str, quick: bool, outdir: Path, timeout_s: float
            ) -> dict[str, Any]:
    """Run one benchmark in its own process; never raises for the benchmark's failure."""
    json_path = outdir / f"{bench.name}.json"
    cmd = command(bench, device, quick, json_path)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
        status, rc, output = ("ok" if proc.returncode == 0 else "failed", proc.returncode,
                              proc.stdout + proc.stderr)
    except subprocess.TimeoutExpired as exc:
        text = [s.decode(errors="replace") if isinstance(s, bytes) else (s or "")
                for s in (exc.stdout, exc.stderr)]
        status, rc, output = "timeout", None, "".join(text)
    seconds = time.perf_counter() - start
    if status == "ok" and not json_path.exists():
        status = "no json"
    return {"name": bench.name, "status": status, "returncode": rc,
            "seconds": round(seconds, 1), "command": shlex.join(cmd[1:]),
            "json": json_path.name if json_path.exists() else None,
            "output_tail": output[-TAIL_CHARS:]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a dry run on the CPU)")
    ap.add_argument("--only", help="comma-separated benchmark names")
    ap.add_argument("--timeout-scale", type=float, default=1.0,
                    help="multiply every time limit (quick runs on a loaded CPU need more)")
    ap.add_argument("--list", action="store_true", help="print the commands and exit")
    args = ap.parse_args(argv)
    benches = select(args.only)
    if args.list:
        for b in benches:
            print(b.name, shlex.join(command(b, args.device, args.quick,
                                             args.outdir / f"{b.name}.json")[1:]))
        return 0
    args.outdir.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results = []
    for b in benches:
        print(f"== {b.name}", flush=True)
        r = run_one(b, args.device, args.quick, args.outdir, b.timeout_s * args.timeout_scale)
        print(f"   {r['status']} in {r['seconds']} s", flush=True)
        if r["status"] != "ok":
            print(r["output_tail"][-1500:], flush=True)
        results.append(r)
    summary_path = args.outdir / "summary.json"
    if summary_path.exists():  # a rerun of some (--only) keeps the others' earlier results
        rerun = {r["name"] for r in results}
        earlier = json.loads(summary_path.read_text()).get("benchmarks", [])
        earlier = [r for r in earlier if r["name"] not in rerun]
    else:
        earlier = []
    summary = {"started": started, "device": args.device, "quick": args.quick,
               "machine": platform.platform(), "python": platform.python_version(),
               "benchmarks": earlier + results}
    try:
        import torch

        summary["torch"] = torch.__version__
        if torch.cuda.is_available():
            summary["gpu"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    print("| benchmark | status | seconds |\n| --- | --- | ---: |")
    for r in results:
        print(f"| {r['name']} | {r['status']} | {r['seconds']} |")
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
