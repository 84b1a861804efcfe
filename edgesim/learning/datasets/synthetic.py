"""Synthetic(alpha, beta): the federated data set of FedProx and LEAF, generated, no file.

Definition (Tian Li, Anit Kumar Sahu, Manzil Zaheer, Maziar Sanjabi, Ameet Talwalkar,
Virginia Smith, *Federated Optimization in Heterogeneous Networks*, MLSys 2020, §5.1 and
its generator ``data/synthetic_1_1/generate_synthetic.py`` in github.com/litian96/FedProx;
LEAF's ``data/synthetic`` builds on it). For device k of K:

* u_k ~ N(0, alpha), W_k ~ N(u_k, 1) (60 x 10 entries), b_k ~ N(u_k, 1) (10 entries):
  alpha sets how much the devices' models differ;
* B_k ~ N(0, beta), v_k ~ N(B_k, 1) (60 entries): beta sets how much their inputs differ;
* x ~ N(v_k, Sigma), Sigma diagonal with Sigma_jj = j^-1.2 (j = 1..60);
* y = argmax softmax(W_k^T x + b_k), 10 classes.

alpha and beta are standard deviations, as in the reference generator (``np.random.normal(0,
alpha)``), which made the paper's data sets; the paper's N(0, alpha) reads as a variance; the two
readings agree only where alpha and beta are 0 or 1, as in Synthetic(0, 0) and (1, 1).
The number of examples of a device is LEAF's rule (``get_num_samples`` in LEAF's
data/synthetic/main.py): floor(lognormal(3, 2)) + 5, at most 1,000. (FedProx's own script
draws floor(lognormal(4, 2)) + 50 and no cap.) Each device is a group of the natural
partition; there is no official test split (the held-out share is taken per device, as both
generators split each device's examples 90 / 10).

Every draw comes from the generator the caller passes (the scenario seed's), so one seed gives
one data set, bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from edgesim.learning.data import Dataset, checked

DIMENSION = 60
CLASSES = 10
#: LEAF's get_num_samples: lognormal(mean 3, sigma 2), + 5, capped at 1,000.
SAMPLES_MU, SAMPLES_SIGMA, SAMPLES_MIN, SAMPLES_MAX = 3.0, 2.0, 5, 1000


def covariance_diagonal(dimension: int = DIMENSION) -> np.ndarray:
    """Sigma_jj = j^-1.2, j = 1..dimension."""
    return np.arange(1, dimension + 1, dtype=np.float64) ** -1.2


@dataclass(frozen=True)
class Devices:
    """Every draw of the generator, so that tests can hold the data to its definition."""

    u: np.ndarray        # (K,) model prior means
    B: np.ndarray        # (K,) input prior means
    W: np.ndarray        # (K, dimension, classes)
    b: np.ndarray        # (K, classes)
    v: np.ndarray        # (K, dimension) input means
    counts: np.ndarray   # (K,) examples per device
    x: list              # K arrays (n_k, dimension), float32
    y: list              # K arrays (n_k,), int64


def sample_counts(devices: int, rng: np.random.Generator) -> np.ndarray:
    """LEAF's number of examples per device."""
    n = rng.lognormal(SAMPLES_MU, SAMPLES_SIGMA, devices).astype(np.int64) + SAMPLES_MIN
    return np.minimum(n, SAMPLES_MAX)


def generate(alpha: float, beta: float, devices: int, rng: np.random.Generator,
             counts: Optional[np.ndarray] = None) -> Devices:
    """All devices' models and examples (``counts``: examples per device, else LEAF's draw)."""
    n = sample_counts(devices, rng) if counts is None else np.asarray(counts, dtype=np.int64)
    u = rng.normal(0.0, alpha, devices)
    B = rng.normal(0.0, beta, devices)
    v = rng.normal(B[:, None], 1.0, (devices, DIMENSION))
    sd = np.sqrt(covariance_diagonal())
    W = np.empty((devices, DIMENSION, CLASSES))
    b = np.empty((devices, CLASSES))
    xs, ys = [], []
    for k in range(devices):
        W[k] = rng.normal(u[k], 1.0, (DIMENSION, CLASSES))
        b[k] = rng.normal(u[k], 1.0, CLASSES)
        # Labels come from the float32 inputs the learner will see, so that the device's
        # own model labels its data exactly (the argmax of softmax is the argmax of logits).
        x = (v[k] + sd * rng.standard_normal((int(n[k]), DIMENSION))).astype(np.float32)
        xs.append(x)
        ys.append(np.argmax(x.astype(np.float64) @ W[k] + b[k], axis=1).astype(np.int64))
    return Devices(u, B, W, b, v, n, xs, ys)


def synthetic(alpha: float, beta: float, devices: int, rng: np.random.Generator) -> Dataset:
    """Synthetic(alpha, beta) over ``devices`` devices: x (N, 60) float32, 10 classes, one
    group per device."""
    d = generate(alpha, beta, devices, rng)
    ends = np.cumsum(d.counts)
    groups = tuple(np.arange(e - c, e) for c, e in zip(d.counts, ends))
    return checked(np.concatenate(d.x), np.concatenate(d.y), f"synthetic({alpha:g},{beta:g})",
                   CLASSES, groups=groups,
                   group_names=tuple(f"f_{k:05d}" for k in range(devices)))
