"""The run summary: counts, throughput over windows, latency percentiles, SLO misses,
utilisation and a Little's-law check, computed from the recorded columns."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from edgesim.engine.request import COMPLETED, DROPPED, FAILED, TIMED_OUT


def _q(values: np.ndarray, q: float) -> Optional[float]:
    return float(np.quantile(values, q)) if len(values) else None


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> Optional[float]:
    """``np.quantile(np.repeat(values, weights), q)`` (linear interpolation) without building
    the repeated array: an aggregated request stands for ``weights`` arrivals of one latency.

    Not ``np.quantile(values, q, weights=weights)``: numpy (2.x) weighs only with
    ``method="inverted_cdf"``, a step function, while the unweighted summary uses the default
    linear method; an aggregated run must give the percentiles of the same run unaggregated
    (tests/test_fleet.py checks it), so the linear rule over the repeated values is kept."""
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    if not len(values):
        return None
    order = np.argsort(values, kind="stable")
    v = values[order]
    ends = np.cumsum(weights[order])          # repeated index k lies in run searchsorted(k)
    h = (int(ends[-1]) - 1) * q
    lo = int(math.floor(h))
    a, b = np.searchsorted(ends, [lo, min(lo + 1, int(ends[-1]) - 1)], side="right")
    return float(v[a] + (h - lo) * (v[b] - v[a]))


def _lat_stats(latency: np.ndarray, w: Optional[np.ndarray]) -> dict:
    if w is None:
        return {"mean": float(latency.mean()) if len(latency) else None,
                "p50": _q(latency, 0.5), "p75": _q(latency, 0.75), "p95": _q(latency, 0.95),
                "p99": _q(latency, 0.99), "max": float(latency.max()) if len(latency) else None}
    total = w.sum()
    return {"mean": float((latency * w).sum() / total) if total else None,
            **{f"p{int(q * 100)}": weighted_quantile(latency, w, q) for q in (0.5, 0.75, 0.95,
                                                                              0.99)},
            "max": float(latency.max()) if len(latency) else None}


def _round(x):
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    return x


def summarize(rec, samples, *, start: float, end: float, window: float, slo: Optional[float],
              generated: int, generated_measured: int, in_flight: int, system_area: float,
              node_names, node_executors, busy_area, overdue=None,
              units_measured: Optional[int] = None) -> dict:
    """Statistics over the measurement period [start, end): requests created after warm-up.

    ``overdue`` is ``(deadline, generated_by_deadline[, units_by_deadline])``: the measured
    requests created by ``end - slo``; those of them without a row are still in flight older
    than the SLO.

    When a source aggregates arrivals (the recorder has ``units``), throughput, latency, wait
    and the SLO miss rate count arrivals (each request weighs its ``units``), so they compare
    with the unaggregated run's; ``requests`` counts events and ``units`` arrivals, and
    Little's law stays in events (L and lambda count the same things)."""
    n = len(rec)
    outcome = np.frombuffer(rec.outcome, dtype=np.int8) if n else np.zeros(0, np.int8)
    warm = np.frombuffer(rec.warm, dtype=np.int8).astype(bool) if n else np.zeros(0, bool)
    created = np.frombuffer(rec.created, dtype=float) if n else np.zeros(0)
    finished = np.frombuffer(rec.finished, dtype=float) if n else np.zeros(0)
    measured = ~warm
    done = measured & (outcome == COMPLETED)
    latency = finished[done] - created[done]
    span = max(end - start, 0.0)
    units = None
    if getattr(rec, "has_units", False):
        units = np.frombuffer(rec.units, dtype=np.int32).astype(np.int64) if n else \
            np.zeros(0, np.int64)
    w_done = units[done] if units is not None else None

    # Throughput: completions per window over the measurement period, whatever their creation.
    n_win = max(int(math.floor(span / window + 1e-9)), 1) if span > 0 else 0
    if n_win:
        completed = outcome == COMPLETED
        idx = np.floor((finished[completed] - start) / window).astype(np.int64)
        inside = (idx >= 0) & (idx < n_win)
        weights = units[completed][inside] if units is not None else None
        per_window = np.bincount(idx[inside], weights=weights, minlength=n_win) / window
    else:
        per_window = np.zeros(0)
    throughput = {"avg": float(per_window.mean()) if n_win else None,
                  "median": _q(per_window, 0.5), "p75": _q(per_window, 0.75),
                  "p99": _q(per_window, 0.99)}
    if n_win == 0 or per_window.size == 0:
        throughput = {k: None for k in throughput}

    lat = _lat_stats(latency, w_done)

    counts = {
        "generated": int(generated_measured),
        "completed": int(done.sum()),
        "dropped": int((measured & (outcome == DROPPED)).sum()),
        "failed": int((measured & (outcome == FAILED)).sum()),
        "timed_out": int((measured & (outcome == TIMED_OUT)).sum()),
        "in_flight": int(in_flight),
        "warmup": int(generated - generated_measured),
    }
    ended = int(measured.sum())
    late_in_flight = 0
    if slo is not None and overdue is not None and overdue[1] is not None:
        late_in_flight = max(0, int(overdue[1]) - int((measured & (created <= overdue[0])).sum()))
        counts["in_flight_past_slo"] = late_in_flight
    if units is not None:
        counts["units"] = {
            "generated": int(units_measured) if units_measured is not None else None,
            "completed": int(w_done.sum()),
            **{k: int(units[measured & (outcome == code)].sum())
               for k, code in (("dropped", DROPPED), ("failed", FAILED),
                               ("timed_out", TIMED_OUT))}}
    miss = None
    if slo is not None and units is not None:
        # the same rule, in arrivals: a request's units missed or made the SLO together
        late_u = 0
        if overdue is not None and len(overdue) > 2 and overdue[2] is not None:
            late_u = max(0, int(overdue[2]) - int(units[measured & (created <= overdue[0])].sum()))
            counts["units"]["in_flight_past_slo"] = late_u
        ended_u = int(units[measured].sum())
        if ended_u + late_u:
            miss = float((int(w_done[latency > slo].sum()) + (ended_u - int(w_done.sum()))
                          + late_u) / (ended_u + late_u))
    elif slo is not None and ended + late_in_flight:
        # A request that never completed missed its SLO as surely as a slow one, and so has
        # one still queued at the end that is already older than the SLO.
        miss = float(((latency > slo).sum() + (ended - counts["completed"]) + late_in_flight)
                     / (ended + late_in_flight))

    util = {}
    for name, execs, area in zip(node_names, node_executors, busy_area):
        util[name] = float(area / (execs * span)) if span > 0 else None

    # Little's law over the measurement period: L (time-average number in system) against
    # lambda * W (arrival rate times mean time in system of the requests that arrived in it).
    sojourn = finished[measured] - created[measured]
    lam = generated_measured / span if span > 0 else 0.0
    w = float(sojourn.mean()) if len(sojourn) else 0.0
    big_l = system_area / span if span > 0 else 0.0
    little = {"L": big_l, "lambda": lam, "W": w, "lambda_W": lam * w,
              "rel_error": abs(big_l - lam * w) / big_l if big_l > 0 else None}

    # Inferences per second (Distream's IPS): every batch item a node finished, per sample.
    m = len(samples.time)
    if m:
        t = np.frombuffer(samples.time, dtype=float)
        done_n = np.frombuffer(samples.done, dtype=np.int64)
        length = np.frombuffer(samples.length, dtype=float)
        times, idx = np.unique(t, return_inverse=True)
        per = np.bincount(idx, weights=done_n) / np.bincount(idx, weights=length) * \
            np.bincount(idx)
        inference = {"avg": float(done_n.sum() / span) if span > 0 else None,
                     "median": _q(per, 0.5), "p75": _q(per, 0.75), "p99": _q(per, 0.99)}
    else:
        inference = {"avg": None, "median": None, "p75": None, "p99": None}

    waits = np.frombuffer(rec.wait, dtype=float)[done] if n else np.zeros(0)
    if w_done is None:
        wait = {"mean": float(waits.mean()) if len(waits) else None, "p95": _q(waits, 0.95)}
    else:
        wait = {"mean": float((waits * w_done).sum() / w_done.sum()) if w_done.sum() else None,
                "p95": weighted_quantile(waits, w_done, 0.95)}
    return _round({
        "requests": counts,
        "throughput_ips": throughput,
        "inference_ips": inference,
        "latency_s": lat,
        "wait_s": wait,
        "slo_s": slo,
        "slo_miss_rate": miss,
        "utilization": util,
        "littles_law": little,
        "measured_s": span,
    })
