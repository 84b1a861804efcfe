"""Distream's cross-camera workload balancer (§1.3.2): Eq. 1.1-1.4 and the pairwise heuristic.

Workloads are counted in inferences (the paper's "workloads": one classifier run each). The
migration plan ``x`` maps ``(i, j)`` to the workload moved from camera ``i`` to camera ``j``.

Capacity normalisation (Eq. 1.4d). The paper writes ``u'_i = u_i * a_i`` with
``a_i = C_i / C_mean`` (Eq. 1.4c); that is the default here (``normalise="multiply"``).
``normalise="divide"`` applies ``u'_i = u_i / a_i`` instead; `DIVIDE_REASON` says why one
might want it.

Solving Eq. 1.4. `balance_iterative` is §1.3.2's heuristic as written: pair the most with the
least loaded camera and move ``dx`` (1 %) of the former's normalised workload, until v' <= beta
or no step improves; at 24 cameras that is hundreds of steps per call, at every 50 ms report.
`balance` (the default, `balance_direct`) computes what those steps converge to as dx shrinks,
in one water-filling sweep: the result agrees with the steps' to within a step (the tests check
it on random inputs). `BalanceCache` returns the previous result when no input has changed.
"""
from __future__ import annotations

import heapq
import math
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
    iterations: int = 0                      # steps (iterative); pieces of the sweep (direct)
    reason: str = "not-triggered"            # below-beta | no-improvement | exhausted | limit
    u: list = field(default_factory=list)    # u_i after balancing (Eq. 1.2)

    @property
    def triggered(self) -> bool:
        return self.reason != "not-triggered"


def balance_iterative(w: Sequence[float], w_hat: Sequence[float] | None,
                      capacities: Sequence[float], beta: float = 0.2, dx: float = 0.01,
                      max_iter: int = 20_000, normalise: str = "multiply") -> BalanceResult:
    """The heuristic of §1.3.2 for Eq. 1.4, step by step as the paper describes it (the
    reference `balance_direct` is checked against; ``balance(method="iterative")``).

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


METHODS = ("direct", "iterative")


def balance(w: Sequence[float], w_hat: Sequence[float] | None, capacities: Sequence[float],
            beta: float = 0.2, dx: float = 0.01, max_iter: int = 20_000,
            normalise: str = "multiply", method: str = "direct") -> BalanceResult:
    """§1.3.2's balancer for Eq. 1.4: ``method="direct"`` (`balance_direct`, the default)
    computes the state the pairwise dx steps converge to; ``"iterative"``
    (`balance_iterative`) takes the steps. ``max_iter`` bounds the iterative steps only."""
    if method == "direct":
        return balance_direct(w, w_hat, capacities, beta, dx, normalise)
    if method == "iterative":
        return balance_iterative(w, w_hat, capacities, beta, dx, max_iter, normalise)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")


def balance_direct(w: Sequence[float], w_hat: Sequence[float] | None,
                   capacities: Sequence[float], beta: float = 0.2, dx: float = 0.01,
                   normalise: str = "multiply") -> BalanceResult:
    """What `balance_iterative` converges to, computed by water-filling: one sort, a sweep of
    at most n pieces, and one entry per (donor, receiver) pair of the plan.

    The heuristic always moves work from the most to the least loaded camera, so in the limit
    of small steps the hot cameras come down together to a level H and the cold ones rise
    together to a level L, in normalised units (every camera between keeps its load), until
    Eq. 1.4e's v' reaches beta (``below-beta``) or H meets L (every camera equal:
    ``no-improvement``, as when beta = 0). Camera k holds ``r_k`` raw workloads per normalised
    one (``1 / a_k`` for "multiply", ``a_k`` for "divide"). Sweeping the migrated amount F, H,
    L and the mean u' are linear in F between the points where another camera joins the
    donors (H reaches its load) or the receivers (L reaches it); on each such piece v' = beta
    is a linear equation in F.

    Within a piece every donor gives in proportion to its ``r_i`` and every receiver takes in
    proportion to ``r_j`` (that keeps their levels together, as the alternating steps do), so
    the flow F_p of piece p splits as ``x_ij += F_p r_i r_j / (S_D S_R)``. Per camera, the
    loads, the amounts given and taken and v' agree with the steps to within a step
    (``dx * u'_max``); the heuristic's pairing of one donor with one receiver depends on the
    order of its steps among near-equal cameras, which the proportional split averages out.
    ``dx`` does not enter the result (it is the step being taken to zero); it is kept for the
    signature. Inputs the steps handle by their stopping rules rather than by levels (a
    camera without capacity, a negative workload) are passed to `balance_iterative`."""
    n = len(w)
    w_hat = list(w_hat) if w_hat is not None else [0.0] * n
    a = normalisation(capacities)
    u = loads(w, w_hat)
    s = normalised_loads(u, a, normalise)
    v = imbalance(s)
    res = BalanceResult(v_before=v, v_after=v, u=list(u))
    if n < 2 or v <= beta:
        return res
    if any(ak <= 0 for ak in a) or any(uk < 0 for uk in u):
        return balance_iterative(w, w_hat, capacities, beta, dx, normalise=normalise)
    r = [1.0 / ak if normalise == "multiply" else ak for ak in a]
    order = sorted(range(n), key=lambda k: (-s[k], k))       # most loaded first
    H, L, T = s[order[0]], s[order[-1]], sum(s)
    if H <= L:
        res.reason = "no-improvement"
        return res
    tol = 1e-12 * max(1.0, abs(H))
    hi, lo = 0, n            # donors: order[:hi], receivers: order[lo:], the rest between
    nD = nR = 0
    SD = SR = 0.0
    joined = [0] * n         # the piece in which camera k joined the donors or receivers
    pieces: list = []        # (F_p, S_D, S_R) per piece
    reason = "no-improvement"
    for _ in range(2 * n + 2):       # each piece but the last adds a camera
        p = len(pieces)
        while hi < lo and s[order[hi]] >= H - tol:
            k = order[hi]
            hi, nD, SD, joined[k] = hi + 1, nD + 1, SD + r[k], p
        while lo > hi and s[order[lo - 1]] <= L + tol:
            lo -= 1
            k = order[lo]
            nR, SR, joined[k] = nR + 1, SR + r[k], p
        # the four events, as amounts of flow from here: the next camera reached by H or by
        # L, H meeting L, v' reaching beta (phi = H - (1 + beta) * mean u' falls to 0)
        f_hi = (H - s[order[hi]]) * SD if hi < lo else math.inf
        f_lo = (s[order[lo - 1]] - L) * SR if lo > hi else math.inf
        f_meet = (H - L) / (1.0 / SD + 1.0 / SR)
        d_mean = (nR / SR - nD / SD) / n
        phi = H - (1.0 + beta) * T / n + 1e-9 * H    # aims a hair below beta, so that
        # rounding cannot leave v' above it (the steps, too, end at or below beta)
        d_phi = -1.0 / SD - (1.0 + beta) * d_mean
        # beta <= 0 is met only where every camera is equal: that ends by meeting, below
        f_beta = max(phi, 0.0) / -d_phi if d_phi < 0 and beta > 0 else math.inf
        f = max(min(f_hi, f_lo, f_meet, f_beta), 0.0)
        pieces.append((f, SD, SR))
        H, L, T = H - f / SD, L + f / SR, T + f * d_mean * n
        if f_meet <= f:          # every camera at one level: v' = 0, nothing left to improve
            reason = "no-improvement"
            break
        if f_beta <= f:          # v' = beta
            reason = "below-beta"
            break
    # x_ij = r_i r_j * sum of F_p / (S_D S_R) over the pieces where both had joined
    tail = [0.0] * (len(pieces) + 1)
    for p in range(len(pieces) - 1, -1, -1):
        f, sd, sr = pieces[p]
        tail[p] = tail[p + 1] + f / (sd * sr)
    x: dict = {}
    for i in order[:hi]:
        for j in order[lo:]:
            amount = r[i] * r[j] * tail[max(joined[i], joined[j])]
            if amount > _EPS:
                x[(i, j)] = amount
    res.x = x
    res.u = loads(w, w_hat, x)
    res.v_after = imbalance(normalised_loads(res.u, a, normalise))
    res.iterations = len(pieces)
    res.reason = reason
    return res


class BalanceCache:
    """`balance` that remembers its last inputs and result. The balancer reads nothing but its
    arguments, and a policy checks it at every monitor report (50 ms), often with nothing
    changed in between (no pending work, no new arrivals, a predictor at rest): then the last
    result is returned as it is (shared: callers must not modify it)."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._result: BalanceResult | None = None
        self.hits = 0
        self.misses = 0

    def balance(self, w: Sequence[float], w_hat: Sequence[float] | None,
                capacities: Sequence[float], beta: float = 0.2, dx: float = 0.01,
                normalise: str = "multiply") -> BalanceResult:
        # the module's `balance` is looked up per call and is part of the key, so a replaced
        # one (a test's spy, the benchmark's iterative reference) is called, never served stale
        fn = balance
        key = (tuple(w), None if w_hat is None else tuple(w_hat), tuple(capacities), beta, dx,
               normalise, fn)
        if key == self._key and self._result is not None:
            self.hits += 1
            return self._result
        self.misses += 1
        self._result = fn(w, w_hat, capacities, beta, dx, normalise=normalise)
        self._key = key
        return self._result


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




def queued_moves(x: dict, w: Sequence[float], w_hat: Sequence[float] | None,
                 movable: Sequence[int], capacities: Sequence[float],
                 normalise: str = "multiply") -> dict[tuple, int]:
    """The plan's moves of waiting requests, as whole requests: ``{(i, j): k_ij}``.

    Camera i's u_i (Eq. 1.2) is its pending workload w_i plus its predicted one w_hat_i, and
    the plan hands camera j the share ``x_ij / u_i`` of it; here that share is taken of both
    parts alike: of the ROIs waiting in i's queue now (the paper offloads ROIs from the
    camera's queue, §1.3.1), and, by `remaining_plan` and `migration_probabilities`, of its new
    ROIs. Donor i moves at most ``K_i = min(movable_i, floor(sum_j x_ij * w_i / u_i))`` waiting
    requests (``movable``: those that wait; the ones in service cannot move), split over its
    receivers in proportion to x_ij by largest remainders.

    The plan balances u, the next second's work; a waiting request cares about the queue
    ahead of it now. A camera that is hot by prediction can have a shorter queue than a
    receiver, and moving its waiting ROIs there would make them wait longer (on the campus
    run, moved ROIs missed the SLO 17% of the time against 4% for the rest). So a pair's move
    is cut back until the donor's queue stays at least the receiver's (both normalised as
    Eq. 1.4d) and neither v' of the queues (Eq. 1.3 on w) nor the plan's v' (on Eq. 1.2's u)
    grows: applying the moves never increases the imbalance of the queues they move between,
    nor the one the balancer minimises. Donors go most loaded first."""
    n = len(w)
    w_hat = list(w_hat) if w_hat is not None else [0.0] * n
    a = normalisation(capacities)
    gives: dict[int, list] = {}
    for (i, j), amount in x.items():
        if amount > 0:
            gives.setdefault(i, []).append((j, amount))
    u = loads(w, w_hat)
    un = normalised_loads(u, a, normalise)
    q = [float(v) for v in w]                    # the queues as the moves change them
    v = imbalance(normalised_loads(q, a, normalise))
    vu = imbalance(un)
    out: dict[tuple, int] = {}
    for i in sorted(gives, key=lambda k: (-un[k], k)):
        pairs = sorted(gives[i], key=lambda t: t[0])
        total = sum(amt for _j, amt in pairs)
        own = float(w[i]) + float(w_hat[i])
        pending = total * float(w[i]) / own if own > 0 and w[i] > 0 else 0.0
        K = min(max(0, int(movable[i])), int(math.floor(pending + 1e-9)))
        if K <= 0:
            continue
        # largest remainders: floor of each share, the leftover to the largest fractions
        share = [(j, K * amt / total) for j, amt in pairs]
        alloc = {j: int(math.floor(f)) for j, f in share}
        rest = K - sum(alloc.values())
        for j, _f in sorted(share, key=lambda t: (-(t[1] - math.floor(t[1])), t[0]))[:rest]:
            alloc[j] += 1
        for j in sorted(alloc, key=lambda jj: (-alloc[jj], jj)):
            k = alloc[j]
            while k > 0:
                q[i] -= k
                q[j] += k
                u[i] -= k
                u[j] += k
                ordered = _normalised(q[i], a[i], normalise) >= \
                    _normalised(q[j], a[j], normalise) - 1e-12
                v_new = imbalance(normalised_loads(q, a, normalise))
                vu_new = imbalance(normalised_loads(u, a, normalise))
                if ordered and v_new <= v + 1e-12 and vu_new <= vu + 1e-12:
                    v, vu = v_new, vu_new
                    break
                q[i] += k
                q[j] -= k
                u[i] += k
                u[j] -= k
                k -= max(1, k // 2) if k > 4 else 1
            if k > 0:
                out[(i, j)] = k
    return out

def remaining_plan(x: dict, moves: dict, w: Sequence[float]) -> tuple[dict, list[float]]:
    """What is left of the plan for new ROIs once ``moves`` (`queued_moves`) are made:
    ``x_ij - k_ij`` (dropped where nothing is left), and the pending workloads that remain,
    ``w_i - sum_j k_ij``; `migration_probabilities` on them gives the new ROIs' shares."""
    rest = {}
    for key, amount in x.items():
        left = amount - moves.get(key, 0)
        if left > _EPS:
            rest[key] = left
    w_left = [float(v) for v in w]
    for (i, _j), k in moves.items():
        w_left[i] -= k
    return rest, w_left
