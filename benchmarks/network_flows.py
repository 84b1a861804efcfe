"""Benchmark of edgesim.network.flows: max-min recomputation cost against concurrent flows.

A three-level tree (core switch - aggregation switches - edge switches - hosts) carries flows
between random host pairs (fixed seed).  N flows arrive within the first millisecond and
every completion brings a new arrival after a short think time, so about N are active at once.  Each
run stops after a fixed number of completions and reports simulator events per second, the mean
wall time of one recomputation and the mean number of flows it touched.

    PYTHONPATH=. python benchmarks/network_flows.py [--flows 10 100 1000] [--completions 3000]
    PYTHONPATH=. python benchmarks/network_flows.py --local-fraction 0.9   # mostly rack-local

``--local-fraction`` sends that fraction of flows to a host under the same edge switch: their
components stay small, which shows what localized recomputation buys over random pairs.
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import simpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from anywhere in the repo

from edgesim.engine.clock import ARRIVAL, call_in  # noqa: E402
from edgesim.network.flows import FlowNetwork  # noqa: E402
from edgesim.network.topology import Topology  # noqa: E402

Gbps = 1e9


def tree(n_agg: int, n_edge: int, n_hosts: int) -> tuple[Topology, list[list[str]]]:
    """Core 40 Gb/s to aggregation, 10 Gb/s to edge, 1 Gb/s to hosts; hosts grouped by rack."""
    t = Topology()
    t.add_node("core", "switch")
    racks: list[list[str]] = []
    for a in range(n_agg):
        agg = f"agg{a}"
        t.add_node(agg, "switch")
        t.add_link("core", agg, 40 * Gbps, 2e-6)
        for e in range(n_edge):
            edge = f"edge{a}.{e}"
            t.add_node(edge, "switch")
            t.add_link(agg, edge, 10 * Gbps, 2e-6)
            rack = []
            for h in range(n_hosts):
                host = f"h{a}.{e}.{h}"
                t.add_node(host)
                t.add_link(edge, host, 1 * Gbps, 1e-6)
                rack.append(host)
            racks.append(rack)
    return t, racks


def run(n_flows: int, completions: int, seed: int, shape: tuple[int, int, int],
        local_fraction: float) -> dict[str, float]:
    topo, racks = tree(*shape)
    hosts = [h for r in racks for h in r]
    rack_of = {h: r for r in racks for h in r}
    env = simpy.Environment()
    net = FlowNetwork(env)
    topo.build(net)
    rng = random.Random(seed)
    mean_bytes = 1e6
    state = {"done": 0, "started": 0}

    # Host pairs are drawn up front so that routes (one Dijkstra per source, cached by the
    # topology) are computed before the timed loop: this measures the flow model alone.
    def pick() -> tuple[str, str]:
        src = rng.choice(hosts)
        pool = rack_of[src] if rng.random() < local_fraction else hosts
        dst = rng.choice(pool)
        while dst == src:
            dst = rng.choice(pool)
        return src, dst
    routes = [topo.route(*pick()) for _ in range(n_flows + completions + 1)]
    routes.reverse()

    def on_done(_flow) -> None:
        state["done"] += 1
        call_in(env, rng.expovariate(1e4), ARRIVAL, arrive)   # 100 us think time

    def arrive(_arg: object = None) -> None:
        state["started"] += 1
        net.start_flow(routes.pop(), rng.expovariate(1 / mean_bytes), on_done)

    # The first N arrive within 1 ms (flows last tens of ms), then the loop keeps ~N active.
    for _ in range(n_flows):
        call_in(env, rng.uniform(0.0, 1e-3), ARRIVAL, arrive)

    # Time every recomputation that touched flows (wrapping the instance's bound method).
    spent = [0.0]
    inner = net._recompute

    def timed(seeds) -> None:
        before = net.recomputations
        t0 = time.perf_counter()
        inner(seeds)
        if net.recomputations != before:
            spent[0] += time.perf_counter() - t0
    net._recompute = timed  # type: ignore[method-assign]

    steps = 0
    active_sum = 0
    t0 = time.perf_counter()
    while state["done"] < completions:
        env.step()
        steps += 1
        active_sum += net.active_flows()
    wall = time.perf_counter() - t0
    rec = max(1, net.recomputations)
    return {
        "N": n_flows, "events": steps, "wall_s": wall, "events_per_s": steps / wall,
        "flow_events_per_s": (state["started"] + state["done"]) / wall,
        "recomputations": net.recomputations, "us_per_recompute": spent[0] / rec * 1e6,
        "touched_per_recompute": net.flows_touched / rec, "mean_active": active_sum / steps,
        "recompute_share": spent[0] / wall, "sim_time": env.now,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flows", type=int, nargs="+", default=[10, 100, 1000],
                   help="target numbers of concurrent flows")
    p.add_argument("--completions", type=int, default=3000, help="flow completions per run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--shape", type=int, nargs=3, default=[4, 4, 16], metavar=("AGG", "EDGE", "HOSTS"),
                   help="aggregation switches, edge switches per aggregation, hosts per edge switch")
    p.add_argument("--local-fraction", type=float, default=0.0,
                   help="fraction of flows kept under one edge switch (default: random pairs)")
    a = p.parse_args(argv)
    n_hosts = a.shape[0] * a.shape[1] * a.shape[2]
    print(f"tree: core - {a.shape[0]} agg - {a.shape[0] * a.shape[1]} edge - {n_hosts} hosts; "
          f"{a.completions} completions per run; seed {a.seed}; "
          f"rack-local fraction {a.local_fraction}")
    hdr = (f"{'N':>6} {'mean active':>11} {'events':>8} {'events/s':>10} {'flow ev/s':>10} "
           f"{'recomps':>8} {'us/recomp':>10} {'flows/recomp':>12} {'recomp %':>9}")
    print(hdr)
    print("-" * len(hdr))
    rows = []
    for n in a.flows:
        r = run(n, a.completions, a.seed, tuple(a.shape), a.local_fraction)
        rows.append(r)
        print(f"{n:>6} {r['mean_active']:>11.1f} {r['events']:>8} {r['events_per_s']:>10.0f} "
              f"{r['flow_events_per_s']:>10.0f} {r['recomputations']:>8} "
              f"{r['us_per_recompute']:>10.1f} {r['touched_per_recompute']:>12.1f} "
              f"{100 * r['recompute_share']:>8.0f}%")
    print("events: SimPy events processed (cancelled completion calls included); flow ev: flow "
          "starts + completions;\nflows/recomp: flows whose max-min rate was recomputed; "
          "recomp %: share of wall time spent recomputing")
    if len(rows) >= 2:
        lo, hi = rows[0], rows[-1]
        span = math.log(hi["N"] / lo["N"])

        def slope(key: str) -> float:
            return math.log(hi[key] / lo[key]) / span
        print(f"\ngrowth from N={lo['N']} to N={hi['N']} (log-log slope, 1.0 = linear in N):")
        print(f"  flows touched per recomputation ~ N^{slope('touched_per_recompute'):.2f}, "
              f"time per recomputation ~ N^{slope('us_per_recompute'):.2f}, "
              f"events/s ~ N^{slope('events_per_s'):.2f}")
        print(f"  time per touched flow: {lo['us_per_recompute'] / lo['touched_per_recompute']:.1f} us "
              f"at N={lo['N']}, {hi['us_per_recompute'] / hi['touched_per_recompute']:.1f} us "
              f"at N={hi['N']} (progressive filling with a heap: O(E log C) per component)")


if __name__ == "__main__":
    main()
