"""The roofline fit behind the predictor's *transferred* service times.

A model's batch time on a device is ``max(compute at eta x peak FLOP/s, bytes at mu x memory
bandwidth)``; :func:`_fit_roofline` fits the efficiencies eta and mu on anchor models. The model,
the fit and its identifiability are described in :mod:`edgesim.calibration.predictor`, whose
:class:`~edgesim.calibration.predictor.Predictor` uses them. This module must not import torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["BYTES_PER_PARAM"]

BYTES_PER_PARAM = 4          # FP32 weights; a constant factor on bytes is absorbed by mu anyway


# ------------------------------------------------------------------------------ roofline fit

@dataclass
class _Fit:
    eta: float
    mu: float
    eta_identified: bool
    mu_identified: bool
    sse: float


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


@dataclass
class _Info:
    flops: float             # per input
    params: float
    out_bytes: float         # per input
    in_bytes: float          # per input
    source: str

    def cost(self, batch: int, peak: float, bw: float) -> tuple[float, float]:
        c = batch * self.flops / peak
        m = (self.params * BYTES_PER_PARAM + batch * (self.out_bytes + self.in_bytes)) / bw
        return c, m


@dataclass
class _Transfer:
    device: str
    phase: str
    variant: str
    fit: _Fit
    peak: float
    bw: float
    anchors: list[dict]
    loo: Optional[dict]
