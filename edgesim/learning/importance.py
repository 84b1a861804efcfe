"""Importance sampling of clients and of examples (FedAce §3.4.2), in numpy.

Client importance (Eq. 3.3) is I_k = mean loss of client k x n_k / n; the server caches it with
the model it was measured on and, when it uses a cached value, re-weights it for staleness
(Eq. 3.5): I_k exp(beta ||W_k - W|| / ||W||). Clients are drawn without replacement with
p_k = I_k / sum I (Eq. 3.4). Examples inside a client are drawn without replacement with
p_i = l_i / sum l (Eq. 3.2).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np


def client_importance(mean_loss: float, n_k: int, n: int) -> float:
    """Eq. 3.3."""
    return float(mean_loss) * n_k / n


def staleness(w_k: np.ndarray, w: np.ndarray, beta: float) -> float:
    """The staleness term exp(beta ||W_k - W|| / ||W||) of Eq. 3.5 (1 when W_k is W)."""
    norm = float(np.linalg.norm(w))
    if norm == 0.0:
        return 1.0
    return float(np.exp(beta * float(np.linalg.norm(w_k - w)) / norm))


def draw_without_replacement(rng: np.random.Generator, weights: np.ndarray, count: int
                             ) -> np.ndarray:
    """``count`` distinct positions, drawn one after another with probability proportional to
    ``weights`` among those not drawn yet (successive sampling, as numpy's choice does).
    Zero weights are drawn only after every positive one."""
    w = np.asarray(weights, dtype=float)
    if count > len(w):
        raise ValueError(f"cannot draw {count} of {len(w)}")
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    positive = np.flatnonzero(w > 0)
    if len(positive) >= count:
        p = w[positive] / w[positive].sum()
        return positive[rng.choice(len(positive), size=count, replace=False, p=p)]
    rest = np.flatnonzero(~(w > 0))
    first = positive
    if len(positive):
        p = w[positive] / w[positive].sum()
        first = positive[rng.choice(len(positive), size=len(positive), replace=False, p=p)]
    return np.concatenate([first, rng.choice(rest, size=count - len(positive), replace=False)])


@dataclass
class CachedImportance:
    """What the server knows of one client: its mean loss, on which model version, when."""

    mean_loss: float
    n_k: int
    version: int          # the round whose global model the loss was measured on
    updated: float        # simulated time of the update


class ImportanceCache:
    """The server's importance estimates of every client (Eq. 3.3-3.5)."""

    def __init__(self, sizes: Sequence[int], beta: float) -> None:
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.n = int(self.sizes.sum())
        self.beta = beta
        self.entries: dict[int, CachedImportance] = {}

    def update(self, client: int, mean_loss: float, version: int, now: float) -> None:
        self.entries[client] = CachedImportance(float(mean_loss), int(self.sizes[client]),
                                                version, now)

    def weights(self, clients: Sequence[int], models: dict[int, np.ndarray],
                current: np.ndarray) -> np.ndarray:
        """I_k of Eq. 3.5 for each of ``clients``; ``models`` maps a version to its weights.
        A client never measured gets the mean of the measured ones (1 when none is)."""
        out = np.full(len(clients), np.nan)
        factor: dict[int, float] = {}
        for i, k in enumerate(clients):
            e = self.entries.get(k)
            if e is None:
                continue
            if e.version not in factor:
                factor[e.version] = staleness(models[e.version], current, self.beta)
            out[i] = client_importance(e.mean_loss, e.n_k, self.n) * factor[e.version]
        known = out[~np.isnan(out)]
        out[np.isnan(out)] = known.mean() if len(known) else 1.0
        return out

    def least_recent(self, clients: Sequence[int], count: int) -> list[int]:
        """The ``count`` of ``clients`` whose importance is oldest (never measured first, then
        by update time, ties by client number)."""
        def key(k: int):
            e = self.entries.get(k)
            return (-1.0, k) if e is None else (e.updated, k)
        return sorted(clients, key=key)[:count]

    def versions(self) -> set[int]:
        """Model versions some cached entry still refers to."""
        return {e.version for e in self.entries.values()}


def example_order(rng: np.random.Generator, losses: Optional[np.ndarray], n: int,
                  count: int) -> np.ndarray:
    """Positions 0..n-1 of the examples one epoch visits, in order: a uniform shuffle of
    ``count`` of them when ``losses`` is None, else drawn with p_i = l_i / sum l (Eq. 3.2)."""
    if losses is None:
        return rng.permutation(n)[:count]
    return draw_without_replacement(rng, np.asarray(losses, dtype=float), count)
