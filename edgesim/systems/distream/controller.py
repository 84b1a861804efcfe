"""Distream's workload adaptation controller (§1.3.4): Eq. 1.6-1.8 and the two-phase heuristic.

The controller chooses a partition point ``par_i`` in [0, 1] per camera: the expected share of
an ROI's (reference) inference cost that runs on the camera; the DAG partitioner turns it into
stochastic cuts (Eq. 1.5). It needs throughputs and pending workloads as functions of the
partition points, over the next control period gamma. The fluid model used here:

* camera i receives ``rate_i`` ROIs/s (after cross-camera balancing) and can process
  ``capacity_i`` full-ROI equivalents per second (executors / expected per-ROI DAG time on its
  device, at its batch size); the edge cluster likewise (``capacity`` summed over its GPUs);
* at ``par_i`` the camera runs ``k(par_i)`` inferences per ROI (`PathMix.camera_inferences`) and
  a share ``par_i`` of the ROI's cost; the edge the other ``D - k(par_i)`` and ``1 - par_i``;
* a site's throughput (inferences/s) is what is offered to it plus what it can drain from its
  backlog within gamma, capped by its capacity in inferences/s (``capacity * inferences per
  ROI-equivalent``) and, when it was measured to do better (batching), by the measured rate;
* the pending workload at the end of the period is
  ``w' = max(0, w + gamma * (offered - capacity))``.

`throughputs` is Eq. 1.6a-c, `latency` Eq. 1.7 (``w / TP + 1 / TP``, with the predicted w'),
`feasible` the constraints 1.8b-c and `plan` the heuristic. Phase 1 finds points that maximise
throughput ignoring the SLO by water-filling: every site at the same utilisation, counting its
backlog, which serves everything if possible and saturates every site otherwise. Phase 2
repeatedly takes the site with the largest latency and moves the partition point of that
camera (or, when the edge is the bottleneck, of the camera whose move helps the edge most) by
``step`` in the direction that lowers it, until every latency meets L_Max or no move helps.
Because Eq. 1.7 has a ``1 / TP`` term, the helpful direction is not always towards the edge: a
lightly loaded camera's latency falls when it is given more work.

``ascent=True`` (the default) refines phase 1 by coordinate ascent on Eq. 1.6c: throughput
counts inferences, so a cost-balanced split is not always the optimum. What it maximises is
``throughput``. ``"rate"`` (the default, the paper's): Eq. 1.6 writes TP^cam_i(par_i) and
TP^edge(par_1..par_N), functions of the points, "measured by monitoring the number of workloads
processed per time unit": a site's rate is ``min(offered, capacity)`` at the points, and
backlogs count only where the paper puts them, in Eq. 1.7's latency (phase 2). Where every site
keeps up that objective is flat and the water-filling start stays. ``"period"`` (edgesim's
reading before issue #26): what each site processes in the next gamma, its backlog drained
included (``min(offered + pending / gamma, capacity)``). Its optimum sends every new ROI away
from any site with a backlog to one with room, so as to empty every backlog within one period;
in closed loop the receiving site has the backlog at the next period and the points swing
between 0 and 1, each swing queueing a burst behind a backlog. On
`scenarios/distream/campus.yaml` that made Distream miss the SLO for 9.5-9.9% of the ROIs, more
than Distream-L, against 2.5% with ``"rate"`` (docs/guides/distream.md has the figures).
``ascent=False`` keeps the water-filling alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from edgesim.systems.distream.partition import PathMix

_EPS = 1e-12


@dataclass
class Site:
    """A camera or the edge cluster as the controller sees it."""

    capacity: float                  # full-ROI equivalents per second (inference cost units)
    pending: float = 0.0             # w: pending workloads (inferences), from the monitor view
    rate: float = 0.0                # ROIs/s arriving (cameras; unused for the edge)
    measured: Optional[float] = None  # measured throughput (inferences/s) over the last period


@dataclass
class Evaluation:
    par: list
    tp_cams: list
    tp_edge: float
    tp_system: float                 # Eq. 1.6c
    lat_cams: list
    lat_edge: float
    feasible: bool
    tp_rate: float = 0.0             # Eq. 1.6c on the rates sustained at par (no backlog drain)


@dataclass
class Plan:
    par: list
    evaluation: Evaluation
    preliminary: list = field(default_factory=list)   # phase 1's points
    moves: int = 0


def _per_roi_camera(par: float, mix: PathMix) -> float:
    """Inferences per ROI-equivalent of camera-side work at par (k(par) / par)."""
    p = max(par, 1e-6)
    return mix.camera_inferences(p) / p


def _site(offered: float, per_eq: float, site: Site, gamma: float) -> tuple[float, float, float]:
    """(throughput over the period, pending at its end, throughput sustained at this offered
    load), all in inferences. The first drains the backlog within gamma; the last is the
    paper's TP(par) of Eq. 1.6, what the site serves of what the points send it."""
    cap = site.capacity * per_eq
    if site.measured is not None and site.measured > cap:
        cap = site.measured
    tp = min(offered + site.pending / gamma, cap)
    pending = max(0.0, site.pending + gamma * (offered - cap))
    return tp, pending, min(offered, cap)


def latency(pending: float, tp: float) -> float:
    """Eq. 1.7: ``L = w / TP + 1 / TP``; no work and no throughput is no latency."""
    if tp <= _EPS:
        return 0.0 if pending <= _EPS else math.inf
    return pending / tp + 1.0 / tp


class _Fluid:
    """The fluid model of one controller iteration with each camera's terms kept, so that a
    trial moving one camera's point costs that camera's terms and three sums instead of a whole
    `evaluate`. The sums run over the same lists in the same order as `evaluate`'s (it is built on
    this class), so a trial's figures are bit for bit those of `evaluate` on the trial's points."""

    def __init__(self, par: Sequence[float], cams: Sequence[Site], edge: Site, mix: PathMix,
                 gamma: float) -> None:
        self.cams, self.edge, self.mix, self.gamma = cams, edge, mix, gamma
        self.par = list(par)
        terms = [self._camera(i, p) for i, p in enumerate(self.par)]
        self.tp = [t[0] for t in terms]
        self.lat = [t[1] for t in terms]
        self.off = [t[2] for t in terms]      # inferences/s the camera leaves to the edge
        self.eq = [t[3] for t in terms]       # ROI-equivalents/s it leaves to the edge
        self.rt = [t[4] for t in terms]       # inferences/s sustained at the point (rate)

    def _camera(self, i: int, p: float) -> tuple[float, float, float, float, float]:
        cam, mix = self.cams[i], self.mix
        k = mix.camera_inferences(p)
        tp, w_next, rt = _site(cam.rate * k, _per_roi_camera(p, mix), cam, self.gamma)
        lat = latency(w_next, tp) if (tp > 0 or w_next > 0) else 0.0
        return tp, lat, cam.rate * (mix.inferences - k), cam.rate * (1.0 - p), rt

    def _edge(self) -> tuple[float, float, float]:
        offered, eq = sum(self.off), sum(self.eq)
        per_eq = offered / eq if eq > _EPS else self.mix.inferences
        tp_e, w_e, rt_e = _site(offered, per_eq, self.edge, self.gamma)
        return tp_e, (latency(w_e, tp_e) if (tp_e > 0 or w_e > 0) else 0.0), rt_e

    def _swap(self, i: int, terms: tuple) -> tuple:
        old = (self.tp[i], self.lat[i], self.off[i], self.eq[i], self.rt[i])
        self.tp[i], self.lat[i], self.off[i], self.eq[i], self.rt[i] = terms
        return old

    def trial(self, i: int, q: float) -> tuple[float, float, float, float]:
        """(system throughput over the period, camera i's latency, the edge's latency, system
        throughput sustained at the points) with camera i at q."""
        terms = self._camera(i, q)
        old = self._swap(i, terms)
        try:
            tp_e, lat_e, rt_e = self._edge()
            return sum(self.tp) + tp_e, terms[1], lat_e, sum(self.rt) + rt_e
        finally:
            self._swap(i, old)

    def move(self, i: int, q: float) -> None:
        self.par[i] = q
        self._swap(i, self._camera(i, q))

    def evaluation(self, slo: float) -> Evaluation:
        tp_e, lat_e, rt_e = self._edge()
        ok = all(lc <= slo for lc in self.lat) and lat_e <= slo
        return Evaluation(list(self.par), list(self.tp), tp_e, sum(self.tp) + tp_e,
                          list(self.lat), lat_e, ok, sum(self.rt) + rt_e)


def evaluate(par: Sequence[float], cams: Sequence[Site], edge: Site, mix: PathMix,
             gamma: float, slo: float) -> Evaluation:
    """Throughputs (Eq. 1.6), latencies (Eq. 1.7) and the SLO constraints (Eq. 1.8b-c)."""
    return _Fluid(par, cams, edge, mix, gamma).evaluation(slo)


def throughputs(par, cams, edge, mix, gamma) -> tuple[list, float, float]:
    """Eq. 1.6a-c: per-camera throughputs, the edge's, and the system's (their sum)."""
    ev = evaluate(par, cams, edge, mix, gamma, math.inf)
    return ev.tp_cams, ev.tp_edge, ev.tp_system


def feasible(ev: Evaluation, slo: float) -> bool:
    """Eq. 1.8b-c."""
    return all(lc <= slo for lc in ev.lat_cams) and ev.lat_edge <= slo


# --------------------------------------------------------------------------- phase 1

def phase_one(cams: Sequence[Site], edge: Site, mix: PathMix, gamma: float,
              par0: Sequence[float] | None = None, idle_par: float = 1.0) -> list[float]:
    """Preliminary points maximising throughput without the SLO: the utilisation rho shared by
    every site, counting backlogs (``pending / inferences-per-ROI-equivalent`` over gamma).
    (Leaving the backlogs out, as TP(par) of Eq. 1.6 would suggest, missed the SLO for 13% of
    the ROIs on the campus run against 4% with them: a backlog the start ignores is left to
    the second phase, which moves one point at a time.)

    Camera i at utilisation rho takes ``par_i = (rho C_i - B_i / gamma) / rate_i`` (clipped to
    [0, 1]); rho solves ``edge load(rho) = rho`` (bisection; the edge load falls as rho grows).
    A camera without ROIs gets ``idle_par``."""
    n = len(cams)
    par0 = list(par0) if par0 is not None else [0.5] * n
    d = max(mix.inferences, _EPS)
    back = []
    for cam, p in zip(cams, par0):
        per_eq = _per_roi_camera(p, mix) if p > 0 else d
        back.append(cam.pending / max(per_eq, _EPS) / gamma)
    edge_back = edge.pending / d / gamma

    def points(rho: float) -> list[float]:
        out = []
        for cam, b in zip(cams, back):
            if cam.rate <= _EPS:
                out.append(idle_par)
            else:
                out.append(min(1.0, max(0.0, (rho * cam.capacity - b) / cam.rate)))
        return out

    def edge_load(rho: float) -> float:
        work = sum(c.rate * (1.0 - p) for c, p in zip(cams, points(rho)) if c.rate > _EPS)
        return (work + edge_back) / edge.capacity if edge.capacity > 0 else math.inf

    if edge.capacity <= 0:
        return [1.0 if c.rate > _EPS else idle_par for c in cams]
    lo, hi = 0.0, 1.0
    while edge_load(hi) > hi and hi < 1e9:
        hi *= 2.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if edge_load(mid) > mid:
            lo = mid
        else:
            hi = mid
    return points(hi)


THROUGHPUTS = ("rate", "period")


def ascend(par: Sequence[float], cams: Sequence[Site], edge: Site, mix: PathMix, gamma: float,
           steps: Sequence[float] = (0.1, 0.05, 0.02, 0.01), max_moves: int = 1000,
           incremental: bool = True, throughput: str = "rate") -> list[float]:
    """Coordinate ascent on Eq. 1.6c from ``par``: move one camera's point by +- step while
    the system throughput strictly grows, with finer steps when no move helps. Throughput is
    counted in inferences (IPS), which a cost-balanced split does not always maximise.

    ``throughput="rate"`` (the paper's): each site's TP(par) is what it sustains of the load
    the points send it, ``min(offered, capacity)`` (Eq. 1.6 writes TP^cam_i(par_i), a function
    of the point); backlogs enter through Eq. 1.7 only. Where every site keeps up the objective
    is flat and the water-filling start stays. ``"period"``: what each site processes in the
    next gamma, draining its backlog included, which rewards emptying every backlog within one
    period and so swings the points between periods (the guide has the figures).

    ``incremental=False`` evaluates every trial from scratch (the reference the incremental
    path is tested against: both give the same points, bit for bit)."""
    if throughput not in THROUGHPUTS:
        raise ValueError(f"throughput must be one of {', '.join(THROUGHPUTS)}, not "
                         f"{throughput!r}")
    pick = 3 if throughput == "rate" else 0

    def total(ev: Evaluation) -> float:
        return ev.tp_rate if throughput == "rate" else ev.tp_system

    fluid = _Fluid(par, cams, edge, mix, gamma)
    par = fluid.par
    best = total(fluid.evaluation(math.inf))
    moves = 0
    for step in steps:
        improved = True
        while improved and moves < max_moves:
            improved = False
            for i in range(len(par)):
                if cams[i].rate <= _EPS:
                    continue
                for delta in (step, -step):
                    q = min(1.0, max(0.0, par[i] + delta))
                    if q == par[i]:
                        continue
                    if incremental:
                        tp = fluid.trial(i, q)[pick]
                    else:
                        trial = par[:i] + [q] + par[i + 1:]
                        tp = total(evaluate(trial, cams, edge, mix, gamma, math.inf))
                    if tp > best * (1 + 1e-9) + 1e-12:
                        fluid.move(i, q)
                        best, improved = tp, True
                        moves += 1
                        break
    return list(par)


# --------------------------------------------------------------------------- phase 2

def phase_two(par: Sequence[float], cams: Sequence[Site], edge: Site, mix: PathMix,
              gamma: float, slo: float, step: float = 0.02, max_moves: int = 500,
              incremental: bool = True) -> tuple[list[float], Evaluation, int]:
    """Adjust the preliminary points until Eq. 1.8b-c hold or no move lowers the bottleneck.

    Each move: the bottleneck is the site with the largest latency above L_Max. For a camera,
    try its point +- step and keep whichever lowers ``max(L_cam_i, L_edge)`` most; for the edge,
    try each camera's point +- step and keep the one that lowers L_edge most without pushing
    that camera above L_Max. A bottleneck no move improves is set aside ("stuck").
    ``incremental=False``: every trial evaluated from scratch (the reference)."""
    fluid = _Fluid(par, cams, edge, mix, gamma)
    par = fluid.par
    ev = fluid.evaluation(slo)

    def trial(i: int, q: float) -> tuple[float, float]:
        """(camera i's latency, the edge's) with camera i at q."""
        if incremental:
            return fluid.trial(i, q)[1:3]
        e = evaluate(par[:i] + [q] + par[i + 1:], cams, edge, mix, gamma, slo)
        return e.lat_cams[i], e.lat_edge

    stuck: set = set()
    moves = 0
    while moves < max_moves and not ev.feasible:
        cands = [(ev.lat_cams[i], i) for i in range(len(cams))
                 if ev.lat_cams[i] > slo and i not in stuck]
        if ev.lat_edge > slo and "edge" not in stuck:
            cands.append((ev.lat_edge, "edge"))
        if not cands:
            break
        _lat, b = max(cands, key=lambda t: (t[0], str(t[1])))
        best = None
        if b == "edge":
            score0 = ev.lat_edge
            for i in range(len(cams)):
                for delta in (step, -step):
                    q = min(1.0, max(0.0, par[i] + delta))
                    if q == par[i]:
                        continue
                    lat_i, lat_e = trial(i, q)
                    if lat_i > max(slo, ev.lat_cams[i]):
                        continue
                    if lat_e < score0 - 1e-9 and (best is None or lat_e < best[0]):
                        best = (lat_e, i, q)
        else:
            score0 = max(ev.lat_cams[b], ev.lat_edge)
            for delta in (-step, step):
                q = min(1.0, max(0.0, par[b] + delta))
                if q == par[b]:
                    continue
                score = max(trial(b, q))
                if score < score0 - 1e-9 and (best is None or score < best[0]):
                    best = (score, b, q)
        if best is None:
            stuck.add(b)
            continue
        fluid.move(best[1], best[2])
        ev = fluid.evaluation(slo)
        moves += 1
    return list(par), ev, moves


def plan(cams: Sequence[Site], edge: Site, mix: PathMix, gamma: float, slo: float,
         step: float = 0.02, par0: Sequence[float] | None = None,
         idle_par: float = 1.0, ascent: bool = True, incremental: bool = True,
         throughput: str = "rate") -> Plan:
    """The two-phase heuristic for Eq. 1.8 (one controller iteration); ``ascent`` refines
    phase 1's water-filling to the one-period throughput optimum (see the module docstring;
    ``ascent=False``: water-filling alone). ``incremental=False`` evaluates every trial move
    from scratch: the reference, with the same result bit for bit, many times slower."""
    pre = phase_one(cams, edge, mix, gamma, par0, idle_par)
    if ascent:
        pre = ascend(pre, cams, edge, mix, gamma, incremental=incremental,
                     throughput=throughput)
    par, ev, moves = phase_two(pre, cams, edge, mix, gamma, slo, step, incremental=incremental)
    return Plan(par, ev, pre, moves)
