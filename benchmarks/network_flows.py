"""Benchmark of edgesim.network.flows: max-min re-sharing cost against concurrent flows.

A three-level tree (core switch - aggregation switches - edge switches - hosts) carries flows
between random host pairs (fixed seed).  N flows arrive within the first millisecond and every
completion brings a new arrival after a short think time, so about N are active at once.  With
``--burst B`` arrivals come B at a time at one instant (a frame fanned out to B receivers, B
cameras on one clock): what coalescing per instant is for.  Each run stops after a fixed number
of completions.

Every workload runs in the same process under the reference mode (``eager`` by default: the
components of every change recomputed at once, the model before coalescing) and under the modes
measured: ``coalesced`` (the default: one re-share per instant, by components) and
``incremental`` (one per instant, only the flows whose bottleneck can move).  All simulate the
same flows (the end times printed agree to float rounding), so the ratio of CPU times is the
speed-up; CPU time (``time.process_time``) rather than wall time keeps the ratio honest on a
shared machine.

    PYTHONPATH=. python benchmarks/network_flows.py [--flows 10 100 1000] [--completions 3000]
    PYTHONPATH=. python benchmarks/network_flows.py --burst 1 8 --local-fraction 0.9
    PYTHONPATH=. python benchmarks/network_flows.py --window 64e3   # window/RTT caps

``--local-fraction`` sends that fraction of flows to a host under the same edge switch: their
components stay small, which shows what localized re-sharing buys over random pairs.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import simpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from anywhere in the repo

from edgesim.engine.clock import ARRIVAL, call_in  # noqa: E402
from edgesim.network.flows import MODES, FlowNetwork  # noqa: E402
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
        local_fraction: float, burst: int, window: float | None, mode: str) -> dict[str, float]:
    topo, racks = tree(*shape)
    hosts = [h for r in racks for h in r]
    rack_of = {h: r for r in racks for h in r}
    env = simpy.Environment()
    net = FlowNetwork(env, mode)
    topo.build(net)
    rng = random.Random(seed)
    mean_bytes = 1e6
    state = {"done": 0, "started": 0, "waiting": 0}

    # Host pairs (and window caps) are drawn up front so that routes (one Dijkstra per source,
    # cached by the topology) are computed before the timed loop: this measures the flow model.
    def pick() -> tuple[list[str], float | None]:
        src = rng.choice(hosts)
        pool = rack_of[src] if rng.random() < local_fraction else hosts
        dst = rng.choice(pool)
        while dst == src:
            dst = rng.choice(pool)
        cap = None if window is None else window * 8.0 / (2.0 * topo.route_latency(src, dst))
        return topo.route(src, dst), cap
    routes = [pick() for _ in range(n_flows + completions + burst)]
    routes.reverse()

    def on_done(_flow) -> None:
        state["done"] += 1
        state["waiting"] += 1
        if state["waiting"] == burst:      # B completions bring one burst of B arrivals
            state["waiting"] = 0
            call_in(env, rng.expovariate(1e4), ARRIVAL, arrive, burst)   # 100 us think time

    def arrive(k: int) -> None:
        for _ in range(k):
            state["started"] += 1
            route, cap = routes.pop()
            net.start_flow(route, rng.expovariate(1 / mean_bytes), on_done, cap_bps=cap)

    # The first N arrive within 1 ms (flows last tens of ms), then the loop keeps ~N active.
    for _ in range(n_flows // burst):
        call_in(env, rng.uniform(0.0, 1e-3), ARRIVAL, arrive, burst)

    steps = 0
    active_sum = 0
    w0, c0 = time.perf_counter(), time.process_time()
    while state["done"] < completions:
        env.step()
        steps += 1
        active_sum += net.active_flows()
    cpu = time.process_time() - c0
    wall = time.perf_counter() - w0
    rec = max(1, net.recomputations)
    return {
        "N": n_flows, "mode": mode, "events": steps, "cpu_s": cpu, "wall_s": wall,
        "events_per_s": steps / cpu, "flow_events_per_s": (state["started"] + state["done"]) / cpu,
        "recomputations": net.recomputations, "touched_per_recompute": net.flows_touched / rec,
        "fallbacks": net.fallbacks, "mean_active": active_sum / steps, "sim_time": env.now,
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
    p.add_argument("--burst", type=int, nargs="+", default=[1, 8],
                   help="flows arriving together at one instant (one table each)")
    p.add_argument("--window", type=float, default=None,
                   help="cap every flow at WINDOW bytes / RTT (default: uncapped)")
    p.add_argument("--modes", choices=MODES, nargs="+", default=["coalesced", "incremental"],
                   help="modes measured")
    p.add_argument("--reference", choices=MODES, default="eager", help="mode they are compared to")
    a = p.parse_args(argv)
    n_hosts = a.shape[0] * a.shape[1] * a.shape[2]
    print(f"tree: core - {a.shape[0]} agg - {a.shape[0] * a.shape[1]} edge - {n_hosts} hosts; "
          f"{a.completions} completions per run; seed {a.seed}; rack-local fraction "
          f"{a.local_fraction}; window {a.window}; {', '.join(a.modes)} against {a.reference}")
    hdr = (f"{'burst':>5} {'N':>5} {'mode':>11} {'active':>6} {'events':>7} {'events/s':>9} "
           f"{'flow ev/s':>9} {'recomps':>7} {'flows/rec':>9} {'fallbk':>6} {'x ref':>6} "
           f"{'sim end (s)':>19}")
    print(hdr)
    print("-" * len(hdr))
    for burst in a.burst:
        for n in a.flows:
            rows = [run(n, a.completions, a.seed, tuple(a.shape), a.local_fraction, burst,
                        a.window, m) for m in [a.reference, *a.modes]]
            ref = rows[0]
            for r in rows:
                ratio = ref["cpu_s"] / r["cpu_s"]
                print(f"{burst:>5} {n:>5} {r['mode']:>11} {r['mean_active']:>6.0f} "
                      f"{r['events']:>7} {r['events_per_s']:>9.0f} {r['flow_events_per_s']:>9.0f} "
                      f"{r['recomputations']:>7} {r['touched_per_recompute']:>9.1f} "
                      f"{r['fallbacks']:>6} {ratio:>5.2f}x {r['sim_time']:>19.15f}")
    print("events: SimPy events processed (cancelled calls included) and events/s per CPU second;"
          "\nflow ev/s: flow starts + completions per CPU second; flows/rec: flows whose rate a "
          "re-share re-solved;\nfallbk: incremental re-shares that recomputed components instead;"
          " x ref: reference CPU time / this mode's\n(same flows simulated: sim end agrees to "
          "float rounding)")


if __name__ == "__main__":
    main()
