"""Service times as a server sees them: idle-gap dependent and correlated in time.

A profile that times calls back to back (:mod:`edgesim.calibration.profiler`) keeps caches, TLBs
and the core's power state warm; a server runs a call after an idle gap whose length depends on
the load, and on a shared machine slow calls come in runs. :func:`edgesim.calibration.
served_profile.profile_served` measures calls the way a server makes them and records, per call,
its batch size, the idle gap before it and its time; :class:`ServedService` turns those records
into a service-time model for the simulator:

``s = (L(b) + D(g)) * e``

* ``L(b)``: the median time of *warm* calls (idle gap below ``warm_gap_s``) at batch ``b``;
  batch sizes with fewer than ``min_n`` warm calls are filled from the neighbouring measured
  sizes (scaled by the back-to-back profile's shape when one is given, else linearly);
* ``D(g)``: the *cold-start penalty* after an idle gap ``g``, in seconds (additive: what a cold
  call re-fetches, weights and code, does not grow with the batch): the median excess of cold
  calls over ``L(b)`` in bins of the gap (equal counts, log-spaced centres), interpolated
  linearly in ``log g`` from 0 at ``warm_gap_s``, constant beyond the last bin;
* ``e``: the relative residual ``s / (L(b) + D(g))`` of every measured call, in call order.
  ``order="replay"`` (default) replays the measured residual series in order from a random
  offset (per node, wrapping around), which keeps its whole autocorrelation (runs of slow calls);
  ``order="ar1"`` draws a Gaussian AR(1) with the lag-1 autocorrelation of the residuals' normal
  scores and maps it through their empirical quantile function (a Gaussian copula: the
  residuals' distribution and their lag-1 correlation, nothing else); ``order="iid"``
  resamples them independently (the old behaviour, for comparison).

The engine's node (:class:`edgesim.hardware.node.Node`) gives the model the idle gap of the
executor that takes the batch (``idle_aware``). Torch-free.
"""
from __future__ import annotations

import bisect
import math
from statistics import NormalDist
from typing import Mapping, Optional, Sequence

import numpy as np

from edgesim.engine.rng import Stream
from edgesim.hardware.service import ServiceModel

__all__ = ["ServedService", "ORDERS", "lag1", "normal_scores"]

ORDERS = ("replay", "ar1", "iid")
_ND = NormalDist()


def lag1(x: Sequence[float], segments: Optional[Sequence[int]] = None) -> float:
    """Lag-1 autocorrelation (Pearson) of ``x``, pairs taken only within a segment.

    ``segments``: a label per element (consecutive equal labels form a segment: one run of one
    worker), so that the jump from one run to the next is not counted as a lag-1 pair.
    """
    a = np.asarray(x, dtype=float)
    if a.size < 3:
        return 0.0
    same = np.ones(a.size - 1, dtype=bool) if segments is None else (
        np.asarray(segments)[1:] == np.asarray(segments)[:-1])
    if same.sum() < 2:
        return 0.0
    d = a - a.mean()
    var = float((d * d).mean())
    return float((d[1:] * d[:-1])[same].mean() / var) if var > 0 else 0.0


def normal_scores(x: Sequence[float]) -> np.ndarray:
    """``Phi^-1(rank / (n + 1))``: the values' ranks on the standard normal scale."""
    a = np.asarray(x, dtype=float)
    ranks = np.argsort(np.argsort(a, kind="stable"), kind="stable") + 1
    return np.array([_ND.inv_cdf(r / (a.size + 1)) for r in ranks])


class ServedService(ServiceModel):
    """The served-mode service-time model of the module docstring (seconds throughout).

    ``batch``, ``gap_s``, ``service_s``: one entry per measured call; ``segment``: a label per
    call (one run of one worker), consecutive in call order. ``fallback``: batch -> back-to-back
    median, seconds (a bundle's ``latency.csv``), used only for the *shape* of ``L(b)`` at
    batch sizes the served profile saw too rarely.
    """

    idle_aware = True

    def __init__(self, batch: Sequence[int], gap_s: Sequence[float], service_s: Sequence[float],
                 segment: Optional[Sequence] = None, order: str = "replay",
                 warm_gap_s: float = 2e-4, bins: int = 6, min_n: int = 5,
                 fallback: Optional[Mapping[int, float]] = None, source: str = "") -> None:
        if order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
        b = np.asarray(batch, dtype=np.int64)
        g = np.asarray(gap_s, dtype=float)
        s = np.asarray(service_s, dtype=float)
        if not (b.size == g.size == s.size) or b.size == 0:
            raise ValueError("batch, gap_s and service_s must be non-empty and of equal length")
        if (b < 1).any():
            raise ValueError("batch sizes must be >= 1")
        if not (np.isfinite(s).all() and (s > 0).all()):
            raise ValueError("service times must be finite numbers > 0")
        if not (np.isfinite(g).all() and (g >= 0).all()):
            raise ValueError("idle gaps must be finite numbers >= 0")
        if warm_gap_s <= 0 or bins < 1 or min_n < 1:
            raise ValueError("warm_gap_s must be > 0, bins and min_n >= 1")
        self.order, self.warm_gap_s, self.source = order, float(warm_gap_s), source
        seg = np.zeros(b.size, dtype=np.int64) if segment is None else np.asarray(segment)
        if seg.size != b.size:
            raise ValueError("segment must have one label per call")
        warm = g < warm_gap_s
        self.n_calls, self.n_warm = int(b.size), int(warm.sum())
        self._fit_location(b, s, warm, min_n, fallback)
        self._fit_penalty(b, g, s, warm, bins)
        loc = np.array([self.location(int(bi), float(gi)) for bi, gi in zip(b, g)])
        eps = s / loc
        self.eps = eps
        self.eps_sorted = np.sort(eps)
        self.eps_mean = float(eps.mean())
        self.lag1 = lag1(eps, seg)
        self.phi = float(np.clip(lag1(normal_scores(eps), seg), -0.99, 0.99))
        self._eps_list = eps.tolist()
        self._state: dict[str, list] = {}          # stream name -> [cursor] or [z]

    # ------------------------------------------------------------------ fitting
    def _fit_location(self, b: np.ndarray, s: np.ndarray, warm: np.ndarray, min_n: int,
                      fallback: Optional[Mapping[int, float]]) -> None:
        known: dict[int, float] = {}
        for bb in sorted(set(b.tolist())):
            sel = s[(b == bb) & warm]
            if sel.size >= min_n:
                known[bb] = float(np.median(sel))
        if not known:
            # No size has enough warm calls (a profile at very low load): the cold calls' own
            # minimum gap bin stands in, so L(b) then includes a little of the penalty.
            for bb in sorted(set(b.tolist())):
                sel = s[b == bb]
                if sel.size >= min_n:
                    known[bb] = float(np.quantile(sel, 0.1))
        if not known:
            raise ValueError(f"too few calls to fit a served model: no batch size has {min_n} "
                             f"measured calls")
        self.known = known
        self.fallback = {int(k): float(v) for k, v in (fallback or {}).items() if v and v > 0}
        self._loc_cache: dict[int, float] = dict(known)

    def _fit_penalty(self, b: np.ndarray, g: np.ndarray, s: np.ndarray, warm: np.ndarray,
                     bins: int) -> None:
        cold = ~warm
        xs, ys = [math.log(self.warm_gap_s)], [0.0]
        if cold.sum() >= 2:
            excess = s[cold] - np.array([self.batch_location(int(x)) for x in b[cold]])
            lg = np.log(g[cold])
            k = max(1, min(bins, int(cold.sum()) // 20))
            order = np.argsort(lg, kind="stable")
            for part in np.array_split(order, k):
                if part.size:
                    xs.append(float(np.median(lg[part])))
                    ys.append(float(np.median(excess[part])))
        # equal gap medians (ties) would make the interpolation ill-defined: keep the first
        keep = [0] + [i for i in range(1, len(xs)) if xs[i] > xs[i - 1] + 1e-12]
        self.pen_x = [xs[i] for i in keep]
        self.pen_y = [ys[i] for i in keep]

    # ------------------------------------------------------------------ the model
    def batch_location(self, b: int) -> float:
        """L(b): the warm median at batch ``b`` (seconds)."""
        hit = self._loc_cache.get(b)
        if hit is not None:
            return hit
        ks = sorted(self.known)
        i = bisect.bisect_left(ks, b)
        lo, hi = (ks[i - 1] if i > 0 else None), (ks[i] if i < len(ks) else None)
        fb = self.fallback
        near = lo if hi is None or (lo is not None and b - lo <= hi - b) else hi
        if b in fb and near in fb:
            v = self.known[near] * fb[b] / fb[near]          # the back-to-back shape, rescaled
        elif lo is not None and hi is not None:
            v = self.known[lo] + (self.known[hi] - self.known[lo]) * (b - lo) / (hi - lo)
        elif len(ks) >= 2:                                     # extrapolate the outer segment
            k0, k1 = (ks[-2], ks[-1]) if hi is None else (ks[0], ks[1])
            slope = (self.known[k1] - self.known[k0]) / (k1 - k0)
            v = max(self.known[near] + slope * (b - near), 0.5 * self.known[near])
        else:                                                  # one size, no shape: linear in b
            v = self.known[near] * b / near
        self._loc_cache[b] = v
        return v

    def penalty(self, gap_s: float) -> float:
        """D(g): the cold-start penalty after an idle gap (seconds; 0 below ``warm_gap_s``)."""
        if gap_s < self.warm_gap_s or len(self.pen_x) < 2:
            return 0.0
        x = math.log(gap_s)
        xs, ys = self.pen_x, self.pen_y
        if x >= xs[-1]:
            return ys[-1]
        j = bisect.bisect_right(xs, x)
        return ys[j - 1] + (ys[j] - ys[j - 1]) * (x - xs[j - 1]) / (xs[j] - xs[j - 1])

    def location(self, b: int, gap_s: float) -> float:
        """L(b) + D(g), kept at or above half of L(b) (a negative penalty fitted on noise)."""
        lb = self.batch_location(b)
        return max(lb + self.penalty(gap_s), 0.5 * lb)

    def _residual(self, stream: Stream) -> float:
        if self.order == "iid":
            return self._eps_list[int(stream.uniform() * len(self._eps_list))]
        st = self._state.get(stream.name)
        if self.order == "replay":
            if st is None:           # a random starting point, so nodes do not move in lockstep
                st = self._state[stream.name] = [int(stream.uniform() * len(self._eps_list))]
            i = st[0]
            st[0] = (i + 1) % len(self._eps_list)
            return self._eps_list[i]
        if st is None:
            z = stream.normal()
            self._state[stream.name] = st = [z]
        else:
            z = st[0] = self.phi * st[0] + math.sqrt(1.0 - self.phi ** 2) * stream.normal()
        return self._quantile(_ND.cdf(z))

    def _quantile(self, u: float) -> float:
        a = self.eps_sorted
        pos = u * (a.size - 1)
        i = int(pos)
        if i >= a.size - 1:
            return float(a[-1])
        return float(a[i] + (a[i + 1] - a[i]) * (pos - i))

    def sample_after(self, b: int, stream: Stream, idle_s: float) -> float:
        return self.location(b, idle_s) * self._residual(stream)

    def sample(self, b: int, stream: Stream) -> float:
        return self.sample_after(b, stream, 0.0)             # no gap known: a warm call

    def mean(self, b: int = 1) -> float:
        """The mean of a warm call at batch ``b``."""
        return self.batch_location(b) * self.eps_mean

    def reset(self) -> None:
        """Forget the per-node state (cursors, AR values) before reusing the model in a new run."""
        self._state.clear()

    def describe(self) -> str:
        pen = ", ".join(f"{math.exp(x) * 1e3:.2g} ms: {y * 1e3:+.3f}"
                        for x, y in zip(self.pen_x[1:], self.pen_y[1:]))
        locs = ", ".join(f"b{k} {v * 1e3:.3f}" for k, v in sorted(self.known.items()))
        return (f"served ({self.order}): {self.n_calls} calls, {self.n_warm} warm; warm median "
                f"ms {locs}; cold penalty by idle gap [{pen or 'none'}] ms; residual lag-1 "
                f"autocorrelation {self.lag1:.3f}")

    def max_batch(self) -> Optional[int]:
        return None

    def __repr__(self) -> str:
        return (f"ServedService({self.n_calls} calls, order={self.order!r}, "
                f"batches={sorted(self.known)})")
