"""CLUE's knowledge-transfer arithmetic (Daga et al. §5, §7.2.2), in numpy: class priors and
their cosine similarity (helper selection), the rolling-error drift detector, the top-Z %
significant parameters, the boosted helper model (Eq. 2), the bytes of a transfer and the
data-transfer totals of Eq. 3a and 3b.

The sensitivities themselves (Eq. 1, a gradient) come from
:meth:`edgesim.learning.torch_learner.Learner.sensitivity`; everything here is pure arithmetic
on its output, testable without torch.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Optional, Sequence

import numpy as np


def class_prior(labels: np.ndarray, classes: int) -> np.ndarray:
    """The empirical class distribution of ``labels`` (zeros when there are none)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=classes)[:classes]
    total = counts.sum()
    return counts / total if total else counts.astype(float)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity; 0 when either vector is zero (a node that reported nothing)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def rank_helpers(target: int, prior: np.ndarray, priors: dict[int, np.ndarray],
                 k: int) -> list[tuple[int, float]]:
    """The MdS's answer: the ``k`` nodes (not ``target``) whose reported priors are most
    similar to ``prior``, as (node, similarity), most similar first, ties by node index."""
    scored = [(node, cosine(prior, p)) for node, p in sorted(priors.items()) if node != target]
    scored.sort(key=lambda t: (-t[1], t[0]))
    return scored[:k]


class RollingError:
    """Threshold drift detection: drift when the mean error of the last ``window`` batches
    exceeds ``threshold``; after a detection, ``holdoff`` batches pass before the next."""

    def __init__(self, window: int, threshold: float, holdoff: int) -> None:
        self.window, self.threshold, self.holdoff = window, threshold, holdoff
        self.errors: deque[float] = deque(maxlen=window)
        self.quiet = 0

    def rolling(self) -> float:
        return float(np.mean(self.errors)) if self.errors else 0.0

    def add(self, error: float) -> bool:
        """Record one batch's error; True when it completes a drift detection."""
        self.errors.append(error)
        if self.quiet > 0:
            self.quiet -= 1
            return False
        if len(self.errors) == self.window and self.rolling() > self.threshold:
            self.quiet = self.holdoff
            return True
        return False


def significant(sensitivity: np.ndarray, share: float) -> np.ndarray:
    """True at the top ``share`` of parameters by |sensitivity| (both signs, §5.2.1): exactly
    max(1, round(share x P)) of them, the largest first, ties by position."""
    p = len(sensitivity)
    count = max(1, int(round(share * p)))
    order = np.argsort(-np.abs(sensitivity), kind="stable")
    mask = np.zeros(p, dtype=bool)
    mask[order[:count]] = True
    return mask


def boosted(target: np.ndarray, helper: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The boosted helper model of Eq. 2: the helper's value where it is significant, the
    target's own elsewhere."""
    return np.where(mask, helper, target).astype(np.float32)


def transfer_bytes(count: int, params: int, dtype_bytes: int, encoding: str) -> float:
    """Bytes of ``count`` significant parameters out of ``params``: their values and where
    they go, as a bitmap over the model or a 4-byte index each."""
    where = math.ceil(params / 8) if encoding == "bitmap" else 4 * count
    return float(count * dtype_bytes + where)


def metadata_bytes(classes: int, given: Optional[float]) -> float:
    """Bytes of one class-prior report: as given, else 4 per class plus a 64-byte header."""
    return float(given) if given is not None else float(4 * classes + 64)


def dt_federated(mu_out: float, mu_in: float, n: int, participants: Sequence[int]) -> float:
    """Eq. 3a, DT_FL = (sum_{i=1}^{n'} MU_out + MU_in n) f_update, with the realised n' of each
    of the f_update rounds (constant n' gives the paper's product)."""
    return float(sum(k * mu_out + mu_in * n for k in participants))


def dt_clue(mds_out: float, helpers: Sequence[int], kt_in: float) -> float:
    """Eq. 3b, DT_CL = MdS_out + sum_{i} h_i KT_in, over the d drifts that were helped."""
    return float(mds_out + sum(helpers) * kt_in)


__all__ = ["class_prior", "cosine", "rank_helpers", "RollingError", "significant", "boosted",
           "transfer_bytes", "metadata_bytes", "dt_federated", "dt_clue"]
