"""Sweep throughput on a local process pool, as a ratio to the serial run (target >= 1.7x at 2).

    python benchmarks/sweep_scaling.py [--runs 16] [--duration 20000s] [--workers 1,2]
                                       [--chunks before,1,auto] [--repeat 3]

The sweep is the bundled M/M/c study (scenarios/studies/mmc-sweep.yaml) with its replications
raised so that it has at least --runs runs, each simulating --duration (20000 s: ~72,000
requests, about half a second of CPU). First the serial reference: every run in this process,
no pool. Then, for each worker count and chunk size, a process pool of that many workers
(a pool even of one, so that what the pool itself costs shows) with runs sent ``chunk`` at a
time: ``before`` is the path before this change (one run per round trip to a worker, and the
base scenario parsed again for every run), ``1`` one run per round trip with the worker's
scenario cache, ``auto`` the size the executor picks (executors.chunk_size). Each measurement starts from an empty
output folder, so nothing is skipped, and its wall time includes starting the pool. Every
speed-up is a ratio to the serial run measured in the same invocation, so machine speed
cancels; other load on the machine does not. --repeat rounds each measure the serial run and
then every variant, and a variant's speed-up is the median over rounds of its ratio to the
serial run of the same round (with the range), so a change of load between rounds touches
both sides of a ratio. The load average over the measurements is printed, and so is the CPU
time (this process and its workers), which other load does not inflate much: a pool that
costs nothing uses the serial run's CPU time. Every measurement's tables are checked equal to
the serial run's.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from edgesim.study import read_sweep  # noqa: E402
from edgesim.study.executors import LocalExecutor, chunk_size  # noqa: E402
from edgesim.study.plan import cli_settings, make_plan  # noqa: E402
from edgesim.study.sweep import execute, write_tables  # noqa: E402
from edgesim.study import worker  # noqa: E402
from edgesim.study.tables import TIMING  # noqa: E402

CACHE_SIZE = worker.CACHE_SIZE

SWEEP = REPO / "scenarios" / "studies" / "mmc-sweep.yaml"


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (a pool's, once shut down)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(workers: int, chunk, pool: bool, replications: int, duration: str):
    """(runs executed, wall s, CPU s, runs table without timing columns) of one fresh sweep."""
    sw = read_sweep(SWEEP)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        cpu = _cpu()
        t = time.perf_counter()
        plan = make_plan(sw, out, cli_settings([f"duration={duration}"]), replications, None,
                         False)
        (out / "runs").mkdir(parents=True)
        before = chunk == "before"
        worker.CACHE_SIZE = 0 if before else CACHE_SIZE   # inherited by the forked workers
        try:
            with LocalExecutor(workers, 1 if before else chunk, pool=pool) as ex:
                outcomes, executed, skipped = execute(plan.tasks.values(), ex)
        finally:
            worker.CACHE_SIZE = CACHE_SIZE
        res = write_tables(sw, plan, out, outcomes, executed, skipped)
        wall = time.perf_counter() - t
        cpu = _cpu() - cpu
    assert res.failed == 0 and res.skipped == 0
    return res.executed, wall, cpu, res.runs[[c for c in res.runs.columns if c not in TIMING]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=16, help="at least this many runs per measurement")
    ap.add_argument("--duration", default="20000s", help="simulated time of each run")
    ap.add_argument("--workers", default="1,2", help="pool sizes to compare with the serial run")
    ap.add_argument("--chunks", default="before,1,auto",
                    help="runs per task to compare: N, 'auto', or 'before' (the path before "
                         "chunking: 1 run per task, the scenario parsed for every run)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of measurements (medians)")
    args = ap.parse_args()
    grid = read_sweep(SWEEP).spec.grid
    configs = math.prod(len(v) for v in grid.values())
    reps = max(1, math.ceil(args.runs / configs))
    runs = configs * reps
    counts = [int(w) for w in args.workers.split(",")]
    sizes = [None if c == "auto" else c if c == "before" else int(c)
             for c in args.chunks.split(",")]
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count()
    print(f"{runs} runs of {args.duration} simulated each; {cpus} usable CPUs; {args.repeat} "
          f"round(s); load average {os.getloadavg()[0]:.2f} at start")
    variants = [("serial", "-", 1, None, False)] + [
        (str(w), f"auto={chunk_size(runs, w)}" if c is None else str(c), w, c, True)
        for w in counts for c in sizes]
    walls = {v[:2]: [] for v in variants}
    cpus_used = {v[:2]: [] for v in variants}
    loads = []
    ref_table = None
    # Rounds: the serial reference, then every variant, again and again; each variant's
    # speed-up is the median over rounds of (serial wall / its wall) within the same round,
    # so a change in the machine's load between rounds touches both sides of a ratio.
    for _ in range(args.repeat):
        for label_w, label_c, workers, chunk, pool in variants:
            loads.append(os.getloadavg()[0])
            n, wall, cpu, table = measure(workers, chunk, pool, reps, args.duration)
            if ref_table is None:
                ref_table = table
            else:
                pd.testing.assert_frame_equal(table, ref_table, check_exact=True)
            walls[(label_w, label_c)].append(wall)
            cpus_used[(label_w, label_c)].append(cpu)
    loads.append(os.getloadavg()[0])
    serial = walls[("serial", "-")]
    print(f"{'workers':>7s} {'chunk':>9s} {'wall s':>8s} {'CPU s':>7s} {'runs/min':>9s} "
          f"{'vs serial':>9s} {'(range)':>13s}")
    for key, w in walls.items():
        ratios = sorted(s_ / x for s_, x in zip(serial, w))
        wall = statistics.median(w)
        print(f"{key[0]:>7s} {key[1]:>9s} {wall:8.2f} {statistics.median(cpus_used[key]):7.2f} "
              f"{60.0 * runs / wall:9.1f} {statistics.median(ratios):8.2f}x "
              f"{ratios[0]:5.2f}-{ratios[-1]:.2f}x")
    print(f"medians over {args.repeat} round(s); load average {min(loads):.2f} to "
          f"{max(loads):.2f} during the measurements (every process on the machine, this "
          "benchmark's own included)")
    print("tables identical to the serial run's in every measurement. CPU s: this process and "
          "its pool together; CPU s above the serial row's is what the pool costs. With L other "
          "busy processes on C cores, 2 workers can beat 1 by at most (2 min(1, C/(L+2))) / "
          "min(1, C/(L+1)): 1.33x for L = 1, 1.5x for L = 2 on 2 cores")

if __name__ == "__main__":
    main()
