"""The statistics both sides of ``edgesim testbed`` are judged by (split out of testbed.py).

Latency statistics drop the first ``warmup`` fraction of requests (by arrival), throughput is
the remaining requests over the time from the first one's arrival to the last one's response;
the real and the simulated side go through the same code. Torch-free.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

__all__ = ["TARGETS", "latency_stats", "compare"]

# Acceptance targets, |sim - real| / real in percent.
TARGETS = {"mean": 10.0, "p95": 15.0, "throughput": 5.0}


def latency_stats(arrival: np.ndarray, finish: np.ndarray, warmup: float = 0.05) -> dict:
    """Latency (ms) and throughput (requests/s) of the requests after the first ``warmup`` fraction.

    Requests are ordered by arrival; unanswered ones (NaN finish) are counted as ``missing`` and
    left out of the latency figures.
    """
    arrival = np.asarray(arrival, dtype=float)
    finish = np.asarray(finish, dtype=float)
    if arrival.shape != finish.shape:
        raise ValueError(f"arrival and finish differ in length ({arrival.size} vs {finish.size})")
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup must be in [0, 1), got {warmup!r}")
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
