"""Served-mode profiling: time real PyTorch calls the way a server makes them.

The back-to-back profile (:mod:`edgesim.calibration.profiler`) runs one call after another;
a server runs a call when a request is there, after an idle gap whose length the load sets.
:func:`profile_served` starts the testbed's own worker processes (:mod:`.testbed_pool`: W
processes pinned one per core, fed batches over pipes by one dispatcher loop) and gives every
worker *its own* one-server queue, fed by the *target inter-arrival process*: Poisson arrivals
at ``load / S`` per worker (S: the bundle's batch-1 back-to-back mean, the rate ``edgesim
testbed`` offers per worker), served FIFO with the testbed's batching rule (a batch of up to
``max_batch`` starts when ``max_batch`` requests wait, or when the oldest has waited
``max_wait``; ``max_wait = 0``: whatever waits, at once). So the gaps between a worker's calls
are those a server at that load sees: zero while a queue lasts (*warm* calls), an idle period
after it (*cold* calls; for Poisson arrivals the idle periods are exponential with the arrival
rate). The W queues run at the same time, so a two-worker profile includes what two busy cores
do to each other; they are independent queues, not the testbed's shared one.

Each call gives one record (:data:`SERVED_COLUMNS`), in call order: its batch size, the idle gap
before it (from the worker's previous answer to this dispatch) and its *occupancy*
(``sample_ms``: from the dispatch to the answer, what keeps the worker from taking other work,
i.e. the model's time plus the two pipe messages and process wake-ups; ``compute_ms`` is the
model call alone, as the worker timed it). :class:`edgesim.hardware.profiles.served_model.
ServedService` fits the simulator's model on them.

The parent never imports torch; the workers do.
"""
from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd

from edgesim.calibration.testbed.pool import Batching, TimedArrivals, WorkerPool

__all__ = ["SERVED_COLUMNS", "Batching", "arrival_offsets", "profile_served", "calls_frame",
           "parse_batching", "WARM_GAP_S"]

SERVED_COLUMNS = ("model", "phase", "batch", "workers", "worker", "load", "max_batch",
                  "max_wait_ms", "run", "seq", "start_ms", "gap_ms", "sample_ms", "compute_ms")
#: Below this idle gap a call counts as warm (it was dispatched as the previous answer came in;
#: the dispatcher's own bookkeeping between the two takes some tens of microseconds).
WARM_GAP_S = 2e-4

Progress = Callable[[str], None]


def parse_batching(modes: Sequence[str], max_batch: int, max_wait_s: float) -> list[Batching]:
    """``none`` / ``dynamic`` names -> Batching rules (``dynamic`` takes max_batch and max_wait)."""
    out = []
    for m in modes:
        if m == "none":
            out.append(Batching(1, 0.0))
        elif m == "dynamic":
            if max_batch < 2:
                raise ValueError("dynamic batching needs max_batch >= 2")
            out.append(Batching(int(max_batch), float(max_wait_s)))
        else:
            raise ValueError(f"unknown batching mode {m!r}; use none or dynamic")
    return list(dict.fromkeys(out))


def arrival_offsets(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n arrival times of a Poisson process at ``rate`` conditioned on n arrivals in n / rate
    seconds (sorted uniforms): its realised rate is exactly the nominal one, so throughput
    comparisons do not compare two samples' arrival counts."""
    if not rate > 0 or n < 1:
        raise ValueError(f"rate must be > 0 and n >= 1, got rate={rate!r}, n={n!r}")
    return np.sort(rng.uniform(0.0, n / rate, size=int(n)))


def calls_frame(calls: dict, model: str, workers: int, load: float, batching: Batching,
                run: int, t0: float) -> pd.DataFrame:
    """A pool run's per-call arrays (:meth:`WorkerPool.serve`) as served-mode records."""
    order = np.lexsort((np.asarray(calls["sent"]), np.asarray(calls["worker"])))
    c = {k: np.asarray(v)[order] for k, v in calls.items()}
    w = c["worker"].astype(np.int64)
    seq = np.zeros(len(w), dtype=np.int64)
    for k in set(w.tolist()):
        seq[w == k] = np.arange(int((w == k).sum()))
    return pd.DataFrame({
        "model": model, "phase": "infer", "batch": c["size"].astype(np.int64), "workers": workers,
        "worker": w, "load": float(load), "max_batch": batching.max_batch,
        "max_wait_ms": batching.max_wait_s * 1e3, "run": run, "seq": seq,
        "start_ms": (c["sent"] - t0) * 1e3, "gap_ms": c["gap"] * 1e3,
        "sample_ms": (c["done"] - c["sent"]) * 1e3, "compute_ms": (c["end"] - c["start"]) * 1e3},
        columns=list(SERVED_COLUMNS))


def profile_served(model: str, mean_s: float, loads: Sequence[float] = (0.5, 0.8),
                   workers: Sequence[int] = (1,), calls: int = 2000,
                   batchings: Sequence[Batching] = (Batching(),), threads: int = 1, seed: int = 0,
                   malloc: str = "stable", warmup_s: float = 1.0, timeout_s: float = 900.0,
                   progress: Optional[Progress] = None,
                   stand_in_s: Optional[float] = None) -> pd.DataFrame:
    """Served-mode records of ``model`` (a zoo name) for every (workers, load, batching).

    ``mean_s``: the batch-1 back-to-back mean that sets the per-worker arrival rate
    ``load / mean_s``; ``calls``: requests per worker and run. ``stand_in_s``: sleeping workers
    instead of the model (tests). See the module docstring.
    """
    if not mean_s > 0:
        raise ValueError(f"mean_s must be > 0, got {mean_s!r}")
    if calls < 10:
        raise ValueError(f"calls must be >= 10, got {calls!r}")
    bad = [x for x in loads if not 0 < x < 1]
    if bad or not loads:
        raise ValueError(f"loads must be in (0, 1), got {list(loads)}")
    if not batchings:
        raise ValueError("give at least one batching rule")
    say = progress or (lambda msg: None)
    mb = max(bt.max_batch for bt in batchings)
    frames, runs, run = [], [], 0
    for w in sorted(dict.fromkeys(int(x) for x in workers)):
        if w < 1:
            raise ValueError(f"workers must be >= 1, got {w}")
        say(f"served: starting {w} worker process(es) for {model} ...")
        with WorkerPool(model, w, threads, warmup_s=warmup_s, malloc=malloc, max_batch=mb,
                        stand_in_s=stand_in_s) as pool:
            for load in loads:
                for bt in batchings:
                    rate = float(load) / mean_s
                    say(f"served W={w} load={load:g} batching={bt.label}: {calls} requests per "
                        f"worker at {rate:.2f}/s (~{calls / rate:.0f} s)")
                    # one conditioned Poisson stream per worker, merged in time order
                    offs = [arrival_offsets(rate, calls, np.random.default_rng([seed, run, k]))
                            for k in range(w)]
                    merged = np.concatenate(offs)
                    owner = np.repeat(np.arange(w), calls)
                    order = np.argsort(merged, kind="stable")
                    t0 = time.perf_counter() + 0.05
                    raw = pool.serve(TimedArrivals(merged[order], t0), bt, w * calls, timeout_s,
                                     owners=owner[order])
                    if raw["timed_out"] or raw["error"]:
                        raise RuntimeError(f"served-mode run W={w} load={load:g}: "
                                           f"{raw['error'] or f'took longer than {timeout_s:.0f} s'}")
                    frames.append(calls_frame(raw["calls"], model, w, load, bt, run, t0))
                    runs.append({"run": run, "workers": w, "load": float(load),
                                 "batching": bt.label, "calls": int(len(frames[-1])),
                                 "other_cores": raw.get("other_cores"),
                                 "steal_cores": raw.get("steal_cores")})
                    if (raw.get("other_cores") or 0) > 0.1:
                        say(f"served W={w} load={load:g}: other processes kept "
                            f"{raw['other_cores']:.2f} core(s) busy: the machine was not quiet")
                    run += 1
    out = pd.concat(frames, ignore_index=True)
    out.attrs["runs"] = runs         # per run: how busy the rest of the machine was
    return out
