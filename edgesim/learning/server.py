"""The server side of federated learning, in numpy: weighted averaging of client models and the
server optimiser that turns the average into the next global model (FedOpt's view of FedAvg:
the pseudo-gradient W - avg(W_k) is a gradient step for the server's optimiser)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def weighted_average(models: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """sum_k w_k W_k / sum_k w_k, accumulated in float64 in the order given, as float32."""
    if not models:
        raise ValueError("no models to average")
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(w >= 0) or w.sum() <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {list(w)}")
    acc = np.zeros(len(models[0]), dtype=np.float64)
    for m, wk in zip(models, w):
        acc += wk * m.astype(np.float64)
    return (acc / w.sum()).astype(np.float32)


class ServerOptimizer:
    """'average': W <- avg. 'sgd': W <- W - lr (W - avg). 'adam': Adam (bias-corrected) on the
    pseudo-gradient g = W - avg, one step per round."""

    def __init__(self, kind: str, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if kind not in ("average", "sgd", "adam"):
            raise ValueError(f"unknown server optimizer {kind!r}")
        self.kind, self.lr, self.betas, self.eps = kind, lr, betas, eps
        self.m = self.v = None
        self.t = 0

    def step(self, w: np.ndarray, avg: np.ndarray) -> np.ndarray:
        if self.kind == "average":
            return avg.astype(np.float32)
        g = w.astype(np.float64) - avg.astype(np.float64)
        if self.kind == "sgd":
            return (w - self.lr * g).astype(np.float32)
        b1, b2 = self.betas
        if self.m is None:
            self.m = np.zeros_like(g)
            self.v = np.zeros_like(g)
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        mhat = self.m / (1 - b1 ** self.t)
        vhat = self.v / (1 - b2 ** self.t)
        return (w - self.lr * mhat / (np.sqrt(vhat) + self.eps)).astype(np.float32)
