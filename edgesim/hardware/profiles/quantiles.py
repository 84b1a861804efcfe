"""QuantileTable: a per-batch service-time distribution given by quantiles (p10/median/p90/p99).

What :meth:`edgesim.hardware.profiles.predictor.Predictor.service_model` hands to the simulator; it
samples by inverse CDF through the quantiles. This module must not import torch.
"""
from __future__ import annotations

import bisect
import math
from typing import Optional, Sequence

from edgesim.engine.rng import Stream
from edgesim.hardware.service import ServiceModel

__all__ = ["QuantileTable"]

_Z90 = 1.2815515655446004    # standard normal quantile at 0.9
_Z99 = 2.3263478740408408    # ... at 0.99


# ------------------------------------------------------------------------------ quantile table

_KNOT_P = (0.0, 0.1, 0.5, 0.9, 0.99)
_LN10 = math.log(10.0)


def _knots(med: float, p10: Optional[float], p90: Optional[float],
           p99: Optional[float]) -> tuple[tuple[float, ...], float]:
    """Quantile-function knots at p = 0, .1, .5, .9, .99 and the exponential tail scale above .99.

    Missing quantiles are filled from a lognormal through the median and the nearest known one.
    Below p10 the p10-median slope continues down to p = 0 (floored at half of p10); above p99
    the tail is exponential with the p90-p99 log-slope, q(p) = p99 + s ln(0.01 / (1 - p)) with
    s = (p99 - p90) / ln 10.
    """
    def sig(v: Optional[float], z: float, upper: bool) -> Optional[float]:
        if v is None or v <= 0:
            return None
        return max(0.0, (math.log(v / med) if upper else math.log(med / v)) / z)

    sigma_hi = sig(p90, _Z90, True)
    if sigma_hi is None:
        sigma_hi = sig(p99, _Z99, True)
    sigma_lo = sig(p10, _Z90, False)
    if sigma_hi is None:
        sigma_hi = sigma_lo if sigma_lo is not None else 0.0
    if sigma_lo is None:
        sigma_lo = sigma_hi
    if p10 is None:
        p10 = med * math.exp(-_Z90 * sigma_lo)
    if p90 is None:
        p90 = med * math.exp(_Z90 * sigma_hi)
    if p99 is None:
        p99 = med * math.exp(_Z99 * sigma_hi)
    q0 = max(p10 - 0.25 * (med - p10), 0.5 * p10)
    vals = [q0, p10, med, p90, p99]
    for i in range(1, len(vals)):          # keep the quantile function non-decreasing
        vals[i] = max(vals[i], vals[i - 1])
    return tuple(vals), (vals[4] - vals[3]) / _LN10


class QuantileTable(ServiceModel):
    """Per-batch service-time distributions given by quantiles (seconds).

    ``spread='quantiles'``: inverse-CDF sampling through the piecewise-linear quantile function
    with knots at p = 0, 0.1 (p10), 0.5 (median), 0.9 (p90), 0.99 (p99) and an exponential tail
    above p99 (see :func:`_knots`); quantiles a batch lacks are filled from a lognormal through
    the ones it has, and a batch with only a median is deterministic.
    ``spread='lognormal'``: lognormal with the batch's median and p90 (sigma = ln(p90/median) /
    z_0.9; p10 is used when p90 is missing). ``spread='none'``: the median exactly.
    Batches between table entries interpolate every quantile linearly; outside, ``ValueError``.
    """

    SPREADS = ("quantiles", "lognormal", "none")

    def __init__(self, batches: Sequence[int], median_s: Sequence[float],
                 p10_s: Optional[Sequence[Optional[float]]] = None,
                 p90_s: Optional[Sequence[Optional[float]]] = None,
                 p99_s: Optional[Sequence[Optional[float]]] = None, spread: str = "quantiles",
                 provenance: Optional[Sequence[str]] = None,
                 sources: Optional[Sequence[str]] = None,
                 warnings: Sequence[str] = ()) -> None:
        if spread not in self.SPREADS:
            raise ValueError(f"spread must be one of {', '.join(self.SPREADS)}, got {spread!r}")
        n = len(batches)
        if n == 0 or len(median_s) != n:
            raise ValueError("batches and median_s must be non-empty and of equal length")
        col = lambda xs: list(xs) if xs is not None else [None] * n  # noqa: E731
        order = sorted(range(n), key=lambda i: batches[i])
        self.batches = [int(batches[i]) for i in order]
        if len(set(self.batches)) != n:
            raise ValueError("repeated batch sizes")
        m, a, b, c = (col(median_s), col(p10_s), col(p90_s), col(p99_s))
        self.median = [float(m[i]) for i in order]
        if not all(0 < v < math.inf for v in self.median):
            raise ValueError("every median must be a finite number > 0")
        clean = lambda v: None if v is None or v != v else float(v)  # noqa: E731
        self.p10 = [clean(a[i]) for i in order]
        self.p90 = [clean(b[i]) for i in order]
        self.p99 = [clean(c[i]) for i in order]
        self.spread = spread
        prov, src = col(provenance), col(sources)
        self.provenance: dict[int, Optional[str]] = {self.batches[k]: prov[i]
                                                     for k, i in enumerate(order)}
        self.sources: dict[int, Optional[str]] = {self.batches[k]: src[i]
                                                  for k, i in enumerate(order)}
        self.warnings = list(warnings)
        self._cache: dict[int, tuple] = {}

    # per-batch parameters ---------------------------------------------------------------
    def _at(self, b: int) -> tuple[float, Optional[float], Optional[float], Optional[float]]:
        bs = self.batches
        i = bisect.bisect_left(bs, b)
        if i < len(bs) and bs[i] == b:
            return self.median[i], self.p10[i], self.p90[i], self.p99[i]
        if i == 0 or i == len(bs):
            raise ValueError(f"batch {b} outside the table's batches {bs[0]}..{bs[-1]}")
        w = (b - bs[i - 1]) / (bs[i] - bs[i - 1])

        def li(xs):
            x0, x1 = xs[i - 1], xs[i]
            return None if x0 is None or x1 is None else x0 + (x1 - x0) * w
        return li(self.median), li(self.p10), li(self.p90), li(self.p99)

    def _params(self, b: int) -> tuple:
        hit = self._cache.get(b)
        if hit is not None:
            return hit
        med, p10, p90, p99 = self._at(b)
        if self.spread == "none" or (p10 is None and p90 is None and p99 is None):
            hit = ("const", med)
        elif self.spread == "lognormal":
            if p90 is not None and p90 > 0:
                sigma = max(0.0, math.log(p90 / med) / _Z90)
            elif p10 is not None and p10 > 0:
                sigma = max(0.0, math.log(med / p10) / _Z90)
            else:
                sigma = max(0.0, math.log(p99 / med) / _Z99)
            hit = ("lognormal", med, sigma)
        else:
            vals, scale = _knots(med, p10, p90, p99)
            hit = ("quantiles", vals, scale)
        self._cache[b] = hit
        return hit

    def quantile(self, b: int, p: float) -> float:
        """The batch-b service time at probability p in [0, 1)."""
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be in [0, 1), got {p!r}")
        prm = self._params(b)
        if prm[0] == "const":
            return prm[1]
        if prm[0] == "lognormal":
            from statistics import NormalDist
            return prm[1] * math.exp(prm[2] * NormalDist().inv_cdf(p)) if p > 0 else 0.0
        return _inverse(prm[1], prm[2], p)

    def sample(self, b: int, stream: Stream) -> float:
        prm = self._cache.get(b) or self._params(b)
        kind = prm[0]
        if kind == "const":
            return prm[1]
        if kind == "lognormal":
            return prm[1] * math.exp(prm[2] * stream.normal()) if prm[2] > 0 else prm[1]
        return _inverse(prm[1], prm[2], stream.uniform())

    def mean(self, b: int = 1) -> float:
        prm = self._params(b)
        if prm[0] == "const":
            return prm[1]
        if prm[0] == "lognormal":
            return prm[1] * math.exp(0.5 * prm[2] ** 2)
        v, s = prm[1], prm[2]
        area = sum((_KNOT_P[i + 1] - _KNOT_P[i]) * (v[i] + v[i + 1]) / 2 for i in range(4))
        return area + (1.0 - _KNOT_P[4]) * (v[4] + s)

    def max_batch(self) -> Optional[int]:
        return self.batches[-1]

    def __repr__(self) -> str:
        provs = sorted({p for p in self.provenance.values() if p})
        return (f"QuantileTable(batches {self.batches[0]}..{self.batches[-1]}, "
                f"spread={self.spread!r}, provenance={'/'.join(provs) or '?'})")


def _inverse(vals: tuple[float, ...], scale: float, u: float) -> float:
    if u >= 0.99:
        return vals[4] + scale * math.log(0.01 / max(1.0 - u, 1e-300))
    if u < 0.1:
        return vals[0] + (vals[1] - vals[0]) * (u / 0.1)
    if u < 0.5:
        return vals[1] + (vals[2] - vals[1]) * ((u - 0.1) / 0.4)
    if u < 0.9:
        return vals[2] + (vals[3] - vals[2]) * ((u - 0.5) / 0.4)
    return vals[3] + (vals[4] - vals[3]) * ((u - 0.9) / 0.09)
