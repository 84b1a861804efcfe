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
counts inferences, so a cost-balanced split is not always the one-period optimum, and with the
ascent the heuristic matches an exhaustive search of Eq. 1.8 (§1.3.4's first phase "maximize[s]
the throughput without considering the latency SLO"). ``ascent=False`` keeps the water-filling
alone: in closed loop the one-period optimum chases the backlog drained within gamma, so the
points swing from one period to the next, and water-filling alone missed the SLO less on
`scenarios/distream/campus.yaml` (docs/guides/distream.md has the figures).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from .partition import PathMix

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


def _site(offered: float, per_eq: float, site: Site, gamma: float) -> tuple[float, float]:
    """(throughput, pending at the end of the period), both in inferences."""
    cap = site.capacity * per_eq
    if site.measured is not None and site.measured > cap:
        cap = site.measured
    tp = min(offered + site.pending / gamma, cap)
    pending = max(0.0, site.pending + gamma * (offered - cap))
    return tp, pending


def latency(pending: float, tp: float) -> float:
    """Eq. 1.7: ``L = w / TP + 1 / TP``; no work and no throughput is no latency."""
    if tp <= _EPS:
        return 0.0 if pending <= _EPS else math.inf
    return pending / tp + 1.0 / tp


def evaluate(par: Sequence[float], cams: Sequence[Site], edge: Site, mix: PathMix,
             gamma: float, slo: float) -> Evaluation:
    """Throughputs (Eq. 1.6), latencies (Eq. 1.7) and the SLO constraints (Eq. 1.8b-c)."""
    tp_c, lat_c = [], []
    edge_offered = edge_eq = 0.0
    d = mix.inferences
    for p, cam in zip(par, cams):
        k = mix.camera_inferences(p)
        tp, w_next = _site(cam.rate * k, _per_roi_camera(p, mix), cam, gamma)
        tp_c.append(tp)
        lat_c.append(latency(w_next, tp) if (tp > 0 or w_next > 0) else 0.0)
        edge_offered += cam.rate * (d - k)
        edge_eq += cam.rate * (1.0 - p)
    per_eq = edge_offered / edge_eq if edge_eq > _EPS else d
    tp_e, w_e = _site(edge_offered, per_eq, edge, gamma)
    lat_e = latency(w_e, tp_e) if (tp_e > 0 or w_e > 0) else 0.0
    ok = all(lc <= slo for lc in lat_c) and lat_e <= slo
    return Evaluation(list(par), tp_c, tp_e, sum(tp_c) + tp_e, lat_c, lat_e, ok)


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


def ascend(par: Sequence[float], cams: Sequence[Site], edge: Site, mix: PathMix, gamma: float,
           steps: Sequence[float] = (0.1, 0.05, 0.02, 0.01), max_moves: int = 1000) -> list[float]:
    """Coordinate ascent on Eq. 1.6c from ``par``: move one camera's point by +- step while
    the system throughput strictly grows, with finer steps when no move helps. Throughput is
    counted in inferences (IPS), which a cost-balanced split does not always maximise."""
    par = list(par)
    best = evaluate(par, cams, edge, mix, gamma, math.inf).tp_system
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
                    trial = par[:i] + [q] + par[i + 1:]
                    tp = evaluate(trial, cams, edge, mix, gamma, math.inf).tp_system
                    if tp > best * (1 + 1e-9) + 1e-12:
                        par, best, improved = trial, tp, True
                        moves += 1
                        break
    return par


# --------------------------------------------------------------------------- phase 2

def phase_two(par: Sequence[float], cams: Sequence[Site], edge: Site, mix: PathMix,
              gamma: float, slo: float, step: float = 0.02,
              max_moves: int = 500) -> tuple[list[float], Evaluation, int]:
    """Adjust the preliminary points until Eq. 1.8b-c hold or no move lowers the bottleneck.

    Each move: the bottleneck is the site with the largest latency above L_Max. For a camera,
    try its point +- step and keep whichever lowers ``max(L_cam_i, L_edge)`` most; for the edge,
    try each camera's point +- step and keep the one that lowers L_edge most without pushing
    that camera above L_Max. A bottleneck no move improves is set aside ("stuck")."""
    par = list(par)
    ev = evaluate(par, cams, edge, mix, gamma, slo)
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
                    trial = par[:i] + [q] + par[i + 1:]
                    e = evaluate(trial, cams, edge, mix, gamma, slo)
                    if e.lat_cams[i] > max(slo, ev.lat_cams[i]):
                        continue
                    if e.lat_edge < score0 - 1e-9 and (best is None or e.lat_edge < best[0]):
                        best = (e.lat_edge, trial, e)
        else:
            score0 = max(ev.lat_cams[b], ev.lat_edge)
            for delta in (-step, step):
                q = min(1.0, max(0.0, par[b] + delta))
                if q == par[b]:
                    continue
                trial = par[:b] + [q] + par[b + 1:]
                e = evaluate(trial, cams, edge, mix, gamma, slo)
                score = max(e.lat_cams[b], e.lat_edge)
                if score < score0 - 1e-9 and (best is None or score < best[0]):
                    best = (score, trial, e)
        if best is None:
            stuck.add(b)
            continue
        _s, par, ev = best
        moves += 1
    return par, ev, moves


def plan(cams: Sequence[Site], edge: Site, mix: PathMix, gamma: float, slo: float,
         step: float = 0.02, par0: Sequence[float] | None = None,
         idle_par: float = 1.0, ascent: bool = True) -> Plan:
    """The two-phase heuristic for Eq. 1.8 (one controller iteration); ``ascent`` refines
    phase 1's water-filling to the one-period throughput optimum (see the module docstring;
    ``ascent=False``: water-filling alone)."""
    pre = phase_one(cams, edge, mix, gamma, par0, idle_par)
    if ascent:
        pre = ascend(pre, cams, edge, mix, gamma)
    par, ev, moves = phase_two(pre, cams, edge, mix, gamma, slo, step)
    return Plan(par, ev, pre, moves)
