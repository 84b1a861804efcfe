"""Sweep throughput with 1 and 2 local workers: runs per minute and the speed-up (target >= 1.7x).

    python benchmarks/sweep_scaling.py [--runs 16] [--duration 20000s] [--workers 1,2]

The sweep is the bundled M/M/c study (scenarios/studies/mmc-sweep.yaml) with its replications
raised so that it has at least --runs runs, each simulating --duration (20000 s: ~72,000
requests, about half a second of CPU). Each worker count starts from an empty output folder, so
nothing is skipped, and the wall time includes starting the worker processes. One worker
runs in this process (the serial reference); N > 1 is a process pool. The ratio is measured
in the same invocation, so machine speed cancels; other load on the machine does not.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgesim.study import read_sweep, run_sweep  # noqa: E402

SWEEP = REPO / "scenarios" / "studies" / "mmc-sweep.yaml"


def measure(workers: int, replications: int, duration: str) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        res = run_sweep(SWEEP, Path(tmp) / "out", workers=workers, replications=replications,
                        sets=[f"duration={duration}"])
        wall = time.perf_counter() - t
    assert res.failed == 0 and res.skipped == 0
    return res.executed, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=16, help="at least this many runs per measurement")
    ap.add_argument("--duration", default="20000s", help="simulated time of each run")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare, first = reference")
    args = ap.parse_args()
    configs = len(read_sweep(SWEEP).spec.grid["nodes.server.executors"]) * len(
        read_sweep(SWEEP).spec.grid["workload.sources.arrivals.arrivals.rate"])
    reps = max(1, math.ceil(args.runs / configs))
    counts = [int(w) for w in args.workers.split(",")]
    print(f"{configs * reps} runs of {args.duration} simulated each; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print(f"{'workers':>7s} {'runs':>5s} {'wall s':>8s} {'runs/min':>9s} {'speed-up':>9s}")
    ref = None
    for w in counts:
        n, wall = measure(w, reps, args.duration)
        rate = 60.0 * n / wall
        ref = ref or rate
        print(f"{w:7d} {n:5d} {wall:8.2f} {rate:9.1f} {rate / ref:8.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f} at end (other processes share the CPUs)")


if __name__ == "__main__":
    main()
