"""Distream's DAG partitioner (§1.3.3): full DAG profiling and stochastic partitioning (Eq. 1.5).

Conventions used throughout the package:

* An *execution path* is a list of vertices (classifiers) from the DAG's entry to where the
  request stops; a DAG job's `JobPlan` is one such path.
* Its *normalised accumulated inference costs* are the labels of Fig. 1.7: vertex k carries
  ``(c_0 + ... + c_k) / (c_0 + ... + c_{n-1})``, the last vertex 1.0.
* A *cut* ``m`` (0..n) is how many leading vertices run on the camera: vertices ``0..m-1`` on
  the camera, ``m..n-1`` on the edge cluster. "Partitioning at vertex B" (B is vertex k) is cut
  ``k + 1``. The cut's cost fraction is ``points[m]`` with ``points = [0] + labels``, so cut 0
  (nothing on the camera) has cost 0 and cut n (everything) cost 1.

Everything here is a pure function of numbers; `policies.py` feeds it the service models.
"""
from __future__ import annotations

import bisect
from typing import Callable, Mapping, Sequence

_EPS = 1e-12


# --------------------------------------------------------------------------- Step 1: profiling

def execution_paths(dag: Mapping[str, Mapping], entry: str | None = None) -> list[list[str]]:
    """Every execution path of a DAG given as ``{vertex: {"next": {succ: prob}, ...}}``, in
    topological (depth-first, listing) order from ``entry`` (default: the first vertex). A path
    ends at a vertex whose outgoing probabilities sum to less than 1 (leaves sum to 0)."""
    entry = entry if entry is not None else next(iter(dag))
    out: list[list[str]] = []

    def walk(v: str, trail: list[str]) -> None:
        trail = trail + [v]
        succ = dict(dag[v].get("next", {}) or {})
        for w, p in succ.items():
            if p > 0 and w not in trail:
                walk(w, trail)
        if 1.0 - sum(succ.values()) > 1e-12:
            out.append(trail)

    walk(entry, [])
    return out


def accumulated_costs(costs: Sequence[float]) -> list[float]:
    """Normalised accumulated inference cost of each vertex of one path (Fig. 1.7's labels)."""
    total = float(sum(costs))
    if total <= 0:
        n = len(costs)
        return [(k + 1) / n for k in range(n)]      # no cost information: count vertices
    acc, out = 0.0, []
    for c in costs:
        acc += float(c)
        out.append(acc / total)
    out[-1] = 1.0
    return out


def cut_points(costs: Sequence[float]) -> list[float]:
    """Cost fraction of every cut 0..n of one path: ``[0] + accumulated_costs(costs)``."""
    return [0.0] + accumulated_costs(costs)


def profile_paths(paths: Sequence[Sequence[str]],
                  cost_of: Callable[[str], float]) -> list[list[float]]:
    """Full DAG profiling (Step#1): the labels of every path, from each vertex's inference cost
    (``cost_of(vertex)``, e.g. the model's mean batch-1 time on a reference device)."""
    return [accumulated_costs([cost_of(v) for v in path]) for path in paths]


# --------------------------------------------------------------------------- Step 2: Eq. 1.5

def split_probabilities(par: float, cost_b: float, cost_c: float) -> tuple[float, float]:
    """Eq. 1.5: ``P_B = (par - Cost_C) / (Cost_B - Cost_C)`` and ``P_C = 1 - P_B``, for
    ``Cost_B <= par <= Cost_C``. The expected cost ``P_B Cost_B + P_C Cost_C`` equals ``par``."""
    if abs(cost_b - cost_c) < _EPS:
        return 1.0, 0.0
    p_b = (par - cost_c) / (cost_b - cost_c)
    p_b = min(1.0, max(0.0, p_b))
    return p_b, 1.0 - p_b


def bracket(par: float, points: Sequence[float]) -> tuple[int, int, float]:
    """The two cuts whose costs bracket ``par`` and the probability of the lower one (Eq. 1.5):
    ``(m_lo, m_hi, P_lo)``. ``par`` on a cut, or outside [0, 1], gives that cut with P = 1."""
    n = len(points) - 1
    if par <= points[0] + _EPS:
        return 0, 0, 1.0
    if par >= points[n] - _EPS:
        return n, n, 1.0
    for m in range(n):
        lo, hi = points[m], points[m + 1]
        if hi - lo <= _EPS:
            continue                    # a zero-cost vertex: no split inside it
        if lo - _EPS <= par <= hi + _EPS:
            if abs(par - lo) <= _EPS:
                return m, m, 1.0
            if abs(par - hi) <= _EPS:
                return m + 1, m + 1, 1.0
            p_lo, _ = split_probabilities(par, lo, hi)
            return m, m + 1, p_lo
    return n, n, 1.0  # pragma: no cover  (points are non-decreasing from 0 to 1)


def draw_cut(par: float, points: Sequence[float], u: float) -> int:
    """A stochastic cut for one request (the *stochastic path execution plan*), from a uniform
    draw ``u`` in [0, 1): the lower bracketing cut with probability P_lo, else the upper."""
    m_lo, m_hi, p_lo = bracket(par, points)
    return m_lo if u < p_lo else m_hi


def expected_cut(par: float, points: Sequence[float]) -> float:
    """Expected number of vertices on the camera under the stochastic plan (piecewise linear)."""
    m_lo, m_hi, p_lo = bracket(par, points)
    return p_lo * m_lo + (1.0 - p_lo) * m_hi


def expected_cost(par: float, points: Sequence[float]) -> float:
    """Expected cost fraction on the camera: equals ``par`` (clipped to [0, 1])."""
    m_lo, m_hi, p_lo = bracket(par, points)
    return p_lo * points[m_lo] + (1.0 - p_lo) * points[m_hi]


def nearest_cut(par: float, points: Sequence[float]) -> int:
    """The deterministic cut whose cost is nearest to ``par`` (VideoEdge-L, Distream-L); ties go
    to the smaller cut."""
    best, best_d = 0, float("inf")
    for m, c in enumerate(points):
        d = abs(c - par)
        if d < best_d - _EPS:
            best, best_d = m, d
    return best


class PathMix:
    """The execution paths of the workload with their probabilities: expected camera-side
    inferences per ROI, k(par), and inferences per ROI, D, for the controller."""

    def __init__(self, points: Sequence[Sequence[float]], weights: Sequence[float]) -> None:
        total = float(sum(weights)) or 1.0
        self.points = [list(p) for p in points]
        self.weights = [w / total for w in weights]
        self.inferences = sum(w * (len(p) - 1) for p, w in zip(self.points, self.weights))
        # k(par) is piecewise linear with breaks at the union of the paths' cut costs:
        # tabulate it there once and interpolate (the controller evaluates it very often).
        # (A zero-cost vertex makes k jump at its cost: then k is computed exactly each time.)
        self._table = all(b - a > _EPS for p in self.points for a, b in zip(p, p[1:]))
        xs = sorted({min(1.0, max(0.0, c)) for p in self.points for c in p} | {0.0, 1.0})
        self._xs = xs
        self._ks = [self._exact(x) for x in xs]

    def _exact(self, par: float) -> float:
        return sum(w * expected_cut(par, p) for p, w in zip(self.points, self.weights))

    def camera_inferences(self, par: float) -> float:
        """k(par): expected vertices per ROI run on the camera at partition point ``par``."""
        if not self._table:
            return self._exact(par)
        xs, ks = self._xs, self._ks
        if par <= 0.0:
            return ks[0]
        if par >= 1.0:
            return ks[-1]
        m = bisect.bisect_right(xs, par)
        x0, x1 = xs[m - 1], xs[m]
        if x1 - x0 <= _EPS:
            return ks[m]
        return ks[m - 1] + (ks[m] - ks[m - 1]) * (par - x0) / (x1 - x0)
