"""The roofline fit behind the predictor's *transferred* service times.

A model's batch time on a device is ``max(compute at eta x peak FLOP/s, bytes at mu x memory
bandwidth) + K x tau``, K being the compute kernels one forward pass launches and tau a fixed
time per kernel (launch and framework dispatch overhead). :func:`fit_transfer` fits eta, mu and
tau on anchor models; :func:`_fit_roofline` is the two-parameter fit (tau = 0) it falls back to.
The model, the fits and their identifiability are described in
:mod:`edgesim.hardware.profiles.predictor`, whose :class:`~edgesim.hardware.profiles.predictor.Predictor`
uses them. This module must not import torch (nor scipy: a plain install has neither).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["BYTES_PER_PARAM", "fit_transfer"]

BYTES_PER_PARAM = 4          # FP32 weights; a constant factor on bytes is absorbed by mu anyway


# ------------------------------------------------------------------------------ roofline fit

@dataclass
class _Fit:
    eta: float
    mu: float
    eta_identified: bool
    mu_identified: bool
    sse: float
    tau: float = 0.0                 # seconds per kernel (0 in the two-parameter model)
    overhead: bool = False           # True: the three-parameter model (tau fitted)
    fallback: Optional[str] = None   # why the two-parameter model was used where tau was asked for
    dof: Optional[int] = None        # anchor points minus fitted parameters (three-parameter fit)

    def time(self, c: float, m: float, k: Optional[float]) -> float:
        """Predicted seconds from compute and memory seconds at peak and the kernel count."""
        t = max(c / self.eta, m / self.mu)
        if self.overhead and k is not None:
            t += k * self.tau
        return t

    @property
    def model(self) -> str:
        return "roofline+overhead" if self.overhead else "roofline"


def _fit_roofline(lc: np.ndarray, lm: np.ndarray, lt: np.ndarray) -> _Fit:
    """Least squares in log space of lt ~ max(lc + a, lm + b); see the predictor module docstring."""
    n = len(lt)
    s = lc - lm
    order = np.argsort(-s, kind="stable")

    def sse(a: float, b: float) -> float:
        return float(np.sum((np.maximum(lc + a, lm + b) - lt) ** 2))

    cands: list[tuple[float, int, float, float, bool, bool]] = []
    for k in range(n + 1):
        comp, mem = order[:k], order[k:]
        if k == n:        # all compute-bound: b at its upper bound (mu at its lower bound)
            a = float(np.mean(lt[comp] - lc[comp]))
            b = a + float(np.min(s))
            ident = (True, False)
        elif k == 0:      # all memory-bound
            b = float(np.mean(lt[mem] - lm[mem]))
            a = b - float(np.max(s))
            ident = (False, True)
        else:
            a = float(np.mean(lt[comp] - lc[comp]))
            b = float(np.mean(lt[mem] - lm[mem]))
            ident = (True, True)
        # prefer: smaller error, then both identified, then more compute-bound anchors
        cands.append((sse(a, b), -sum(ident), -k, a, b, *ident))
    cands.sort(key=lambda c: (round(c[0], 15), c[1], c[2]))
    err, _, _, a, b, _, _ = cands[0]
    for _ in range(100):  # reclassify with the current (a, b) and refit, while it improves
        comp = lc + a >= lm + b
        if comp.all() or not comp.any():
            break
        a2 = float(np.mean(lt[comp] - lc[comp]))
        b2 = float(np.mean(lt[~comp] - lm[~comp]))
        e2 = sse(a2, b2)
        if e2 >= err - 1e-15:
            break
        a, b, err = a2, b2, e2
    # an efficiency is identified only if some anchor is strictly on its side of the ridge; an
    # anchor exactly on the ridge only bounds the other one
    gap = (lc + a) - (lm + b)
    return _Fit(math.exp(-a), math.exp(-b), bool(np.any(gap > _RIDGE_TOL)),
                bool(np.any(gap < -_RIDGE_TOL)), err)


_RIDGE_TOL = 1e-9


# ------------------------------------------------------------------------------ with overhead

def _nnls(A: np.ndarray, y: np.ndarray, required: int = 0) -> tuple[np.ndarray, float]:
    """min ||A x - y|| subject to x >= 0 and x[:required] > 0, for the few columns used here.

    Exact, by trying every active set (at most 2^3 here). The first ``required`` columns (the
    roofline's 1/eta and 1/mu) must stay in the model: a zero there would mean an infinite
    efficiency. All zeros when no such solution exists.
    """
    p = A.shape[1]
    best: Optional[tuple[float, np.ndarray]] = None
    for mask in range(1, 2 ** p):
        free = [j for j in range(p) if mask >> j & 1]
        if any(j not in free for j in range(required)):
            continue
        sol, *_ = np.linalg.lstsq(A[:, free], y, rcond=None)
        if np.any(sol < 0) or np.any(sol[:required] <= 0):
            continue
        x = np.zeros(p)
        x[free] = sol
        r = float(np.sum((A @ x - y) ** 2))
        if best is None or r < best[0] - 1e-300:
            best = (r, x)
    if best is None:
        return np.zeros(p), float(np.sum(y ** 2))
    return best[1], best[0]


def _overhead_fit(c: np.ndarray, m: np.ndarray, k: np.ndarray, t: np.ndarray
                  ) -> tuple[Optional[_Fit], str]:
    """``t ~ max(a c, b m) + tau k`` (a = 1/eta, b = 1/mu, tau >= 0), least squares in log t.

    For a split of the anchors into compute-bound and memory-bound ones (by intensity
    ``c / m``, so n + 1 candidate splits as in :func:`_fit_roofline`) the model is linear in
    (a, b, tau); each split is solved by non-negative least squares on relative errors (rows
    divided by t), refined by Gauss-Newton steps on the log errors, and scored by the true
    squared log error of the max-model. A split is a candidate only if its design has full column
    rank (at least as many anchor points as parameters, and kernel counts and intensities that
    tell the parameters apart). As in the two-parameter fit, a side of the ridge without anchors
    leaves its efficiency a bound. Returns (fit, "") or (None, why tau cannot be identified).
    """
    n = len(t)
    lt = np.log(t)
    ratio = c / m
    order = np.argsort(-(np.log(c) - np.log(m)), kind="stable")

    def err(a: float, b: float, tau: float) -> float:
        return float(np.sum((np.log(np.maximum(a * c, b * m) + tau * k) - lt) ** 2))

    def design(comp: np.ndarray) -> np.ndarray:
        cols = []
        if comp.any():
            cols.append(np.where(comp, c, 0.0))
        if not comp.all():
            cols.append(np.where(comp, 0.0, m))
        cols.append(k)
        return np.column_stack(cols)

    def unpack(x: np.ndarray, comp: np.ndarray) -> Optional[tuple[float, float, float]]:
        if comp.all():
            a, tau = x
            b = a * float(np.min(ratio))          # mu at its lower bound (least intense on the ridge)
        elif not comp.any():
            b, tau = x
            a = b / float(np.max(ratio))          # eta at its lower bound
        else:
            a, b, tau = x
        if a <= 0 or b <= 0:
            return None
        return float(a), float(b), float(tau)

    def solve(comp: np.ndarray) -> Optional[tuple[float, tuple[float, float, float]]]:
        A = design(comp)
        p = A.shape[1]
        if n < p or np.linalg.matrix_rank(A / t[:, None], tol=1e-10) < p:
            return None
        x, _ = _nnls(A / t[:, None], np.ones(n), required=p - 1)
        got = unpack(x, comp)
        if got is None:
            return None
        e = err(*got)
        for _ in range(50):                    # Gauss-Newton on the log errors, kept >= 0
            pred = A @ x
            if np.any(pred <= 0):
                break
            x2, _ = _nnls(A / pred[:, None], 1.0 + np.log(t / pred), required=p - 1)
            got2 = unpack(x2, comp)
            if got2 is None:
                break
            e2 = err(*got2)
            if e2 >= e - 1e-15 * max(1.0, e):
                break
            x, got, e = x2, got2, e2
        return e, got

    cands = []
    for split in range(n + 1):
        comp = np.zeros(n, dtype=bool)
        comp[order[:split]] = True
        res = solve(comp)
        if res is None:
            continue
        e, (a, b, tau) = res
        p = design(comp).shape[1]
        # prefer: smaller error, then more parameters identified, then more compute-bound anchors
        cands.append((round(e, 15), -p, -split, e, a, b, tau, p))
    if not cands:
        return None, (f"{n} anchor point(s) cannot identify eta or mu together with tau (the "
                      f"fit needs at least one more anchor, with a different kernel count or "
                      f"intensity, than it has parameters)")
    cands.sort(key=lambda x: x[:3])
    _, _, _, e, a, b, tau, p = cands[0]
    for _ in range(100):                     # reclassify with the current fit, while it improves
        comp = a * c >= b * m
        res = solve(comp)
        if res is None or res[0] >= e - 1e-15:
            break
        e, (a, b, tau) = res
        p = design(comp).shape[1]
    gap = (np.log(a * c)) - (np.log(b * m))
    return _Fit(1.0 / a, 1.0 / b, bool(np.any(gap > _RIDGE_TOL)), bool(np.any(gap < -_RIDGE_TOL)),
                e, tau=tau, overhead=True, dof=n - p), ""


def fit_transfer(c: np.ndarray, m: np.ndarray, k: Optional[np.ndarray], t: np.ndarray,
                 overhead: bool = True) -> _Fit:
    """Fit the transfer model on anchor points (seconds at peak c, m; kernels k; observed t).

    With ``overhead`` and a kernel count for every point, the three-parameter model
    ``max(c/eta, m/mu) + k tau`` (:func:`_overhead_fit`); where tau cannot be identified (too few
    anchor points, or no kernel counts) the two-parameter roofline (:func:`_fit_roofline`), with
    the reason in ``fallback``. Without ``overhead``, the two-parameter roofline.
    """
    c, m, t = (np.asarray(v, dtype=float) for v in (c, m, t))
    if overhead:
        why = ""
        if k is None or any(v is None or not np.isfinite(v) for v in k):
            why = "kernel counts unknown for some anchors (no 'kernels' in the reference rows)"
        else:
            fit, why = _overhead_fit(c, m, np.asarray(k, dtype=float), t)
            if fit is not None:
                return fit
        fit = _fit_roofline(np.log(c), np.log(m), np.log(t))
        fit.fallback = why
        return fit
    return _fit_roofline(np.log(c), np.log(m), np.log(t))


@dataclass
class _Info:
    flops: float             # per input
    params: float
    out_bytes: float         # per input
    in_bytes: float          # per input
    source: str
    kernels: Optional[float] = None   # compute kernels per forward pass (not per input)

    def cost(self, batch: int, peak: float, bw: float) -> tuple[float, float]:
        c = batch * self.flops / peak
        m = (self.params * BYTES_PER_PARAM + batch * (self.out_bytes + self.in_bytes)) / bw
        return c, m


@dataclass
class _Transfer:
    device: str                      # the device whose anchors were fitted
    phase: str
    variant: str
    fit: _Fit                        # the model used (three-parameter where identifiable)
    peak: float
    bw: float
    anchors: list[dict]
    loo: Optional[dict]
    fit2: Optional[_Fit] = None      # the two-parameter roofline on the same anchors
    loo2: Optional[dict] = None
    paths: tuple = ()                # the bundles the anchors' times came from


def _fit_with_loo(pts: list, overhead: bool) -> tuple[_Fit, list[dict], Optional[dict]]:
    """Fit on anchor points (model, batch, c, m, k, t, source); residuals and leave-one-model-out."""
    c = np.array([p[2] for p in pts])
    m = np.array([p[3] for p in pts])
    k = [p[4] for p in pts]
    t = np.array([p[5] for p in pts])
    fit = fit_transfer(c, m, k, t, overhead)
    anchors = []
    for (name, b, ci, mi, ki, ti, src) in pts:
        pred = fit.time(ci, mi, ki)
        anchors.append({"model": name, "batch": b, "observed_s": ti, "fitted_s": pred,
                        "rel_err": pred / ti - 1.0,
                        "bound": "compute" if ci / fit.eta >= mi / fit.mu else "memory",
                        "overhead_s": (ki or 0.0) * fit.tau if fit.overhead else 0.0,
                        "kernels": ki, "compute_s_at_peak": ci, "memory_s_at_peak": mi,
                        "info": src})
    names = sorted({p[0] for p in pts})
    if len(names) < 2:
        return fit, anchors, None
    errs: dict[str, list[float]] = {}
    fell_back = []
    for name in names:
        keep = np.array([p[0] != name for p in pts])
        f2 = fit_transfer(c[keep], m[keep], [x for x, kp in zip(k, keep) if kp], t[keep], overhead)
        if overhead and not f2.overhead:
            fell_back.append(name)
        for a in anchors:
            if a["model"] == name:
                pred = f2.time(a["compute_s_at_peak"], a["memory_s_at_peak"], a["kernels"])
                a["loo_s"] = pred
                a["loo_rel_err"] = pred / a["observed_s"] - 1.0
                a["loo_model"] = f2.model
                errs.setdefault(name, []).append(abs(a["loo_rel_err"]))
    allerr = np.array([e for v in errs.values() for e in v])
    loo = {"median_abs_rel_err": float(np.median(allerr)),
           "mean_abs_rel_err": float(np.mean(allerr)),
           "max_abs_rel_err": float(np.max(allerr)),
           "per_model": {n: float(max(v)) for n, v in errs.items()},
           "fallback_folds": fell_back}
    return fit, anchors, loo
