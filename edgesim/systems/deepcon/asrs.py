"""Adaptive stratified reservoir sampling (DEEPCON §4.2, Alg. 3) and the plain reservoir it
improves on.

An edge node's stream is split into sub-streams (strata) by the class its model predicts. Every
window, each stratum i gets a reservoir of N_i places, N_i from the previous window's count of
that stratum (``getSampleSize``: proportional allocation of the window's sample size, largest
remainders first, at least ``min_per_stratum`` for every stratum seen, so no sub-stream is
missed however rare). A stratum that appears for the first time gets ``min_per_stratum`` places
as it appears. Within a stratum, items are kept by reservoir sampling without replacement
(Algorithm R, as §4.2 describes it): the first N_i items fill the reservoir; the i-th item after
that is accepted with probability N_i / i and replaces a uniformly chosen kept item, so every
item of the stratum ends up in the sample with the same probability N_i / C_i.

The first window has no previous counts; its allocation assumes all classes equally frequent
and the window's expected item count.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np


def allocate(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split ``total`` places over strata in proportion to ``weights`` (largest remainders),
    then raise every stratum with a positive weight to at least ``minimum``."""
    w = [max(0.0, float(x)) for x in weights]
    s = sum(w)
    if s <= 0 or total <= 0:
        return [minimum if x > 0 else 0 for x in w]
    exact = [total * x / s for x in w]
    out = [int(math.floor(e)) for e in exact]
    left = total - sum(out)
    # Ties in the remainder go to the lower stratum index: deterministic.
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[:left]:
        out[i] += 1
    return [max(n, minimum) if w[i] > 0 else n for i, n in enumerate(out)]


class Reservoir:
    """Algorithm R over one stream: ``offer`` each item in arrival order."""

    __slots__ = ("capacity", "seen", "kept")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.seen = 0
        self.kept: list = []

    def offer(self, item, uniform) -> None:
        self.seen += 1
        if len(self.kept) < self.capacity:
            self.kept.append(item)
            return
        # One draw decides both: slot k = floor(u * i) is below the capacity with probability
        # N / i (accept), and is then uniform over the kept items (which one it replaces).
        k = int(uniform() * self.seen)
        if k < self.capacity:
            self.kept[k] = item


class StreamSampler:
    """One edge node's sampler across windows: ``sample`` a window's strata labels."""

    def __init__(self, classes: int, fraction: float, uniform, stratified: bool = True,
                 min_per_stratum: int = 1) -> None:
        self.classes = classes
        self.fraction = fraction
        self.uniform = uniform              # a callable returning floats in [0, 1)
        self.stratified = stratified
        self.minimum = min_per_stratum
        self.prev_counts: Optional[np.ndarray] = None
        self.prev_total: Optional[int] = None
        self.last_sizes: dict[int, int] = {}

    def sample_size(self, expected: float) -> int:
        """Places this window: the fraction of the previous window's items (or of ``expected``
        items in the first window)."""
        base = self.prev_total if self.prev_total is not None else expected
        return int(round(self.fraction * base))

    def sizes(self, total: int) -> list[int]:
        """getSampleSize: places per stratum from the previous window's counts."""
        weights = (self.prev_counts if self.prev_counts is not None
                   else np.ones(self.classes))
        return allocate(total, weights, self.minimum)

    def sample(self, strata: np.ndarray, expected: float) -> np.ndarray:
        """Indices (into ``strata``) of the items kept this window, in increasing order."""
        total = self.sample_size(expected)
        uni = self.uniform
        if self.stratified:
            sizes = self.sizes(total)
            res: dict[int, Reservoir] = {}
            for j, s in enumerate(strata.tolist()):
                r = res.get(s)
                if r is None:
                    r = res[s] = Reservoir(sizes[s] if sizes[s] > 0 else self.minimum)
                r.offer(j, uni)
            self.last_sizes = {s: r.capacity for s, r in res.items()}
            kept = [j for r in res.values() for j in r.kept]
        else:
            r = Reservoir(total)
            for j in range(len(strata)):
                r.offer(j, uni)
            self.last_sizes = {-1: total}
            kept = r.kept
        self.prev_counts = np.bincount(strata, minlength=self.classes).astype(float)
        self.prev_total = int(len(strata))
        return np.array(sorted(kept), dtype=np.int64)


def estimate(values: np.ndarray, strata: np.ndarray, kept: np.ndarray,
             stratified: bool) -> Optional[float]:
    """The window's mean of ``values`` estimated from the kept items: the stratified estimator
    (each stratum's sample mean weighted by the stratum's share of the window) for ASRS, the
    plain sample mean for one reservoir. None when nothing was kept."""
    if len(kept) == 0:
        return None
    if not stratified:
        return float(values[kept].mean())
    counts = np.bincount(strata, minlength=int(strata.max()) + 1).astype(float)
    sums = np.bincount(strata[kept], weights=values[kept], minlength=len(counts))
    ns = np.bincount(strata[kept], minlength=len(counts)).astype(float)
    covered = ns > 0
    # Strata without a kept item (possible only with min_per_stratum 0) are left out and the
    # others' weights renormalised.
    w = counts[covered] / counts[covered].sum()
    return float((w * sums[covered] / ns[covered]).sum())
