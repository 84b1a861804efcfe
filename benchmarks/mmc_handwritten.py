"""The bundled M/M/c scenario (scenarios/queueing/mmc.yaml: c = 4, lambda = 3.6/s, mu = 1/s,
20,000 s with a 500 s warm-up, 100 s sampling interval) written by hand in SimPy, as a careful
user would, with outputs comparable to a run directory: requests.parquet (one row per request),
timeseries.parquet (time-average queue and busy servers per interval), summary.json (counts,
throughput, latency percentiles, utilisation, Little's law) and, unless --no-plots, four PNGs
(latency CDF, throughput, queue, utilisation) drawn on matplotlib Figures (no pyplot).

It is the reference that benchmarks/cli_startup.py times `edgesim run` against, whole process
included. It does not import edgesim. What it does less than edgesim (no scenario validation,
no resolved scenario, no atomic temp-and-rename writes with fsync, stdlib instead of numpy
random numbers) is listed in docs/performance.md.

    python benchmarks/mmc_handwritten.py -o DIR [--no-plots] [--duration 20000]
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import simpy

C, LAM, MU = 4, 3.6, 1.0
WARMUP, INTERVAL, SEED = 500.0, 100.0, 1


class Counters:
    """Time-average queue length and busy servers, integrated at every change."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env, self.t, self.queue, self.busy = env, 0.0, 0, 0
        self.area_q = self.area_b = 0.0

    def change(self, dq: int, db: int) -> None:
        now = self.env.now
        self.area_q += self.queue * (now - self.t)
        self.area_b += self.busy * (now - self.t)
        self.t, self.queue, self.busy = now, self.queue + dq, self.busy + db


def simulate(duration: float, seed: int = SEED):
    rng = random.Random(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=C)
    c = Counters(env)
    rows: list[tuple] = []          # id, created, started, finished, service
    samples: list[tuple] = []       # time, queue, busy, completed

    def customer(i: int):
        created = env.now
        c.change(+1, 0)
        with server.request() as req:
            yield req
            started = env.now
            c.change(-1, +1)
            service = rng.expovariate(MU)
            yield env.timeout(service)
            c.change(0, -1)
        rows.append((i, created, started, env.now, service))

    def source():
        i = 0
        while True:
            yield env.timeout(rng.expovariate(LAM))
            env.process(customer(i))
            i += 1

    def monitor():
        last_q = last_b = 0.0
        last_n = 0
        while True:
            yield env.timeout(INTERVAL)
            c.change(0, 0)
            samples.append((env.now, (c.area_q - last_q) / INTERVAL, (c.area_b - last_b) / INTERVAL,
                            len(rows) - last_n))
            last_q, last_b, last_n = c.area_q, c.area_b, len(rows)

    env.process(source())
    env.process(monitor())
    t0 = time.perf_counter()
    env.run(until=duration)
    return rows, samples, c, time.perf_counter() - t0


def tables(rows, samples):
    import pandas as pd
    req = pd.DataFrame(rows, columns=["id", "created", "started", "finished", "service"])
    req["latency"] = req["finished"] - req["created"]
    req["wait"] = req["started"] - req["created"]
    req["outcome"] = pd.Categorical(["completed"] * len(req))
    req["warmup"] = req["created"] < WARMUP
    req = req.sort_values("id", ignore_index=True)
    ts = pd.DataFrame(samples, columns=["time", "queue", "busy", "completed"])
    ts["utilization"] = ts["busy"] / C
    ts["throughput"] = ts["completed"] / INTERVAL
    return req, ts


def summary(req, ts, c: Counters, duration: float, wall: float) -> dict:
    import numpy as np
    m = req[~req["warmup"]]
    lat = m["latency"].to_numpy()
    measured = duration - WARMUP
    p = {k: float(v) for k, v in zip(("p50", "p75", "p95", "p99"),
                                     np.percentile(lat, [50, 75, 95, 99]))} if len(lat) else {}
    tput = ts.loc[ts["time"] > WARMUP, "throughput"]
    L = (c.area_q + c.area_b) / duration
    lam = len(req) / duration
    W = float(req["latency"].mean()) if len(req) else float("nan")
    return {
        "scenario": "mmc-handwritten", "seed": SEED, "sim_time_s": duration, "wall_time_s": wall,
        "requests": {"completed": int(len(m)), "warmup": int(req["warmup"].sum())},
        "throughput_ips": {"avg": len(m) / measured, "median": float(tput.median()),
                           "p99": float(tput.quantile(0.99))},
        "latency_s": {"mean": float(lat.mean()), **p, "max": float(lat.max())},
        "wait_s": {"mean": float(m["wait"].mean()), "p95": float(m["wait"].quantile(0.95))},
        "utilization": {"server0": float(ts.loc[ts["time"] > WARMUP, "utilization"].mean())},
        "littles_law": {"L": L, "lambda": lam, "W": W, "lambda_W": lam * W,
                        "rel_error": abs(L - lam * W) / L if L else None},
    }


def plots(req, ts, out: Path) -> None:
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    out.mkdir(parents=True, exist_ok=True)

    def figure():
        fig = Figure(figsize=(7.0, 4.2), dpi=110)
        FigureCanvasAgg(fig)
        return fig, fig.add_subplot()

    lat = np.sort(req.loc[~req["warmup"], "latency"].to_numpy())
    fig, ax = figure()
    ax.plot(lat, np.arange(1, len(lat) + 1) / max(len(lat), 1))
    ax.set(xlabel="latency (s)", ylabel="fraction of requests", title="latency CDF")
    fig.savefig(out / "latency_cdf.png")
    for name, col, label in (("throughput", "throughput", "requests/s"),
                             ("queues", "queue", "time-average queue"),
                             ("utilization", "utilization", "utilisation")):
        fig, ax = figure()
        ax.plot(ts["time"], ts[col], label="server0")
        ax.axvspan(0, WARMUP, color="0.9")
        ax.set(xlabel="time (s)", ylabel=label, title=name)
        ax.legend()
        fig.savefig(out / f"{name}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--duration", type=float, default=20_000.0)
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, samples, c, wall = simulate(args.duration)
    req, ts = tables(rows, samples)
    req.to_parquet(out / "requests.parquet", engine="pyarrow", index=False)
    ts.to_parquet(out / "timeseries.parquet", engine="pyarrow", index=False)
    s = summary(req, ts, c, args.duration, wall)
    print(f"mmc-handwritten: {s['requests']['completed']:,} completed, latency mean "
          f"{s['latency_s']['mean']:.3f} s, utilisation {s['utilization']['server0']:.3f}")
    if not args.no_plots:
        plots(req, ts, out / "plots")
    (out / "summary.json").write_text(json.dumps(s, indent=2) + "\n")


if __name__ == "__main__":
    main()
