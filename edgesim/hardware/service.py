"""Service-time models: how long one batch of a model takes on a device.

Parametric models give the batch-1 time and scale it by ``1 + batch_cost * (b - 1)``; profile
tables (from calibration) interpolate the measured median (and p90 for spread) linearly over batch.
Exponential and deterministic service exist so queueing theory can check the engine.
"""
from __future__ import annotations

import bisect
import csv
import math
from pathlib import Path
from typing import Optional, Sequence

from edgesim.engine.rng import Stream

_Z90 = 1.2815515655446004  # standard normal quantile at 0.9


class ServiceModel:
    """Draws a service time for a batch of size ``b`` from a stream."""

    #: True for a model whose time depends on how long the executor sat idle before the call
    #: (a cold start after an idle gap is slower than a call that follows another at once):
    #: the node then calls ``sample_after(b, stream, idle_s)`` instead of ``sample``.
    idle_aware = False

    def sample(self, b: int, stream: Stream) -> float:
        raise NotImplementedError

    def sample_after(self, b: int, stream: Stream, idle_s: float) -> float:
        """A service time for a call that starts after the executor was idle ``idle_s`` seconds
        (0: it finished another call just now); models that ignore it draw as ``sample``."""
        return self.sample(b, stream)

    def mean(self, b: int = 1) -> float:
        raise NotImplementedError

    def max_batch(self) -> Optional[int]:
        """Largest batch this model can answer for; None: any."""
        return None


class _Scaled(ServiceModel):
    def __init__(self, batch_cost: float) -> None:
        self.batch_cost = batch_cost

    def factor(self, b: int) -> float:
        return 1.0 + self.batch_cost * (b - 1)


class Constant(_Scaled):
    def __init__(self, time: float, batch_cost: float = 1.0) -> None:
        super().__init__(batch_cost)
        self.time = time

    def sample(self, b: int, stream: Stream) -> float:
        return self.time if b == 1 else self.time * self.factor(b)

    def mean(self, b: int = 1) -> float:
        return self.time * self.factor(b)


class Exponential(_Scaled):
    def __init__(self, mean: float, batch_cost: float = 1.0) -> None:
        super().__init__(batch_cost)
        self._mean = mean

    def sample(self, b: int, stream: Stream) -> float:
        return stream.exp(self._mean if b == 1 else self._mean * self.factor(b))

    def mean(self, b: int = 1) -> float:
        return self._mean * self.factor(b)


class Lognormal(_Scaled):
    """Parameterised by its mean and coefficient of variation, the figures users know."""

    def __init__(self, mean: float, cv: float, batch_cost: float = 1.0) -> None:
        super().__init__(batch_cost)
        self._mean = mean
        self.sigma = math.sqrt(math.log1p(cv * cv))
        self.mu = math.log(mean) - 0.5 * self.sigma ** 2

    def sample(self, b: int, stream: Stream) -> float:
        x = math.exp(self.mu + self.sigma * stream.normal())
        return x if b == 1 else x * self.factor(b)

    def mean(self, b: int = 1) -> float:
        return self._mean * self.factor(b)


class Empirical(_Scaled):
    """Resamples measured service times uniformly (the empirical distribution)."""

    def __init__(self, samples: Sequence[float], batch_cost: float = 1.0) -> None:
        super().__init__(batch_cost)
        if not samples:
            raise ValueError("no samples")
        self.samples = [float(s) for s in samples]

    def sample(self, b: int, stream: Stream) -> float:
        x = self.samples[int(stream.uniform() * len(self.samples))]
        return x if b == 1 else x * self.factor(b)

    def mean(self, b: int = 1) -> float:
        return sum(self.samples) / len(self.samples) * self.factor(b)


class ProfileTable(ServiceModel):
    """Measured median (and p90) per batch size, linearly interpolated between measured sizes.

    With ``spread='lognormal'`` and a p90 column, a batch's time is lognormal with that median
    and p90 (sigma = ln(p90/median) / z_0.9); otherwise the interpolated median exactly.
    """

    def __init__(self, batches: Sequence[int], median_s: Sequence[float],
                 p90_s: Optional[Sequence[float]] = None, spread: str = "lognormal",
                 source: str = "") -> None:
        order = sorted(range(len(batches)), key=lambda i: batches[i])
        self.batches = [int(batches[i]) for i in order]
        self.median = [float(median_s[i]) for i in order]
        self.p90 = [float(p90_s[i]) for i in order] if p90_s is not None else None
        self.spread = spread if self.p90 is not None else "none"
        self.source = source
        self._cache: dict[int, tuple[float, float]] = {}

    def _interp(self, values: list, b: int) -> float:
        bs = self.batches
        i = bisect.bisect_left(bs, b)
        if i < len(bs) and bs[i] == b:
            return values[i]
        if i == 0 or i == len(bs):
            raise ValueError(f"batch {b} outside the measured range {bs[0]}..{bs[-1]}")
        b0, b1 = bs[i - 1], bs[i]
        return values[i - 1] + (values[i] - values[i - 1]) * (b - b0) / (b1 - b0)

    def _params(self, b: int) -> tuple[float, float]:
        hit = self._cache.get(b)
        if hit is None:
            med = self._interp(self.median, b)
            sigma = 0.0
            if self.spread == "lognormal":
                p90 = self._interp(self.p90, b)
                sigma = max(0.0, math.log(p90 / med) / _Z90) if p90 > 0 and med > 0 else 0.0
            hit = self._cache[b] = (med, sigma)
        return hit

    def sample(self, b: int, stream: Stream) -> float:
        med, sigma = self._params(b)
        return med * math.exp(sigma * stream.normal()) if sigma > 0 else med

    def mean(self, b: int = 1) -> float:
        med, sigma = self._params(b)
        return med * math.exp(0.5 * sigma * sigma)

    def max_batch(self) -> Optional[int]:
        return self.batches[-1]


def read_profile(path: Path, model: str) -> ProfileTable:
    """Read a calibration CSV (model, batch, median_ms[, p90_ms], optional phase) for one model."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(line for line in fh if not line.startswith("#"))]
    if not rows:
        raise ValueError(f"{path}: no rows")
    missing = {"model", "batch", "median_ms"} - set(rows[0])
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; has {sorted(rows[0])}")
    mine = [r for r in rows if r["model"] == model and r.get("phase", "infer") in ("infer", "")]
    if not mine:
        have = sorted({r["model"] for r in rows})
        raise LookupError(f"{path}: no rows for model {model!r}; it has {', '.join(have)}")
    def number(row: dict, col: str, cast=float):
        line = rows.index(row) + 2          # the header is line 1 (comment lines aside)
        try:
            return cast(row[col])
        except (TypeError, ValueError):
            raise ValueError(f"{path}: data row {line - 1}, column {col!r}: {row[col]!r} is not "
                             f"{'a whole number' if cast is int else 'a number'}") from None

    batches = [number(r, "batch", int) for r in mine]
    if len(set(batches)) != len(batches):
        raise ValueError(f"{path}: model {model!r} has repeated batch sizes")
    med = [number(r, "median_ms") / 1e3 for r in mine]
    # Spread needs a p90 for every batch; with any missing the median is used exactly.
    has_p90 = all((r.get("p90_ms") or "").strip() for r in mine)
    p90 = [number(r, "p90_ms") / 1e3 for r in mine] if has_p90 else None
    return ProfileTable(batches, med, p90, source=str(path))


class ShareOf(ServiceModel):
    """A fixed share of another model's times (a forward pass as a share of a training step),
    drawn from the caller's own stream."""

    def __init__(self, base: ServiceModel, share: float) -> None:
        self.base, self.share = base, share

    def sample(self, b: int, stream: Stream) -> float:
        return self.share * self.base.sample(b, stream)

    def mean(self, b: int = 1) -> float:
        return self.share * self.base.mean(b)

    def max_batch(self) -> Optional[int]:
        return self.base.max_batch()
