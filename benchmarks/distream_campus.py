"""10 simulated minutes of scenarios/distream/campus.yaml: wall time, speed-up over real time
(target >= 30x on one core) and SimPy events per request, for each policy (or one).

    python benchmarks/distream_campus.py [--policy distream] [--duration 600s]
"""
from __future__ import annotations

import argparse
import time

import edgesim

POLICIES = ["camera-only", "centralized", "videoedge-l", "distream-l", "distream-p", "distream"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", action="append", choices=POLICIES,
                    help="policy to run (repeatable; default: all six)")
    ap.add_argument("--duration", default="600s")
    args = ap.parse_args()
    print(f"{'policy':12s} {'sim s':>7s} {'wall s':>7s} {'speed-up':>9s} {'events':>9s} "
          f"{'requests':>9s} {'events/req':>10s} {'IPS avg':>8s} {'SLO miss':>8s}")
    for policy in args.policy or POLICIES:
        sim = edgesim.simulation(edgesim.load("scenarios/distream/campus.yaml",
                                              [f"policy.name={policy}",
                                               f"duration={args.duration}"]))
        t = time.perf_counter()
        sim.run()
        wall = time.perf_counter() - t
        s = sim.collect().summary
        n = s["requests"]["generated"] + s["requests"]["warmup"]
        print(f"{policy:12s} {s['sim_time_s']:7.0f} {wall:7.2f} {s['sim_time_s'] / wall:8.1f}x "
              f"{s['events']:9,d} {n:9,d} {s['events'] / max(n, 1):10.1f} "
              f"{s['inference_ips']['avg']:8.1f} {s['slo_miss_rate']:8.3f}")


if __name__ == "__main__":
    main()
