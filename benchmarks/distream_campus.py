"""10 simulated minutes of scenarios/distream/campus.yaml: wall and CPU time, simulated
seconds per CPU second (target >= 30x on one core) and SimPy events per request, for each
policy (or one); the balancing policies also run with the paper's step-by-step balancer, the
reference the direct one is timed against in the same process.

    python benchmarks/distream_campus.py [--policy distream] [--duration 600s] [--no-reference]

Speeds are simulated seconds per CPU second of the process (``sim/cpu``), which other work on
a shared machine disturbs less than the wall time (also printed). Per run: the balancer used
(``direct``, the default, or ``iterative``, the reference), the time spent inside it, how
often its cache answered, and the time spent in the adaptation controller's plan. Then, per balancing policy, the speed-ups as ratios to the
reference: of the whole run (reference CPU time / direct CPU time), and of the balancer alone
on the same inputs (every call the direct run made, replayed through both functions).
"""
from __future__ import annotations

import argparse
import time

import edgesim
from edgesim.policies.distream import balancer as bal
from edgesim.policies.distream import controller as ctl

POLICIES = ["camera-only", "centralized", "videoedge-l", "distream-l", "distream-p", "distream"]
BALANCING = {"distream-l", "distream"}


def run(policy: str, duration: str, method: str) -> dict:
    """One run with the ``direct`` or ``iterative`` balancer; the balancer's calls are timed
    and their inputs kept (for the replay)."""
    fn = bal.balance_direct if method == "direct" else bal.balance_iterative
    calls: list = []
    spent = [0.0]

    def timed(*args, **kw):
        t0 = time.perf_counter()
        res = fn(*args, **kw)
        spent[0] += time.perf_counter() - t0
        calls.append((args, kw))
        return res

    planned = [0.0, 0]
    real_plan = ctl.plan

    def timed_plan(*args, **kw):
        t0 = time.perf_counter()
        res = real_plan(*args, **kw)
        planned[0] += time.perf_counter() - t0
        planned[1] += 1
        return res

    real = bal.balance
    bal.balance = timed          # the policies call the module's `balance` through the cache
    ctl.plan = timed_plan
    try:
        sim = edgesim.simulation(edgesim.load("scenarios/distream/campus.yaml",
                                              [f"policy.name={policy}", f"duration={duration}"]))
        t, c = time.perf_counter(), time.process_time()
        sim.run()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        bal.balance, ctl.plan = real, real_plan
    s = sim.collect().summary
    cache = getattr(sim.policy, "balancer", None)
    return {"policy": policy, "method": method if policy in BALANCING else "-", "wall": wall,
            "cpu": cpu,
            "sim": s["sim_time_s"], "events": s["events"], "summary": s, "calls": calls,
            "balancer_s": spent[0], "hits": cache.hits if cache else 0,
            "plan_s": planned[0], "plans": planned[1],
            "checks": (cache.hits + cache.misses) if cache else 0}


def replay(calls: list) -> tuple[float, float]:
    """Seconds the iterative and the direct balancer take on the same recorded inputs."""
    out = []
    for fn in (bal.balance_iterative, bal.balance_direct):
        t = time.process_time()
        for args, kw in calls:
            fn(*args, **kw)
        out.append(time.process_time() - t)
    return out[0], out[1]


def row(r: dict) -> str:
    s = r["summary"]
    n = s["requests"]["generated"] + s["requests"]["warmup"]
    cache = f"{r['hits']}/{r['checks']}" if r["checks"] else "-"
    return (f"{r['policy']:12s} {r['method']:9s} {r['sim']:6.0f} {r['wall']:7.2f} "
            f"{r['cpu']:6.2f} {r['sim'] / r['cpu']:8.1f}x {r['events'] / max(n, 1):10.1f} "
            f"{s['inference_ips']['avg']:8.1f} {s['slo_miss_rate']:8.4f} "
            f"{r['balancer_s']:10.2f} {cache:>11s} {r['plan_s']:12.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", action="append", choices=POLICIES,
                    help="policy to run (repeatable; default: all six)")
    ap.add_argument("--duration", default="600s")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the runs with the iterative balancer")
    args = ap.parse_args()
    print(f"{'policy':12s} {'balancer':9s} {'sim s':>6s} {'wall s':>7s} {'cpu s':>6s} "
          f"{'sim/cpu':>9s} "
          f"{'events/req':>10s} {'IPS avg':>8s} {'SLO miss':>8s} {'balancer s':>10s} "
          f"{'cache hits':>11s} {'controller s':>12s}")
    ratios, plans = [], []
    for policy in args.policy or POLICIES:
        new = run(policy, args.duration, "direct")
        print(row(new), flush=True)
        plans.append(new)
        if policy in BALANCING and not args.no_reference:
            ref = run(policy, args.duration, "iterative")
            print(row(ref), flush=True)
            it, direct = replay(new["calls"])
            ratios.append((policy, ref["cpu"] / new["cpu"], ref["wall"] / new["wall"],
                           len(new["calls"]), it, direct))
    for r in (r for r in plans if r["plans"]):
        print(f"{r['policy']} ({r['method']}): the controller's plan "
              f"{1e3 * r['plan_s'] / r['plans']:.1f} ms per call ({r['plans']} calls)")
    for policy, cpu, wall, n, it, direct in ratios:
        print(f"{policy}: whole run {cpu:.2f}x faster (CPU time; wall {wall:.2f}x) than with "
              f"the iterative balancer; the balancer alone {it / direct:.1f}x on the same {n} "
              f"inputs ({1e6 * it / n:.0f} us -> {1e6 * direct / n:.0f} us per call)")


if __name__ == "__main__":
    main()
