"""Sim-vs-real validation: does edgesim predict what a real deployment on this machine does?

Two checks live here.

``check_bundle`` (``edgesim calibrate check``)
    Profiles batch sizes that a bundle did *not* measure (default: the midpoints between its
    measured sizes), with the bundle's own device, threads and minimum run time, predicts them by
    interpolating the bundle, and reports each error and the mean absolute percentage error.

``run_testbed`` (``edgesim testbed``)
    A real mini-deployment: W worker processes (multiprocessing, spawn), each pinned to its own
    core (``os.sched_setaffinity``) with ``torch.set_num_threads(threads)``, serve real PyTorch
    inference of one zoo model at batch 1 from one shared FIFO queue. A dispatcher thread in the
    parent sends Poisson arrivals (seeded ``numpy`` generator; n arrivals uniformly spread over
    ``n / rate`` seconds, i.e. a Poisson process conditioned on its count, so that the realised
    rate is exactly the nominal one) at ``rate = load * W / S``, where S
    is the bundle's batch-1 mean service time; a collector thread in the same process stamps each
    response, so a request's latency is ``perf_counter()`` at its response minus
    ``perf_counter()`` when it was put on the queue, both read in one process. Then the same
    configuration is simulated: one node with W executors, FIFO, Poisson arrivals at the same
    rate, and service times drawn from the bundle's *measured* batch-1 samples (``dist:
    empirical``; the mean/p90 of latency.csv when the bundle has no samples). The simulation never
    sees the testbed's own measurements, so the comparison is a prediction, not a fit.

Latency statistics drop the first ``warmup`` fraction of requests (by arrival) in both, and
throughput is the number of the remaining requests over the time from the first one's arrival to
the last one's response, computed the same way for both. Diff% = (sim - real) / real.

The parent process never imports torch; the workers do.
"""
from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

# check_bundle and its helpers live in check.py; they stay importable from here.
from .check import CHECK_TARGET_PCT, _load, bundle_malloc, check_bundle, interpolate, midpoints  # noqa: F401

__all__ = ["TARGETS", "ServiceSource", "bundle_service", "run_real", "simulate", "latency_stats",
           "run_testbed", "check_bundle", "midpoints", "interpolate", "twin_scenario"]

# Acceptance targets, |sim - real| / real in percent.
TARGETS = {"mean": 10.0, "p95": 15.0, "throughput": 5.0}

Progress = Callable[[str], None]


# ============================================================================================
# service times from a bundle


@dataclass
class ServiceSource:
    """What the simulation draws service times from."""

    mean_s: float                       # the bundle's batch-1 mean (sets the arrival rate)
    samples_s: Optional[list]           # raw batch-1 samples, seconds (None: none in the bundle)
    median_s: float
    p90_s: Optional[float]
    threads: Optional[int]
    kind: str = ""                      # "empirical" or "lognormal" (what `service_spec` gives)

    def service_spec(self) -> dict:
        """The scenario's service entry for this model on the node's device."""
        if self.samples_s:
            return {"dist": "empirical", "samples": [float(s) for s in self.samples_s]}
        # No raw samples: a lognormal with the bundle's mean and the spread of its median and p90.
        cv = 0.0
        if self.p90_s and self.p90_s > self.median_s > 0:
            sigma = math.log(self.p90_s / self.median_s) / 1.2815515655446004
            cv = math.sqrt(math.expm1(sigma * sigma))
        if cv <= 0:
            return {"dist": "constant", "time": self.mean_s}
        return {"dist": "lognormal", "mean": self.mean_s, "cv": cv}

    def describe(self) -> str:
        spec = self.service_spec()
        if spec["dist"] == "empirical":
            a = np.asarray(self.samples_s)
            return (f"empirical: the bundle's {len(a)} raw batch-1 samples (mean "
                    f"{a.mean() * 1e3:.3f} ms, cv {a.std() / a.mean():.3f})")
        if spec["dist"] == "lognormal":
            return (f"lognormal: the bundle's batch-1 mean {self.mean_s * 1e3:.3f} ms, cv "
                    f"{spec['cv']:.3f} from its median and p90 (no samples.parquet)")
        return f"constant: the bundle's batch-1 mean {self.mean_s * 1e3:.3f} ms"


def bundle_service(bundle, model: str, threads: Optional[int] = None) -> ServiceSource:
    """Batch-1 inference service of ``model`` in ``bundle`` (a Bundle or a folder path)."""
    b = _load(bundle)
    t = b.table
    rows = t[(t["model"] == model) & (t["phase"] == "infer") & (t["batch"] == 1)]
    if rows.empty:
        have = sorted(set(t.loc[(t["phase"] == "infer") & (t["batch"] == 1), "model"]))
        raise LookupError(f"{b.path}: no batch-1 infer row for model {model!r}; it has "
                          f"{', '.join(have) or 'none'}")
    if threads is not None and rows["threads"].notna().any():
        match = rows[rows["threads"] == threads]
        rows = match if not match.empty else rows
    row = rows.iloc[0]
    mean_ms = row["mean_ms"] if not _nan(row["mean_ms"]) else row["median_ms"]
    samples = None
    raw = b.load_samples() if b.has_samples() else None
    if raw is not None:
        sel = raw[(raw["model"] == model) & (raw["phase"] == "infer") & (raw["batch"] == 1)]
        if len(sel):
            samples = [float(x) / 1e3 for x in sel["sample_ms"]]
    src = ServiceSource(mean_s=float(mean_ms) / 1e3, samples_s=samples,
                        median_s=float(row["median_ms"]) / 1e3,
                        p90_s=None if _nan(row["p90_ms"]) else float(row["p90_ms"]) / 1e3,
                        threads=None if _nan(row["threads"]) else int(row["threads"]))
    src.kind = src.service_spec()["dist"]
    return src


def _nan(v) -> bool:
    try:
        return v is None or bool(np.isnan(float(v)))
    except (TypeError, ValueError):
        return True


# ============================================================================================
# the real deployment


def _worker_main(idx: int, core: Optional[int], model: str, threads: int, tasks, conn,
                 warmup_s: float, malloc: str = "default") -> None:
    """One serving process: pin, build the model, warm up, then serve until a None arrives."""
    try:
        if core is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {core})
        from .profiler import configure_malloc
        configure_malloc(malloc)
        import torch
        torch.set_num_threads(threads)
        from . import zoo
        net = zoo.build(model)
        x = zoo.example_input(model, 1)
        with torch.inference_mode():
            t_end = time.perf_counter() + warmup_s
            n = 0
            while n < 5 or time.perf_counter() < t_end:
                net(x)
                n += 1
        conn.send(("ready", idx, os.getpid(), sorted(os.sched_getaffinity(0))
                   if hasattr(os, "sched_getaffinity") else None))
    except BaseException as exc:  # report, do not hang the parent
        conn.send(("error", idx, f"{type(exc).__name__}: {exc}", None))
        return
    perf = time.perf_counter
    with torch.inference_mode():
        while True:
            rid = tasks.get()
            if rid is None:
                break
            t0 = perf()
            net(x)
            t1 = perf()
            conn.send((rid, idx, t0, t1))
    conn.close()


def _system_ticks() -> Optional[tuple[int, int]]:
    """(busy, steal) clock ticks of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    steal = f[7] if len(f) > 7 else 0
    return f[0] + f[1] + f[2] + f[5] + f[6] + steal, steal


def _process_ticks(pid: int) -> Optional[int]:
    """utime + stime of a process (all its threads), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None


class _CpuAccount:
    """How many cores other processes (not the testbed's) kept busy while a run lasted."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = [os.getpid(), *pids]
        self.t0 = time.monotonic()
        self.sys0 = _system_ticks()
        self.own0 = [_process_ticks(p) for p in self.pids]

    def other_cores(self) -> dict:
        sys1, own1 = _system_ticks(), [_process_ticks(p) for p in self.pids]
        wall = time.monotonic() - self.t0
        if self.sys0 is None or sys1 is None or None in self.own0 or None in own1 or wall <= 0:
            return {"other_cores": None, "steal_cores": None}
        hz = os.sysconf("SC_CLK_TCK")
        busy = sys1[0] - self.sys0[0]
        own = sum(b - a for a, b in zip(self.own0, own1))
        return {"other_cores": max(busy - own, 0) / hz / wall,
                "steal_cores": (sys1[1] - self.sys0[1]) / hz / wall}


class WorkerPool:
    """W spawned serving processes, one per core, around one shared task queue."""

    def __init__(self, model: str, workers: int, threads: int = 1, warmup_s: float = 1.0,
                 start_timeout_s: float = 180.0, malloc: str = "default") -> None:
        import multiprocessing as mp
        self.ctx = mp.get_context("spawn")
        self.model, self.workers, self.threads = model, workers, threads
        try:
            cores = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = []
        self.cores = cores
        self.oversubscribed = bool(cores) and workers > len(cores)
        self.tasks = self.ctx.SimpleQueue()
        self.conns, self.procs, self.info = [], [], []
        for i in range(workers):
            rd, wr = self.ctx.Pipe(duplex=False)
            core = cores[i % len(cores)] if cores else None
            p = self.ctx.Process(target=_worker_main, name=f"edgesim-testbed-{i}", daemon=True,
                                 args=(i, core, model, threads, self.tasks, wr, warmup_s, malloc))
            p.start()
            wr.close()
            self.conns.append(rd)
            self.procs.append(p)
        self._await_ready(start_timeout_s)

    def _await_ready(self, timeout_s: float) -> None:
        from multiprocessing.connection import wait
        deadline = time.monotonic() + timeout_s
        pending = set(range(self.workers))
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise TimeoutError(f"testbed workers {sorted(pending)} not ready after {timeout_s:.0f} s")
            for c in wait([self.conns[i] for i in pending], timeout=min(left, 1.0)):
                try:
                    msg = c.recv()
                except EOFError:
                    self.close()
                    raise RuntimeError("a testbed worker died while starting") from None
                if msg[0] == "error":
                    self.close()
                    raise RuntimeError(f"testbed worker {msg[1]} failed to start: {msg[2]}")
                pending.discard(msg[1])
                self.info.append({"worker": msg[1], "pid": msg[2], "cores": msg[3]})
            dead = [i for i in pending if not self.procs[i].is_alive()]
            if dead:
                self.close()
                raise RuntimeError(f"testbed worker(s) {dead} exited while starting")
        self.info.sort(key=lambda d: d["worker"])

    def run(self, rate: float, n: int, seed: int, timeout_s: float) -> dict:
        """Send n Poisson arrivals at ``rate``/s; per request: arrival, response, worker, service."""
        from multiprocessing.connection import wait
        # A Poisson process conditioned on n arrivals in n / rate seconds: sorted uniform times.
        # Its realised rate is the nominal one, so the throughput comparison is not a comparison
        # of two samples' arrival counts.
        rng = np.random.default_rng(seed)
        offsets = np.sort(rng.uniform(0.0, n / rate, size=n))
        arrival = np.full(n, np.nan)
        finish = np.full(n, np.nan)
        worker = np.full(n, -1, dtype=np.int64)
        svc_start = np.full(n, np.nan)
        svc_end = np.full(n, np.nan)
        state = {"received": 0, "error": None}
        stop = threading.Event()
        perf = time.perf_counter

        def collect() -> None:
            conns = list(self.conns)
            try:
                while state["received"] < n and not stop.is_set():
                    for c in wait(conns, timeout=0.2):
                        try:
                            rid, w, t0, t1 = c.recv()
                        except EOFError:
                            conns.remove(c)
                            state["error"] = "a worker exited during the run"
                            continue
                        finish[rid] = perf()
                        worker[rid], svc_start[rid], svc_end[rid] = w, t0, t1
                        state["received"] += 1
                    if not conns:
                        break
            except BaseException as exc:  # pragma: no cover - surfaced below
                state["error"] = f"{type(exc).__name__}: {exc}"

        account = _CpuAccount([p.pid for p in self.procs])
        collector = threading.Thread(target=collect, name="testbed-collector", daemon=True)
        collector.start()
        t_start = perf() + 0.05
        deadline = time.monotonic() + timeout_s
        timed_out = False
        put = self.tasks.put
        for i in range(n):
            due = t_start + offsets[i]
            wait_s = due - perf()
            if wait_s > 0:
                time.sleep(wait_s)
            arrival[i] = perf()
            put(i)
            if time.monotonic() > deadline:
                timed_out = True
                break
        collector.join(timeout=max(deadline - time.monotonic(), 0.0) + 0.5)
        if collector.is_alive():
            timed_out = True
            stop.set()
            collector.join(timeout=5)
        cpu = account.other_cores()
        intended = t_start + offsets
        lag = arrival - intended
        return {"arrival": arrival - t_start, "finish": finish - t_start, "worker": worker,
                "service": svc_end - svc_start, "wait": svc_start - arrival,
                "dispatch_lag": lag, "timed_out": timed_out, "error": state["error"],
                "n": n, "received": state["received"], **cpu}

    def close(self) -> None:
        for _ in self.procs:
            try:
                self.tasks.put(None)
            except Exception:
                break
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        for c in self.conns:
            c.close()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_real(model: str, workers: int, rate: float, n: int, threads: int = 1, seed: int = 0,
             timeout_s: float = 600.0, malloc: str = "default") -> dict:
    """One real run with a fresh pool (``run_testbed`` reuses a pool across loads)."""
    with WorkerPool(model, workers, threads, malloc=malloc) as pool:
        return pool.run(rate, n, seed, timeout_s)


# ============================================================================================
# the simulation


def twin_scenario(model: str, workers: int, rate: float, n: int, service: dict, seed: int,
                     arrivals: Optional[dict] = None) -> dict:
    """The M/G/W scenario (as a dict) that mirrors a testbed configuration."""
    mean = _spec_mean(service)
    horizon = n / rate * 4 + 1000 * mean + 60
    return {
        "name": f"testbed-w{workers}",
        "description": "edgesim testbed: M/G/W, one FIFO node with W executors",
        "seed": int(seed),
        "duration": float(horizon),
        "max_completions": int(n),
        "nodes": {"server": {"count": 1, "executors": int(workers), "queue": "fifo", "max_batch": 1}},
        "workload": {
            "sources": {"clients": {"arrivals": arrivals or {"process": "poisson", "rate": float(rate)},
                                    "job": "infer", "limit": int(n)}},
            "jobs": {"infer": {"stages": [{"model": "model", "node": "server"}]}},
        },
        "service": {"model": {"cpu": service}},
        "metrics": {"interval": float(max(horizon / 100, 1.0))},
    }


def _spec_mean(service: dict) -> float:
    if service["dist"] == "empirical":
        return float(np.mean(service["samples"]))
    return float(service.get("mean", service.get("time", 0.01)))


def simulate(model: str, workers: int, rate: float, n: int, service: dict, seed: int = 0,
             replay_times: Optional[np.ndarray] = None) -> dict:
    """Run the scenario; per request (in arrival order): arrival and response time (seconds).

    ``replay_times``: arrival times to replay (a trace) instead of Poisson arrivals at ``rate``.
    """
    from .. import api
    tmp = None
    arrivals = None
    try:
        if replay_times is not None:
            fd, tmp = tempfile.mkstemp(prefix="edgesim-testbed-", suffix=".csv")
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write("".join(f"{float(t)!r}\n" for t in np.asarray(replay_times, dtype=float)))
            arrivals = {"process": "trace", "file": tmp, "format": "times"}
            n = len(replay_times)
        sc = twin_scenario(model, workers, rate, n, service, seed, arrivals)
        res = api.run(sc)
        req = res.requests
    finally:
        if tmp:
            os.unlink(tmp)
    req = req.sort_values("created", kind="stable")
    done = (req["outcome"] == "completed").to_numpy()
    finish = np.where(done, req["finished"].to_numpy(dtype=float), np.nan)
    return {"arrival": req["created"].to_numpy(dtype=float), "finish": finish,
            "service": req["service"].to_numpy(dtype=float), "n": n}


# ============================================================================================
# statistics and comparison


def latency_stats(arrival: np.ndarray, finish: np.ndarray, warmup: float = 0.05) -> dict:
    """Latency (ms) and throughput (requests/s) of the requests after the first ``warmup`` fraction.

    Requests are ordered by arrival; unanswered ones (NaN finish) are counted as ``missing`` and
    left out of the latency figures.
    """
    arrival = np.asarray(arrival, dtype=float)
    finish = np.asarray(finish, dtype=float)
    order = np.argsort(arrival, kind="stable")
    arrival, finish = arrival[order], finish[order]
    sent = np.isfinite(arrival)
    arrival, finish = arrival[sent], finish[sent]
    k = int(math.floor(warmup * len(arrival)))
    a, f = arrival[k:], finish[k:]
    ok = np.isfinite(f)
    lat = (f[ok] - a[ok]) * 1e3
    out = {"n": int(ok.sum()), "missing": int((~ok).sum()), "mean_ms": None, "p50_ms": None,
           "p95_ms": None, "p99_ms": None, "throughput_rps": None, "mean_ci95_ms": None,
           "arrival_rate_rps": None}
    out["mean_ci95_ms"] = _batch_means_ci(lat)
    if lat.size:
        out.update(mean_ms=float(lat.mean()), p50_ms=float(np.quantile(lat, 0.5)),
                   p95_ms=float(np.quantile(lat, 0.95)), p99_ms=float(np.quantile(lat, 0.99)))
        if len(a) > 1 and a[-1] > a[0]:
            out["arrival_rate_rps"] = float((len(a) - 1) / (a[-1] - a[0]))
        span = float(np.nanmax(f) - a[0])
        out["throughput_rps"] = float(ok.sum() / span) if span > 0 else None
    return out


def _batch_means_ci(lat: np.ndarray, batches: int = 20) -> Optional[float]:
    """Half-width of a 95 % confidence interval of the mean latency by the method of batch means
    (consecutive requests are correlated, so the plain standard error would be too small)."""
    if lat.size < 10 * batches:
        return None
    means = np.array([b.mean() for b in np.array_split(lat, batches)])
    return float(2.093 * means.std(ddof=1) / math.sqrt(batches))      # t(0.975, 19)


def _diff(sim: Optional[float], real: Optional[float]) -> Optional[float]:
    if sim is None or real is None or real == 0:
        return None
    return 100.0 * (sim - real) / real


_METRICS = (("mean", "mean_ms"), ("p50", "p50_ms"), ("p95", "p95_ms"), ("throughput", "throughput_rps"))


def compare(real: dict, sim: dict, targets: dict = TARGETS) -> dict:
    """{metric: {real, sim, diff_pct, target_pct, pass}} for mean, p50, p95 and throughput."""
    out = {}
    for name, key in _METRICS:
        d = _diff(sim.get(key), real.get(key))
        tgt = targets.get(name)
        out[name] = {"real": real.get(key), "sim": sim.get(key), "diff_pct": d, "target_pct": tgt,
                     "pass": None if tgt is None else (d is not None and abs(d) <= tgt)}
    return out


def run_testbed(bundle, model: str, workers: Sequence[int] = (1, 2), loads: Sequence[float] = (0.5, 0.8),
                requests: int = 2000, threads: int = 1, seed: int = 0, warmup: float = 0.05,
                timeout_s: float = 600.0, sim_requests: Optional[int] = None, replay: bool = False,
                progress: Optional[Progress] = None, malloc: Optional[str] = None) -> dict:
    """Real runs and simulations for every (workers, load); see the module docstring.

    Returns {"model", "bundle", "service", "targets", "settings", "rows": [...], "pass"}; each
    row has workers, load, rate_rps, real/sim statistics, ``metrics`` (see :func:`compare`),
    the real run's own service-time and dispatch-lag figures, and with ``replay`` two more
    simulations that replay the real run's arrival times: with the bundle's service times
    (``replay_metrics``), and, as a diagnosis that is not a prediction, with the workers' own
    measured service times (``own_service_metrics``), which isolates the queueing model and the
    messaging overhead from the calibration. ``malloc``: the
    workers' malloc mode (see :func:`edgesim.calibration.profiler.configure_malloc`); default:
    the one the bundle was profiled with.
    """
    b = _load(bundle)
    malloc = malloc or bundle_malloc(b)
    svc = bundle_service(b, model, threads)
    service_spec = svc.service_spec()
    sim_n = int(sim_requests or max(10 * requests, 20000))
    say = progress or (lambda msg: None)
    rows = []
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    for w in sorted(dict.fromkeys(int(x) for x in workers)):
        pool = None
        try:
            for j, load in enumerate(loads):
                if pool is None:
                    say(f"starting {w} worker process(es) for {model} ...")
                    pool = WorkerPool(model, w, threads, malloc=malloc)
                rate = float(load) * w / svc.mean_s
                say(f"W={w} load={load}: real run, {requests} requests at {rate:.2f}/s "
                    f"(~{requests / rate:.0f} s)")
                real_raw = pool.run(rate, requests, seed + 1000 * w + j, timeout_s)
                real = latency_stats(real_raw["arrival"], real_raw["finish"], warmup)
                say(f"W={w} load={load}: simulating {sim_n} requests")
                sim_raw = simulate(model, w, rate, sim_n, service_spec, seed + 1000 * w + j)
                sim = latency_stats(sim_raw["arrival"], sim_raw["finish"], warmup)
                svc_real = real_raw["service"][np.isfinite(real_raw["service"])]
                lag = real_raw["dispatch_lag"][np.isfinite(real_raw["dispatch_lag"])]
                row = {"workers": w, "load": float(load), "rate_rps": rate,
                       "real": real, "sim": sim, "metrics": compare(real, sim),
                       "real_service_mean_ms": float(svc_real.mean() * 1e3) if svc_real.size else None,
                       "real_service_p95_ms": float(np.quantile(svc_real, 0.95) * 1e3)
                       if svc_real.size else None,
                       "bundle_service_mean_ms": svc.mean_s * 1e3,
                       "real_utilisation": float(rate * svc_real.mean() / w) if svc_real.size else None,
                       "dispatch_lag_p99_ms": float(np.quantile(lag, 0.99) * 1e3) if lag.size else None,
                       "timed_out": real_raw["timed_out"], "error": real_raw["error"],
                       "oversubscribed": w > cores, "other_cores": real_raw.get("other_cores"),
                       "steal_cores": real_raw.get("steal_cores")}
                if (row["other_cores"] or 0) > 0.1:
                    say(f"W={w} load={load}: other processes kept {row['other_cores']:.2f} core(s) "
                        "busy during the real run: the machine was not quiet")
                if replay:
                    times = real_raw["arrival"][np.isfinite(real_raw["arrival"])]
                    rep_raw = simulate(model, w, rate, len(times), service_spec, seed,
                                       replay_times=times - times[0])
                    rep = latency_stats(rep_raw["arrival"], rep_raw["finish"], warmup)
                    row["replay"] = rep
                    row["replay_metrics"] = compare(real, rep)
                    # Diagnosis only: the same arrivals with the workers' own service times. What
                    # is left is the queueing model and the messaging overhead, not calibration.
                    if svc_real.size:
                        own_raw = simulate(model, w, rate, len(times),
                                           {"dist": "empirical", "samples": [float(x) for x in svc_real]},
                                           seed, replay_times=times - times[0])
                        own = latency_stats(own_raw["arrival"], own_raw["finish"], warmup)
                        row["own_service"] = own
                        row["own_service_metrics"] = compare(real, own)
                row["pass"] = (not real_raw["timed_out"] and not real["missing"] and
                               all(m["pass"] for m in row["metrics"].values() if m["pass"] is not None))
                rows.append(row)
                if real_raw["timed_out"] or real_raw["error"]:
                    pool.close()          # requests may still be queued: start afresh
                    pool = None
        finally:
            if pool is not None:
                pool.close()
    return {"model": model, "bundle": str(b.path), "device_id": b.device_id,
            "service": svc.describe(), "service_dist": svc.kind, "targets": dict(TARGETS),
            "settings": {"workers": list(workers), "loads": list(loads), "requests": requests,
                         "sim_requests": sim_n, "threads": threads, "seed": seed, "warmup": warmup,
                         "timeout_s": timeout_s, "cores": cores, "replay": replay, "malloc": malloc},
            "rows": rows, "pass": all(r["pass"] for r in rows)}
