"""Closed forms from queueing theory, written independently of the simulator."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load a = lambda / mu (a < c)."""
    top = a ** c / math.factorial(c) * c / (c - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)


def mmc_wq(lam: float, mu: float, c: int) -> float:
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mg1_wq(lam: float, mean_s: float, second_moment: float) -> float:
    """Pollaczek-Khinchine mean wait."""
    rho = lam * mean_s
    return lam * second_moment / (2.0 * (1.0 - rho))


def t_interval(values, confidence: float = 0.99) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval of independent replications."""
    x = np.asarray(values, dtype=float)
    m = x.mean()
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return m, m - half, m + half


def single_station(rate: float, service: dict, executors: int = 1, duration: float = 6000.0,
                   warmup: float = 600.0, seed: int = 0) -> dict:
    return {
        "name": "theory", "seed": seed, "duration": duration, "warmup": warmup,
        "nodes": {"server": {"executors": executors}},
        "workload": {"sources": {"in": {"arrivals": {"process": "poisson", "rate": rate},
                                        "job": "j"}},
                     "jobs": {"j": {"stages": [{"model": "m", "node": "server"}]}}},
        "service": {"m": {"cpu": service}},
        "metrics": {"interval": 100.0},
    }
