"""Arrival processes. Each yields absolute arrival times, one at a time, from its own stream."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from edgesim.engine.rng import Stream

INF = float("inf")


class Arrivals:
    """``next_time(now)`` returns the absolute time of the next arrival (inf: no more)."""

    def next_time(self, now: float) -> float:
        raise NotImplementedError

    def mean_rate(self) -> float:
        raise NotImplementedError


class PoissonArrivals(Arrivals):
    def __init__(self, rate: float, stream: Stream) -> None:
        self.mean_gap = 1.0 / rate
        self.stream = stream

    def next_time(self, now: float) -> float:
        return now + self.stream.exp(self.mean_gap)

    def mean_rate(self) -> float:
        return 1.0 / self.mean_gap


class DeterministicArrivals(Arrivals):
    """Arrival k at ``offset + k / rate``, computed from k so no rounding error accumulates."""

    def __init__(self, rate: float, offset: float = 0.0) -> None:
        self.rate = rate
        self.offset = offset
        self.k = 0

    def next_time(self, now: float) -> float:
        t = self.offset + self.k / self.rate
        self.k += 1
        return t

    def mean_rate(self) -> float:
        return self.rate


class ModulatedPoisson(Arrivals):
    """A Poisson process whose rate follows a Markov chain (MMPP); on/off is its 2-state case.

    States last an exponential (or fixed) time with the given mean; the next state is drawn
    from ``transitions`` or taken cyclically. The process starts in state 0 at t = 0.
    """

    def __init__(self, rates: Sequence[float], sojourn: Sequence[float], stream: Stream,
                 transitions: Optional[Sequence[Sequence[float]]] = None,
                 deterministic_periods: bool = False, horizon: float = INF) -> None:
        self.rates = list(rates)
        self.sojourn = list(sojourn)
        self.stream = stream
        self.transitions = [list(r) for r in transitions] if transitions else None
        self.fixed = deterministic_periods
        # Past the horizon (the run's end) no arrival matters: stop there, so a chain stuck in
        # zero-rate states cannot spin forever.
        self.horizon = horizon
        self.state = 0
        self.state_end = self._period(0, 0.0)

    def _period(self, state: int, start: float) -> float:
        mean = self.sojourn[state]
        return start + (mean if self.fixed else self.stream.exp(mean))

    def _next_state(self) -> int:
        if self.transitions is None:
            return (self.state + 1) % len(self.rates)
        u, acc = self.stream.uniform(), 0.0
        row = self.transitions[self.state]
        for j, p in enumerate(row):
            acc += p
            if u < acc:
                return j
        return max(j for j, p in enumerate(row) if p > 0)

    def next_time(self, now: float) -> float:
        t = now
        while True:
            rate = self.rates[self.state]
            # Memorylessness: a fresh exponential from t is exact within the current state.
            cand = t + self.stream.exp(1.0 / rate) if rate > 0 else INF
            if cand < self.state_end:
                return cand
            t = self.state_end
            if t >= self.horizon:
                return INF
            self.state = self._next_state()
            self.state_end = self._period(self.state, t)

    def mean_rate(self) -> float:
        # Time-average rate of the embedded chain's stationary distribution weighted by sojourns.
        n = len(self.rates)
        if self.transitions is None:
            pi = np.full(n, 1.0 / n)
        else:
            p = np.array(self.transitions, dtype=float)
            w, v = np.linalg.eig(p.T)
            pi = np.real(v[:, np.argmin(np.abs(w - 1.0))])
            pi = pi / pi.sum()
        time = pi * np.array(self.sojourn)
        return float(np.dot(time, self.rates) / time.sum())


class TimesReplay(Arrivals):
    """Replays recorded arrival times (seconds, sorted); ``loop`` repeats with the trace's period."""

    def __init__(self, times: Sequence[float], loop: bool = False,
                 period: Optional[float] = None) -> None:
        self.times = np.sort(np.asarray(times, dtype=float))
        self.times = self.times - min(0.0, float(self.times[0])) if len(self.times) else self.times
        self.loop = loop and len(self.times) > 0
        if period is None and len(self.times):
            gaps = np.diff(self.times)
            period = float(self.times[-1] + (np.median(gaps) if len(gaps) else 1.0))
        self.period = period or 0.0
        self.i = 0
        self.base = 0.0

    def next_time(self, now: float) -> float:
        if self.i >= len(self.times):
            if not self.loop or self.period <= 0:
                return INF
            self.i = 0
            self.base += self.period
        t = self.base + float(self.times[self.i])
        self.i += 1
        return t

    def mean_rate(self) -> float:
        return len(self.times) / self.period if self.period > 0 else 0.0


def counts_to_times(counts: Sequence[float], interval: float, spread: str,
                    stream: Stream) -> np.ndarray:
    """Place per-interval counts on the time axis; fractional counts are rounded at random."""
    out: list[float] = []
    for i, c in enumerate(counts):
        n = int(math.floor(c))
        if c - n > 0 and stream.uniform() < c - n:
            n += 1
        if n <= 0:
            continue
        start = i * interval
        if spread == "burst":
            out.extend([start] * n)
        elif spread == "even":
            out.extend(start + (k + 0.5) * interval / n for k in range(n))
        else:
            out.extend(sorted(start + stream.uniform() * interval for _ in range(n)))
    return np.asarray(out, dtype=float)
