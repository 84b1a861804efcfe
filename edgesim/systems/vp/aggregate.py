"""The master's aggregation (VP paper §III-C, §III-D) applied to real predictions: the ensemble's
top-m accuracy for a set of answering members, computed from their class probabilities on a
held-out set (`edgesim.systems.vp.predictions`).

For every held-out example, as the paper's master does it:

1. **compression** (§III-C): each answering variant i keeps its k highest scores psi_i with
   their indices (``answer.k``; ties go to the lower class index). k = 1 sends the index alone,
   so the master knows no score: the index gets 1 (a vote). With ``encoding: scores`` (class
   parallelism, or an uncompressed answer) the whole vector arrives;
2. **decompression**: the master scatters the kept scores into a zero vector of C classes;
3. **softmax** of each reconstructed vector ("to transform the reconstructed prediction vectors
   into a probability distribution");
4. **scaling, Eq. 1**: psi_i <- (rho_i / max(P)) (d_i / min(D))^alpha psi_i, rho_i the
   variant's input side, d_i its width (depth multiplier), P and D those of all the ensemble's
   members (as deployed, whether they answered or not), alpha the scenario's ``alpha``;
5. **aggregation**: the scaled vectors are added and a softmax applied. The softmax does not
   change the order of the classes, so the ranking is that of the sum.

The answer is right at top-m when the true class is among the m highest aggregated scores.
Tied scores (after step 1 most classes of an answer are 0) are broken uniformly at random, and
the expectation of that is taken, so no draw is made: with g classes scoring above the true one
and e >= 1 scoring the same (itself included), it is in the top m with probability
clip((m - g) / e, 0, 1). The accuracy is the mean of that over the examples.

No rule and no fitted constant: for 5 members the 31 answering sets each get their own value.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = ["eq1_weights", "compress", "set_accuracy"]


def eq1_weights(resolution: Sequence[float], width: Sequence[float],
                alpha: float = 1.0) -> np.ndarray:
    """Eq. 1's factors (rho_i / max P) (d_i / min D)^alpha of each variant."""
    rho = np.asarray(resolution, dtype=np.float64)
    d = np.asarray(width, dtype=np.float64)
    return (rho / rho.max()) * (d / d.min()) ** alpha


def compress(probs: np.ndarray, k: Optional[int]) -> np.ndarray:
    """Steps 1-3 for one variant's (N, C) scores: top-k kept (None: all), scattered into zeros,
    softmax. k = 1 keeps a vote of 1 at the top class."""
    n, c = probs.shape
    if k is None or k >= c:
        kept = probs
    else:
        # Stable sort of the negated scores: among equal scores the lower class index wins.
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        kept = np.zeros_like(probs)
        rows = np.arange(n)[:, None]
        kept[rows, top] = 1.0 if k == 1 else probs[rows, top]
    z = np.exp(kept - kept.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def set_accuracy(probs: np.ndarray, labels: np.ndarray, members: Sequence[int],
                 weights: np.ndarray, k: Optional[int], top: int = 1) -> float:
    """Expected top-``top`` accuracy of the aggregate of ``members`` (rows of ``probs``,
    (V, N, C)), each scaled by its Eq. 1 weight."""
    if not members:
        raise ValueError("no member answered")
    total = np.zeros(probs.shape[1:], dtype=np.float64)
    for i in members:
        total += weights[i] * compress(probs[i], k)
    # The final softmax is monotone: ranking the sum is ranking the aggregate.
    true = total[np.arange(len(labels)), labels][:, None]
    above = (total > true).sum(axis=1)
    equal = (total == true).sum(axis=1)
    return float(np.clip((top - above) / equal, 0.0, 1.0).mean())
