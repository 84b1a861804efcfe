"""Mercury's group-wise importance sampling (dissertation §2.4.1), in numpy: the inter-group
freshness probabilities r_i of Eq. 2.4, the intra-group draw of Eq. 2.5, and the weights that
keep the averaged gradient unbiased within each group.

A device's local data is split into D groups; each sample carries its importance (its loss,
as last computed) and the step at which that was computed. A mini-batch of |B| samples picks
d groups with probabilities r_i = exp(beta t_i) / sum_n exp(beta t_n) (t_i: the step at which
group i was last updated), then |B| M_i / sum M of them from each picked group i, drawn with
p_ij = I_ij / sum_n I_in. Each drawn sample's gradient is weighted by 1 / (M_i p_ij), the
ratio of the uniform to the importance probability within its group (the reweighting of
Katharopoulos and Fleuret the dissertation cites), normalised to mean 1 over the batch.
"""
from __future__ import annotations

import numpy as np


def freshness(stamps: np.ndarray, beta: float) -> np.ndarray:
    """Eq. 2.4: r_i = exp(beta t_i) / sum_n exp(beta t_n), computed stably (a shift of every
    t_i by the same amount does not change r)."""
    z = beta * (np.asarray(stamps, dtype=float) - np.max(stamps))
    e = np.exp(z)
    return e / e.sum()


def split_counts(sizes: np.ndarray, total: int) -> np.ndarray:
    """|B| M_i / sum M for each picked group, as integers summing to ``total`` (largest
    remainders first, ties by position)."""
    sizes = np.asarray(sizes, dtype=float)
    exact = total * sizes / sizes.sum()
    out = np.floor(exact).astype(int)
    rest = total - int(out.sum())
    order = np.argsort(-(exact - out), kind="stable")
    out[order[:rest]] += 1
    return out


def minibatch(gen: np.random.Generator, groups: list[np.ndarray], importance: np.ndarray,
              stamps: np.ndarray, beta: float, d: int, size: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """(positions, gradient weights) of one mini-batch of ``size`` from the samples of
    ``groups`` (arrays of positions into ``importance``); ``stamps`` are the groups' t_i."""
    r = freshness(stamps, beta)
    d = min(d, len(groups))
    picked = np.sort(gen.choice(len(groups), size=d, replace=False, p=r))
    counts = split_counts(np.array([len(groups[i]) for i in picked]), size)
    pos, wts = [], []
    for i, k in zip(picked, counts):
        if k == 0:
            continue
        members = groups[i]
        imp = np.asarray(importance[members], dtype=float)
        p = imp / imp.sum() if imp.sum() > 0 else np.full(len(members), 1.0 / len(members))
        j = gen.choice(len(members), size=int(k), replace=True, p=p)
        pos.append(members[j])
        wts.append(1.0 / (len(members) * p[j]))
    positions = np.concatenate(pos)
    weights = np.concatenate(wts)
    return positions, weights / weights.mean()


__all__ = ["freshness", "split_counts", "minibatch"]
