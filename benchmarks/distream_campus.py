"""10 simulated minutes of scenarios/distream/campus.yaml: wall and CPU time, simulated
seconds per CPU second (target >= 30x on one core) and SimPy events per request, for each
policy (or one); each policy with a balancer or a controller also runs as the reference, the
code before issue #17 (the paper's step-by-step balancer, every controller trial evaluated
from scratch), timed in the same process.

    python benchmarks/distream_campus.py [--policy distream] [--duration 600s] [--no-reference]

Speeds are simulated seconds per CPU second of the process (``sim/cpu``), which other work on
a shared machine disturbs less than the wall time (also printed). Per run: ``fast`` (the
default) or ``reference``, the time spent inside the balancer, how often its cache answered, and
the time spent in the adaptation controller's plan. Then, per policy, the speed-ups as ratios
to the reference: of the whole run (reference CPU time / fast CPU time), and of the balancer
and the controller alone on the same inputs (every call the fast run made, replayed through
both; the replayed plans are checked identical).
"""
from __future__ import annotations

import argparse
import time

import edgesim
from edgesim.systems.distream import balancer as bal
from edgesim.systems.distream import controller as ctl

POLICIES = ["camera-only", "centralized", "videoedge-l", "distream-l", "distream-p", "distream"]


def run(policy: str, duration: str, method: str) -> dict:
    """One run, ``fast`` or ``reference``; the balancer's and the controller's calls are timed
    and their inputs kept (for the replay)."""
    fn = bal.balance_direct if method == "fast" else bal.balance_iterative
    calls: list = []
    spent = [0.0]

    def timed(*args, **kw):
        t0 = time.perf_counter()
        res = fn(*args, **kw)
        spent[0] += time.perf_counter() - t0
        calls.append((args, kw))
        return res

    planned = [0.0, 0]
    plan_calls: list = []
    real_plan = ctl.plan

    def timed_plan(*args, **kw):
        kw = dict(kw, incremental=method == "fast")
        t0 = time.perf_counter()
        res = real_plan(*args, **kw)
        planned[0] += time.perf_counter() - t0
        planned[1] += 1
        # the Sites are new each period; par0 (the policy's points) changes in place later
        plan_calls.append((args, dict(kw, par0=list(kw["par0"]) if kw.get("par0") else None)))
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
    return {"policy": policy, "method": method, "wall": wall, "plan_calls": plan_calls,
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


def replay_plans(calls: list) -> tuple[float, float]:
    """Seconds the reference and the incremental controller take on the same recorded
    inputs; their plans must be identical."""
    out, plans = [], []
    for incremental in (False, True):
        t = time.process_time()
        plans.append([ctl.plan(*args, **dict(kw, incremental=incremental)) for args, kw in calls])
        out.append(time.process_time() - t)
    for a, b in zip(*plans):
        assert a.par == b.par and a.evaluation == b.evaluation, "plans differ"
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
    ratios, runs = [], []
    for policy in args.policy or POLICIES:
        new = run(policy, args.duration, "fast")
        print(row(new), flush=True)
        runs.append(new)
        if (new["calls"] or new["plans"]) and not args.no_reference:
            ref = run(policy, args.duration, "reference")
            print(row(ref), flush=True)
            runs.append(ref)
            ratios.append((new, ref, replay(new["calls"]) if new["calls"] else None,
                           replay_plans(new["plan_calls"]) if new["plans"] else None))
    for r in (r for r in runs if r["plans"]):
        print(f"{r['policy']} ({r['method']}): the controller's plan "
              f"{1e3 * r['plan_s'] / r['plans']:.2f} ms per call ({r['plans']} calls)")
    for new, ref, bal_t, plan_t in ratios:
        parts = [f"{new['policy']}: whole run {ref['cpu'] / new['cpu']:.2f}x faster (CPU time; "
                 f"wall {ref['wall'] / new['wall']:.2f}x) than the reference"]
        if bal_t:
            it, direct = bal_t
            n = len(new["calls"])
            parts.append(f"the balancer alone {it / direct:.1f}x on the same {n} inputs "
                         f"({1e6 * it / n:.0f} us -> {1e6 * direct / n:.0f} us per call)")
        if plan_t:
            full, inc = plan_t
            n = len(new["plan_calls"])
            parts.append(f"the controller alone {full / inc:.1f}x on the same {n} inputs "
                         f"({1e3 * full / n:.2f} ms -> {1e3 * inc / n:.2f} ms per call, "
                         f"identical plans)")
        print("; ".join(parts))


if __name__ == "__main__":
    main()
