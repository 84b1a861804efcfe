"""Distream's cross-camera workload balancer (§1.3.2): Eq. 1.1-1.4 and the pairwise heuristic.

Workloads are counted in inferences (the paper's "workloads": one classifier run each). The
migration plan ``x`` maps ``(i, j)`` to the workload moved from camera ``i`` to camera ``j``.

Capacity normalisation (Eq. 1.4d). The paper writes ``u'_i = u_i * a_i`` with
``a_i = C_i / C_mean`` (Eq. 1.4c); that is the default here (``normalise="multiply"``).
``normalise="divide"`` applies ``u'_i = u_i / a_i`` instead; `DIVIDE_REASON` says why one
might want it.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Sequence

_EPS = 1e-12

NORMALISE = ("multiply", "divide")
DIVIDE_REASON = (
    "Consideration#2 of §1.3.2 asks for workloads 'proportional to each camera's compute "
    "capacity', so a camera with twice the capacity should end with twice the workload when "
    "balanced. With a_i = C_i / C_mean and C a capacity (inferences per second, as everywhere "
    "in edgesim) that needs u'_i = u_i / a_i; the paper's literal u'_i = u_i * a_i (Eq. 1.4d) "
    "is the same rule only when C is read as a per-inference cost, and with C a capacity it "
    "moves work towards slow cameras.")


def loads(w: Sequence[float], w_hat: Sequence[float] | None = None,
          x: dict | None = None) -> list[float]:
    """Eq. 1.2 (Eq. 1.1's u_i when ``w_hat`` is zero):
    ``u_i = w_i + sum_j x_ji - sum_j x_ij + w_hat_i``."""
    n = len(w)
    u = [float(w[i]) + (float(w_hat[i]) if w_hat is not None else 0.0) for i in range(n)]
    for (i, j), amount in (x or {}).items():
        u[i] -= amount
        u[j] += amount
    return u


def normalisation(capacities: Sequence[float]) -> list[float]:
    """Eq. 1.4c: ``a_i = C_i / C_mean``."""
    mean = sum(capacities) / len(capacities) if capacities else 0.0
    if mean <= 0:
        return [1.0] * len(capacities)
    return [c / mean for c in capacities]


def _normalised(ui: float, ai: float, normalise: str) -> float:
    if normalise == "multiply":
        return ui * ai
    return ui / ai if ai > 0 else float("inf")


def normalised_loads(u: Sequence[float], a: Sequence[float],
                     normalise: str = "multiply") -> list[float]:
    """Eq. 1.4d: ``u'_i = u_i * a_i`` as the paper writes it (``normalise="multiply"``), or
    ``u'_i = u_i / a_i`` (``"divide"``, see `DIVIDE_REASON`)."""
    if normalise not in NORMALISE:
        raise ValueError(f"normalise must be one of {', '.join(NORMALISE)}, not {normalise!r}")
    return [_normalised(ui, ai, normalise) for ui, ai in zip(u, a)]


def imbalance(u: Sequence[float]) -> float:
    """Eq. 1.1 / 1.3: ``v = u_max / u_mean - 1``; 0 when there is no workload at all."""
    if not u:
        return 0.0
    mean = sum(u) / len(u)
    if mean <= _EPS:
        return 0.0
    return max(u) / mean - 1.0


def objective(v: float, beta: float) -> float:
    """Eq. 1.4a: ``max(v' - beta, 0)``."""
    return max(v - beta, 0.0)


@dataclass
class BalanceResult:
    x: dict = field(default_factory=dict)   # (i, j) -> workload moved from i to j
    v_before: float = 0.0                    # v' with x = 0
    v_after: float = 0.0                     # v' with x
    iterations: int = 0
    reason: str = "not-triggered"            # below-beta | no-improvement | exhausted | limit
    u: list = field(default_factory=list)    # u_i after balancing (Eq. 1.2)

    @property
    def triggered(self) -> bool:
        return self.reason != "not-triggered"


def balance(w: Sequence[float], w_hat: Sequence[float] | None, capacities: Sequence[float],
            beta: float = 0.2, dx: float = 0.01, max_iter: int = 20_000,
            normalise: str = "multiply") -> BalanceResult:
    """The heuristic of §1.3.2 for Eq. 1.4.

    Not triggered when ``v' <= beta``. Otherwise it starts from ``x = 0``; each iteration pairs
    the camera with the largest normalised workload ``i`` with the one with the smallest ``j``
    and moves ``dx * u'_i`` (1 % by default) from i to j, until ``v'`` is at most ``beta``
    (``below-beta``) or no longer improves (``no-improvement``; the last, non-improving step is
    undone). When several cameras share the maximum, one step cannot lower v' although it
    helps: such a step counts as an improvement if the maximum does not grow and the pair's
    larger load falls (without this, two equally hot cameras would never be balanced). A
    camera can give away at most its own workload ``w_i + w_hat_i`` (``exhausted`` when the
    most loaded camera has nothing left to give). ``normalise`` is Eq. 1.4d's form
    (`normalised_loads`).
    """
    n = len(w)
    w_hat = list(w_hat) if w_hat is not None else [0.0] * n
    a = normalisation(capacities)
    u = loads(w, w_hat)
    v = imbalance(normalised_loads(u, a, normalise))
    res = BalanceResult(v_before=v, v_after=v, u=list(u))
    if n < 2 or v <= beta:
        return res
    own = [max(0.0, float(w[i]) + float(w_hat[i])) for i in range(n)]
    out = [0.0] * n                      # workload camera i has given away (net of returns)
    x: dict = {}
    un = normalised_loads(u, a, normalise)
    total = sum(un)
    # The most and least loaded cameras come from two heaps with lazy deletion (an entry is
    # stale when its camera's version moved on): O(log n) per step instead of O(n).
    ver = [0] * n
    hi = [(-un[k], k, 0) for k in range(n)]
    lo = [(un[k], k, 0) for k in range(n)]
    heapq.heapify(hi)
    heapq.heapify(lo)

    def top(heap):
        while heap[0][2] != ver[heap[0][1]]:
            heapq.heappop(heap)
        return heap[0][1]

    reason = "limit"
    it = 0
    while it < max_iter:
        i, j = top(hi), top(lo)
        if i == j or un[i] <= un[j]:
            reason = "no-improvement"
            break
        step = dx * un[i]
        back = x.get((j, i), 0.0)       # first undo flow from j to i, if any
        give = min(step, back + (own[i] - out[i]))
        if give <= _EPS:
            reason = "exhausted"
            break
        it += 1
        old = (un[i], un[j], total)
        un[i] = _normalised(u[i] - give, a[i], normalise)
        un[j] = _normalised(u[j] + give, a[j], normalise)
        total = total - old[0] - old[1] + un[i] + un[j]
        for k in (i, j):
            ver[k] += 1
            heapq.heappush(hi, (-un[k], k, ver[k]))
            heapq.heappush(lo, (un[k], k, ver[k]))
        new_top = un[top(hi)]
        v_new = new_top / (total / n) - 1.0 if total > _EPS else 0.0
        # A step improves when v' falls, or, while another camera shares the maximum (which
        # then takes its own steps), when the maximum stays and the pair's larger load falls.
        tie = new_top <= old[0] + _EPS and max(un[i], un[j]) < old[0] - _EPS
        if not (v_new < v - _EPS or tie):
            un[i], un[j], total = old     # undo the step that did not improve
            reason = "no-improvement"
            break
        v = v_new
        from_back = min(give, back)
        if from_back > 0:
            if back - from_back <= _EPS:
                del x[(j, i)]
            else:
                x[(j, i)] = back - from_back
        if give - from_back > 0:
            x[(i, j)] = x.get((i, j), 0.0) + give - from_back
        u[i] -= give
        u[j] += give
        out[i] += give - from_back
        out[j] -= from_back
        if v <= beta:
            reason = "below-beta"
            break
    res.x, res.v_after, res.iterations, res.reason, res.u = x, v, it, reason, u
    return res


def migration_probabilities(x: dict, w: Sequence[float],
                            w_hat: Sequence[float] | None = None) -> dict[int, list]:
    """The plan as probabilities for camera i's new ROIs: ``p_ij = x_ij / (w_i + w_hat_i)``
    (the share of its own workload camera i hands to j), scaled down if they exceed 1."""
    n = len(w)
    own = [float(w[i]) + (float(w_hat[i]) if w_hat is not None else 0.0) for i in range(n)]
    out: dict[int, list] = {}
    for (i, j), amount in sorted(x.items()):
        if amount > 0 and own[i] > 0:
            out.setdefault(i, []).append((j, amount / own[i]))
    for i, pairs in out.items():
        total = sum(p for _j, p in pairs)
        if total > 1.0:
            out[i] = [(j, p / total) for j, p in pairs]
    return out
