"""Sim-vs-real validation: does edgesim predict what a real deployment on this machine does?

Two checks live here (the helpers in :mod:`.check`, :mod:`.testbed_pool`, :mod:`.testbed_service`,
:mod:`.testbed_stats`; the two-tier testbed in :mod:`.twotier`).

``check_bundle`` (``edgesim calibrate check``)
    Profiles batch sizes that a bundle did *not* measure and compares them with the bundle's
    interpolation (see :mod:`edgesim.calibration.check`).

``run_testbed`` (``edgesim testbed``)
    A real mini-deployment: W worker processes, one per core, serve real PyTorch inference of
    one zoo model from one FIFO queue with the simulator's batching rule (``none``: batch 1;
    ``dynamic``: up to ``max_batch``, waiting at most ``max_wait``; the dispatcher is in
    :mod:`.testbed_pool`). Poisson arrivals (seeded, each segment conditioned on its count, so
    the realised rate is the nominal one) at ``rate = load * W / S``, S the bundle's batch-1
    back-to-back mean. A run lasts at least ``requests`` requests and goes on, segment by
    segment, until the 95 % confidence interval of its mean latency is within ``ci_frac`` of the
    mean-latency target (or ``max_requests`` is reached), so the real mean is known well enough
    to judge a 10 % error. Then the same configuration is simulated (one node, W executors, the
    same batching) with service times from the bundle, never from the run itself:

    * ``service="served"``: the bundle's served-mode calls (``edgesim calibrate served``; the
      calls of the profile with this W, else of the nearest W) through
      :class:`~edgesim.hardware.profiles.served_model.ServedService`: idle-gap dependent, and
      correlated in time (``order``: replay, ar1 or iid);
    * ``service="backtoback"``: the bundle's back-to-back samples resampled independently (what
      the testbed did before served mode; batch sizes between measured ones scale the nearest
      measured size's samples by the interpolated median).

Latency statistics drop the first ``warmup`` fraction of requests (by arrival) in both, and
throughput is the number of the remaining requests over the time from the first one's arrival to
the last one's response, computed the same way for both. Diff% = (sim - real) / real.

The parent process never imports torch; the workers do.
"""
from __future__ import annotations

import math
import os
import tempfile
from typing import Callable, Optional, Sequence

import numpy as np

# check_bundle and its helpers live in check.py, the bundle's service models in
# testbed_service.py; they stay importable from here.
from edgesim.calibration.check import CHECK_TARGET_PCT, bundle_malloc, check_bundle, interpolate, midpoints  # noqa: F401
from edgesim.calibration.testbed.served_profile import WARM_GAP_S, Batching, arrival_offsets
from edgesim.hardware.profiles.bundle import as_bundle
from edgesim.hardware.profiles.bundle_service import PerBatchEmpirical, ServiceSource, bundle_service, served_service  # noqa: F401
from edgesim.calibration.testbed.stats import TARGETS, _batch_means_ci, compare, latency_stats  # noqa: F401
from edgesim.hardware.service import ServiceModel

__all__ = ["TARGETS", "ServiceSource", "bundle_service", "served_service", "run_real", "simulate",
           "latency_stats", "run_testbed", "check_bundle", "midpoints", "interpolate",
           "twin_scenario", "compare", "SERVICES"]

SERVICES = ("served", "backtoback")
MATCHES = ("config", "workers")      # served calls: of the nearest configuration, or every one
Progress = Callable[[str], None]


# ============================================================================================
# the real deployment


def run_real(model: str, workers: int, rate: float, n: int, threads: int = 1, seed: int = 0,
             timeout_s: float = 600.0, malloc: str = "default",
             batching: Batching = Batching()) -> dict:
    """One real run of n Poisson arrivals with a fresh pool (``run_testbed`` reuses pools)."""
    import time

    from edgesim.calibration.testbed.pool import TimedArrivals, WorkerPool
    with WorkerPool(model, workers, threads, malloc=malloc, max_batch=batching.max_batch) as pool:
        offsets = arrival_offsets(rate, n, np.random.default_rng(seed))
        t0 = time.perf_counter() + 0.05
        raw = pool.serve(TimedArrivals(offsets, t0), batching, n, timeout_s)
        return _relative(raw, t0)


def _relative(raw: dict, t0: float) -> dict:
    out = dict(raw)
    for k in ("created", "arrival", "finish", "svc_start", "svc_end"):
        out[k] = raw[k] - t0
    return out


# ============================================================================================
# the simulation


def twin_scenario(model: str, workers: int, rate: float, n: int, service: dict, seed: int,
                  arrivals: Optional[dict] = None, batching: Batching = Batching()) -> dict:
    """The M/G/W scenario (as a dict) that mirrors a testbed configuration."""
    mean = _spec_mean(service)
    horizon = n / rate * 4 + 1000 * mean + 60
    return {
        "name": f"testbed-w{workers}",
        "description": "edgesim testbed: one FIFO node with W executors",
        "seed": int(seed),
        "duration": float(horizon),
        "max_completions": int(n),
        "nodes": {"server": {"count": 1, "executors": int(workers), "queue": "fifo",
                             "max_batch": int(batching.max_batch),
                             "max_wait": float(batching.max_wait_s)}},
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


def run_scenario(sc: dict, model_obj: Optional[ServiceModel] = None,
                 name: str = "model") -> dict:
    """Run a scenario dict, with ``model_obj`` as the service model of ``name`` on every node
    (a model the scenario format cannot spell, such as ServedService); per request in arrival
    order: arrival (``created``), finish (NaN unless completed) and service, seconds."""
    from edgesim import api
    sim = api.simulation(sc)
    if model_obj is not None:
        if hasattr(model_obj, "reset"):
            model_obj.reset()
        for node in sim.nodes:
            if name in node.services:
                node.services[name] = model_obj
    sim.run()
    req = sim.collect().requests.sort_values("created", kind="stable")
    done = (req["outcome"] == "completed").to_numpy()
    finish = np.where(done, req["finished"].to_numpy(dtype=float), np.nan)
    return {"arrival": req["created"].to_numpy(dtype=float), "finish": finish,
            "service": req["service"].to_numpy(dtype=float), "n": len(req)}


def simulate(model: str, workers: int, rate: float, n: int, service: dict, seed: int = 0,
             replay_times: Optional[np.ndarray] = None, batching: Batching = Batching(),
             model_obj: Optional[ServiceModel] = None) -> dict:
    """Run the twin; per request (in arrival order): arrival and response time (seconds).

    ``replay_times``: arrival times to replay (a trace) instead of Poisson arrivals at ``rate``.
    ``model_obj``: a service model that replaces ``service`` (which then only sizes the run).
    """
    tmp = None
    arrivals = None
    try:
        if replay_times is not None:
            fd, tmp = tempfile.mkstemp(prefix="edgesim-testbed-", suffix=".csv")
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write("".join(f"{float(t)!r}\n" for t in np.asarray(replay_times, dtype=float)))
            arrivals = {"process": "trace", "file": tmp, "format": "times"}
            n = len(replay_times)
        sc = twin_scenario(model, workers, rate, n, service, seed, arrivals, batching)
        return run_scenario(sc, model_obj)
    finally:
        if tmp:
            os.unlink(tmp)


# ============================================================================================
# the whole comparison


def _own_model(raw: dict, order: str):
    """Diagnosis: the served model fitted on the real run's own calls (gaps and times)."""
    from edgesim.hardware.profiles.served_model import ServedService
    c = raw["calls"]
    if len(c["size"]) < 10:
        return None
    try:
        order_ = np.lexsort((c["sent"], c["worker"]))      # each worker's calls in order
        return ServedService(c["size"][order_], c["gap"][order_],
                             (c["done"] - c["sent"])[order_], segment=c["worker"][order_],
                             order=order)
    except ValueError:
        return None


def _extender(pool, state: dict, rate: float, requests: int, max_requests: int, warmup: float,
              ci_abs_frac: float, seed: int,
              start_key: str = "arrival") -> Callable[[int], Optional[np.ndarray]]:
    """``TimedArrivals.extend``: one more segment while the real mean's CI is too wide.

    The CI is that of the answers in so far (the last few of the segment are still in flight,
    which changes little); the run stops once the half-width is at most ``ci_abs_frac`` of
    the mean, or at ``max_requests``. ``start_key``: where latency starts, ``arrival`` (at the
    dispatcher) or ``created`` (two-tier: the frame's due time at the camera). Every segment is conditioned on its count (see
    :func:`arrival_offsets`), so the realised rate stays the nominal one.
    """
    rng = np.random.default_rng([seed, 7])
    chunk = max(requests // 2, 200)

    def extend(sent: int) -> Optional[np.ndarray]:
        if sent >= max_requests:
            return None
        cur = pool.current
        arr, fin = cur[start_key][:sent], cur["finish"][:sent]
        k = int(math.floor(warmup * sent))
        lat = fin[k:] - arr[k:]
        lat = lat[np.isfinite(lat)]
        ci = _batch_means_ci(lat)
        rel = None if ci is None or not lat.size else float(ci / lat.mean())
        state["ci_history"].append((sent, rel))
        if rel is not None and rel <= ci_abs_frac:
            return None
        return arrival_offsets(rate, min(chunk, max_requests - sent), rng)
    return extend


SPEED_DRIFT = 0.10     # relative change of the batch-1 model time that counts as the machine's
OVERLOADED = 0.95      # real utilisation past which a queue never settles


def service_time_reasons(row: dict, drift: float = SPEED_DRIFT) -> list[str]:
    """The service-time part of why a row missed: the real workers' batch-1 model time against
    the calibration's (the machine's own speed moving between the two), and, where the run was
    replayed, whether the simulation fed that run's own calls (``own_service_metrics``) meets
    the targets, which tells the queueing model's error from the calibration's."""
    out = []
    real, cal = row.get("real_service_mean_ms"), row.get("bundle_service_mean_ms")
    if real and cal and abs(real / cal - 1) > drift:
        out.append(f"the real workers' batch-1 model time was {real:.2f} ms against the "
                   f"calibration's {cal:.2f} ms ({100 * (real / cal - 1):+.0f} %): the machine's "
                   f"speed moved between calibration and test, and queueing amplifies it (the "
                   f"wait grows as rho / (1 - rho))")
    own = row.get("own_service_metrics") or {}
    mean, p95 = own.get("mean") or {}, own.get("p95") or {}
    if mean.get("diff_pct") is not None and p95.get("diff_pct") is not None:
        if (row.get("real_utilisation") or 0) >= OVERLOADED:
            verdict = "an overloaded queue has no steady state, so this says nothing of the model"
        elif mean.get("pass") and p95.get("pass"):
            verdict = ("the queueing and batching model holds, the calibration's service times "
                       "are what miss")
        else:
            verdict = ("even given the real service times the simulation misses, so the queue, "
                       "dispatch or batching is not modelled well enough here")
        out.append(f"simulated with this run's own calls (own svc) the mean is "
                   f"{mean['diff_pct']:+.1f} % and p95 {p95['diff_pct']:+.1f} % off: {verdict}")
    return out


class Plan:
    """What every configuration of a testbed run shares: the bundle, its service models per
    worker count, run lengths, the machine (see :func:`run_testbed` for the arguments)."""

    def __init__(self, bundle, model: str, workers: Sequence[int], threads: int, service: str,
                 order: str, requests: int, max_requests: Optional[int],
                 sim_requests: Optional[int], ci_frac: float, malloc: Optional[str],
                 match: str = "workers") -> None:
        if service not in SERVICES:
            raise ValueError(f"service must be one of {', '.join(SERVICES)}, got {service!r}")
        if not 0 < ci_frac <= 10:
            raise ValueError(f"ci_frac must be in (0, 10], got {ci_frac!r}")
        if match not in MATCHES:
            raise ValueError(f"match must be one of {', '.join(MATCHES)}, got {match!r}")
        if requests < 10:
            raise ValueError(f"requests must be >= 10, got {requests!r}")
        self.b = as_bundle(bundle)
        self.model, self.service, self.order, self.threads = model, service, order, threads
        self.malloc = malloc or bundle_malloc(self.b)
        self.svc = bundle_service(self.b, model, threads)
        self.spec = self.svc.service_spec()
        self.b2b = PerBatchEmpirical(self.svc.by_batch, self.svc.medians) if self.svc.by_batch \
            else None
        self.served: dict[int, tuple] = {}
        self.match = match
        self._configs: dict[tuple, tuple] = {}
        if service == "served":
            for w in set(int(x) for x in workers):
                self.served[w] = served_service(self.b, model, w, order, threads)  # LookupError
        self.requests = int(requests)
        self.cap = max(int(max_requests or 10 * requests), self.requests)
        self.sim_n = int(sim_requests or max(10 * requests, 20000))
        self.ci_frac = ci_frac
        self.ci_abs = ci_frac * TARGETS["mean"] / 100.0
        try:
            self.cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            self.cores = os.cpu_count() or 1

    def model_for(self, w: int, bt: Batching, load: Optional[float] = None
                  ) -> tuple[Optional[ServiceModel], str]:
        """The simulation's service model for W workers at ``load`` with batching ``bt``
        (None: the batch-1 ``spec`` entry, the back-to-back empirical distribution) and a
        note on it. Served, ``match="config"``: the served calls of the profiled configuration
        nearest this one; ``match="workers"``: every served call of that worker count."""
        if self.service != "served":
            return (self.b2b if bt.max_batch > 1 else None), ""
        if self.match == "workers" or load is None:
            return self.served[w]
        key = (w, float(load), bt.max_batch)
        if key not in self._configs:
            self._configs[key] = served_service(self.b, self.model, w, self.order, self.threads,
                                                load=load, max_batch=bt.max_batch)
        return self._configs[key]

    def rate(self, load: float, w: int) -> float:
        return float(load) * w / self.svc.mean_s

    def calibration_busy(self, w: int) -> Optional[float]:
        """The most cores other processes kept busy during the served runs behind W's model."""
        if w not in self.served:
            return None
        used = getattr(self.served[w][0], "calibration_workers", w)
        busy = [r.get("other_cores") for e in self.b.meta.get("served", [])
                if e.get("model") == self.model for r in e.get("runs", [])
                if r.get("workers") == used and r.get("other_cores") is not None]
        return max(busy) if busy else None

    def why_not(self, row: dict) -> list[str]:
        """Why a configuration missed its targets, as far as the run can tell."""
        out = []
        if row["timed_out"] or row["error"]:
            out.append(f"the real run {'timed out' if row['timed_out'] else 'failed'}"
                       + (f": {row['error']}" if row["error"] else ""))
        if (row.get("real_utilisation") or 0) >= OVERLOADED:
            out.append(f"the real queue was overloaded (utilisation "
                       f"{row['real_utilisation']:.2f}): it never settled, so its latency is "
                       f"set by the run's length, not by the system")
        if row.get("link_rate_bps") and row["workers"] + 1 > self.cores:
            out.append(f"the camera process and the link's kernel work share the {self.cores} "
                       f"core(s) of the {row['workers']} worker(s) (batch-1 model time "
                       f"{row.get('real_service_mean_ms') or float('nan'):.2f} ms), which the "
                       f"simulation, whose camera and link take no CPU, does not model")
        if (row.get("other_cores") or 0) > 0.1:
            out.append(f"not quiet: other processes kept {row['other_cores']:.2f} core(s) busy "
                       f"during the real run")
        cal = self.calibration_busy(row["workers"])
        if cal is not None and cal > 0.1:
            out.append(f"not quiet: the served calibration ran while other processes kept up to "
                       f"{cal:.2f} core(s) busy")
        out.extend(service_time_reasons(row))
        ci = row["real"].get("mean_ci95_ms")
        if not row.get("ci_ok") and ci is not None and row["real"].get("mean_ms"):
            out.append(f"the real mean is only known to ±{100 * ci / row['real']['mean_ms']:.0f} % "
                       f"(95 % CI) after {row['requests']} requests")
        return out

    def result(self, rows: list, settings: dict) -> dict:
        for r in rows:
            r["why_not"] = [] if r["pass"] else self.why_not(r)
        if self._configs:
            desc = "; ".join(f"W={w} load={load:g} max_batch={mb}: {m.describe()}"
                             for (w, load, mb), (m, _) in sorted(self._configs.items()))
        elif self.served:
            desc = "; ".join(f"W={w}: {m.describe()}" for w, (m, _) in sorted(self.served.items()))
        else:
            desc = self.svc.describe()
        return {"model": self.model, "bundle": str(self.b.path), "device_id": self.b.device_id,
                "service": desc,
                "service_dist": "served" if self.service == "served" else self.svc.kind,
                "targets": dict(TARGETS),
                "settings": {"requests": self.requests, "max_requests": self.cap,
                             "ci_frac": self.ci_frac, "sim_requests": self.sim_n,
                             "threads": self.threads, "cores": self.cores, "malloc": self.malloc,
                             "service": self.service, "order": self.order,
                             "served_match": self.match, **settings},
                "rows": rows, "pass": all(r["pass"] for r in rows)}


def run_testbed(bundle, model: str, workers: Sequence[int] = (1, 2), loads: Sequence[float] = (0.5, 0.8),
                requests: int = 2000, threads: int = 1, seed: int = 0, warmup: float = 0.05,
                timeout_s: float = 600.0, sim_requests: Optional[int] = None, replay: bool = False,
                progress: Optional[Progress] = None, malloc: Optional[str] = None,
                batchings: Sequence[Batching] = (Batching(),), service: str = "served",
                order: str = "replay", max_requests: Optional[int] = None,
                ci_frac: float = 1.0,
                served_match: str = "workers") -> dict:
    """Real runs and simulations for every (workers, load, batching); see the module docstring.

    Returns {"model", "bundle", "service", "targets", "settings", "rows": [...], "pass"}; each
    row has workers, load, batching, rate_rps, real/sim statistics, ``metrics`` (see
    :func:`compare`), the real run's own service-time and dispatch-lag figures, and with
    ``replay`` two more simulations of the real run's arrival times: with the bundle's service
    model (``replay_metrics``), and, as a diagnosis that is not a prediction, with the served
    model fitted on the workers' own calls of that run (``own_service_metrics``), which isolates
    the queueing model from the calibration. With served service every row also has
    ``baseline_metrics``: the same real run against the back-to-back prediction. ``max_requests``: the cap of the adaptive run
    length (default ``10 * requests``); ``ci_frac``: the run goes on until the real mean's 95 %
    CI half-width is at most ``ci_frac`` times the mean target. ``malloc``: the workers'
    malloc mode (default: the bundle's). ``served_match``: which served calls model a
    configuration (see :meth:`Plan.model_for`).
    """
    import time

    from edgesim.calibration.testbed.pool import TimedArrivals, WorkerPool
    plan = Plan(bundle, model, workers, threads, service, order, requests, max_requests,
                sim_requests, ci_frac, malloc, served_match)
    say = progress or (lambda msg: None)
    rows = []
    mb_all = max(bt.max_batch for bt in batchings)
    for w in sorted(dict.fromkeys(int(x) for x in workers)):
        pool = None
        try:
            for j, (load, bt) in enumerate((ld, bt) for ld in loads for bt in batchings):
                if pool is None:
                    say(f"starting {w} worker process(es) for {model} ...")
                    pool = WorkerPool(model, w, threads, malloc=plan.malloc, max_batch=mb_all)
                m_obj, m_note = plan.model_for(w, bt, load)
                rate = plan.rate(load, w)
                rs = seed + 1000 * w + j
                say(f"W={w} load={load} batching={bt.label}: real run, {requests} to {plan.cap} "
                    f"requests at {rate:.2f}/s (~{requests / rate:.0f} s or more)")
                state: dict = {"ci_history": []}
                t0 = time.perf_counter() + 0.05
                src = TimedArrivals(arrival_offsets(rate, requests, np.random.default_rng(rs)), t0,
                                    _extender(pool, state, rate, requests, plan.cap, warmup,
                                              plan.ci_abs, rs))
                raw = _relative(pool.serve(src, bt, plan.cap, timeout_s), t0)
                n_real = int(raw["sent"])
                real = latency_stats(raw["arrival"][:n_real], raw["finish"][:n_real], warmup)
                say(f"W={w} load={load} batching={bt.label}: {n_real} real requests; "
                    f"simulating {plan.sim_n}")
                sim_raw = simulate(model, w, rate, plan.sim_n, plan.spec, rs, batching=bt,
                                   model_obj=m_obj)
                sim = latency_stats(sim_raw["arrival"], sim_raw["finish"], warmup)
                row = _row(w, load, bt, rate, raw, n_real, real, sim, plan.svc, plan.cores, state)
                row["service_note"] = m_note
                if plan.service == "served":          # the same real run, the old prediction
                    base = simulate(model, w, rate, plan.sim_n, plan.spec, rs, batching=bt,
                                    model_obj=plan.b2b if bt.max_batch > 1 else None)
                    row["baseline"] = latency_stats(base["arrival"], base["finish"], warmup)
                    row["baseline_metrics"] = compare(real, row["baseline"])
                if (row["other_cores"] or 0) > 0.1:
                    say(f"W={w} load={load}: other processes kept {row['other_cores']:.2f} core(s) "
                        "busy during the real run: the machine was not quiet")
                if replay:
                    _add_replay(row, raw, n_real, model, w, rate, plan.spec, rs, bt, warmup,
                                order, m_obj)
                rows.append(row)
                if raw["timed_out"] or raw["error"]:
                    pool.close()          # requests may still be queued: start afresh
                    pool = None
        finally:
            if pool is not None:
                pool.close()
    return plan.result(rows, {"workers": list(workers), "loads": list(loads), "seed": seed,
                              "warmup": warmup, "timeout_s": timeout_s, "replay": replay,
                              "batching": [bt.label for bt in batchings]})


def _row(w: int, load: float, bt: Batching, rate: float, raw: dict, n_real: int, real: dict,
         sim: dict, svc: ServiceSource, cores: int, state: dict) -> dict:
    """One configuration's figures (the real run's own service and dispatch figures too)."""
    calls = raw["calls"]
    has = len(calls["size"]) > 0
    svc_real = (calls["end"] - calls["start"]) if has else np.zeros(0)
    occ = (calls["done"] - calls["sent"]) if has else np.zeros(0)
    one = svc_real[calls["size"] == 1] if has else svc_real
    occ1 = occ[calls["size"] == 1] if has else occ
    lag = (raw["arrival"] - raw["created"])[:n_real]
    lag = lag[np.isfinite(lag)]
    busy = float(occ.sum()) / w / max(float(np.nanmax(raw["finish"][:n_real])), 1e-9) \
        if occ.size else None
    ci = real.get("mean_ci95_ms")
    row = {"workers": w, "load": float(load), "batching": bt.label, "max_batch": bt.max_batch,
           "max_wait_ms": bt.max_wait_s * 1e3, "rate_rps": rate, "requests": n_real,
           "real": real, "sim": sim, "metrics": compare(real, sim),
           "real_service_mean_ms": float(one.mean() * 1e3) if one.size else None,
           "real_service_p95_ms": float(np.quantile(one, 0.95) * 1e3) if one.size else None,
           "real_occupancy_mean_ms": float(occ1.mean() * 1e3) if occ1.size else None,
           "real_mean_batch": float(calls["size"].mean()) if has else None,
           "bundle_service_mean_ms": svc.mean_s * 1e3,
           "real_utilisation": busy,
           "real_cold_fraction": float((calls["gap"] >= WARM_GAP_S).mean()) if has else None,
           "dispatch_lag_p99_ms": float(np.quantile(lag, 0.99) * 1e3) if lag.size else None,
           "ci_ok": bool(ci is not None and real["mean_ms"] and
                         ci <= TARGETS["mean"] / 100.0 * real["mean_ms"]),
           "ci_history": state["ci_history"],
           "timed_out": raw["timed_out"], "error": raw["error"],
           "oversubscribed": w > cores, "other_cores": raw.get("other_cores"),
           "steal_cores": raw.get("steal_cores")}
    row["pass"] = (not raw["timed_out"] and not real["missing"] and
                   all(m["pass"] for m in row["metrics"].values() if m["pass"] is not None))
    return row


def _add_replay(row: dict, raw: dict, n_real: int, model: str, w: int, rate: float, spec: dict,
                seed: int, bt: Batching, warmup: float, order: str,
                m_obj: Optional[ServiceModel]) -> None:
    """The real run's own arrival times, with the bundle's model and with the run's own calls."""
    times = raw["arrival"][:n_real]
    times = times[np.isfinite(times)]
    rel = times - times[0]
    rep_raw = simulate(model, w, rate, len(times), spec, seed, replay_times=rel, batching=bt,
                       model_obj=m_obj)
    real = row["real"]
    rep = latency_stats(rep_raw["arrival"], rep_raw["finish"], warmup)
    row["replay"], row["replay_metrics"] = rep, compare(real, rep)
    own_m = _own_model(raw, order)
    if own_m is not None:
        own_raw = simulate(model, w, rate, len(times), spec, seed, replay_times=rel, batching=bt,
                           model_obj=own_m)
        own = latency_stats(own_raw["arrival"], own_raw["finish"], warmup)
        row["own_service"], row["own_service_metrics"] = own, compare(real, own)
