"""M/M/4 at rho = 0.9, 200,000 jobs: edgesim's scenario path against a hand-written SimPy model
in the same process. Prints both rates (jobs per wall-clock second), their ratio, and the bytes
per request record. Targets: ratio >= 0.6, <= 200 bytes per record.

    python benchmarks/mmc_overhead.py [--jobs 200000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import random
import time
import tracemalloc

import simpy

import edgesim

C, MU, RHO = 4, 1.0, 0.9
LAM = RHO * C * MU


def scenario(jobs: int) -> dict:
    return {
        "name": "mmc-overhead", "seed": 1, "duration": 10 * jobs / LAM, "max_completions": jobs,
        "nodes": {"server": {"executors": C}},
        "workload": {"sources": {"in": {"arrivals": {"process": "poisson", "rate": LAM},
                                        "job": "j"}},
                     "jobs": {"j": {"stages": [{"model": "m", "node": "server"}]}}},
        "service": {"m": {"cpu": {"dist": "exponential", "mean": 1 / MU}}},
        "metrics": {"interval": 1000.0},
    }


def hand_written(jobs: int, seed: int = 1) -> tuple[float, float]:
    """The textbook SimPy M/M/c: a generator process per customer, a Resource, timeouts;
    records each customer's wait in a list like a careful user would."""
    rng = random.Random(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=C)
    waits: list = []

    def customer(env):
        t0 = env.now
        with server.request() as req:
            yield req
            waits.append(env.now - t0)
            yield env.timeout(rng.expovariate(MU))

    def source(env):
        for _ in range(jobs):
            yield env.timeout(rng.expovariate(LAM))
            env.process(customer(env))

    env.process(source(env))
    t = time.perf_counter()
    env.run()
    return time.perf_counter() - t, sum(waits) / len(waits)


def through_edgesim(jobs: int) -> tuple[float, dict, object]:
    sim = edgesim.simulation(scenario(jobs))
    t = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - t
    return wall, sim.collect().summary, sim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N for each side")
    args = ap.parse_args()
    n = args.jobs
    ref = min(hand_written(n)[0] for _ in range(args.repeat))
    runs = [through_edgesim(n) for _ in range(args.repeat)]
    ours, summary, sim = min(runs, key=lambda r: r[0])
    done = summary["requests"]["completed"] + summary["requests"]["warmup"]
    record_bytes = sim.recorder.nbytes_used() / len(sim.recorder)

    tracemalloc.start()
    _, _, traced = through_edgesim(n)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"M/M/{C} at rho={RHO}, {n:,} jobs (best of {args.repeat})")
    print(f"  hand-written SimPy : {n / ref:12,.0f} jobs/s  ({ref:.2f} s)")
    print(f"  edgesim scenario   : {done / ours:12,.0f} jobs/s  ({ours:.2f} s, "
          f"{summary['events']:,} events)")
    print(f"  ratio edgesim/hand : {(done / ours) / (n / ref):12.2f}   (target >= 0.6)")
    print(f"  bytes per record   : {record_bytes:12.1f}   (columns only; target <= 200)")
    print(f"  peak traced memory : {peak / len(traced.recorder):12.1f}   bytes per request "
          f"(whole run, tracemalloc)")


if __name__ == "__main__":
    main()
