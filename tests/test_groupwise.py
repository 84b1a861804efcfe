"""Mercury's group-wise importance sampling (edgesim.learning.groupwise) against hand
computations and, for unbiasedness, against the expectation with a confidence interval."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgesim.learning.groupwise import freshness, minibatch, split_counts


def test_eq_2_4_by_hand():
    r = freshness(np.array([0.0, 1.0, 2.0]), beta=1.0)
    e = np.exp([0.0, 1.0, 2.0])
    assert r.tolist() == pytest.approx((e / e.sum()).tolist())
    # Only differences of t_i matter, and huge step indexes do not overflow.
    assert freshness(np.array([1000.0, 1001.0, 1002.0]), 1.0).tolist() == pytest.approx(r.tolist())
    assert freshness(np.array([5.0, 5.0]), 3.0).tolist() == [0.5, 0.5]


def test_batch_split_follows_group_sizes():
    assert split_counts(np.array([10, 30]), 8).tolist() == [2, 6]
    out = split_counts(np.array([1, 1, 1]), 10)
    assert out.sum() == 10 and sorted(out.tolist()) == [3, 3, 4]


def test_eq_2_5_draws_in_proportion_to_importance():
    groups = [np.array([0, 1])]
    imp = np.array([1.0, 3.0])
    gen = np.random.default_rng(0)
    pos, w = minibatch(gen, groups, imp, np.array([0.0]), 1.0, 1, 20000)
    share = np.mean(pos == 1)
    se = math.sqrt(0.75 * 0.25 / 20000)
    assert abs(share - 0.75) < 4 * se
    # Weights 1 / (M p): 1 / (2 x 0.25) = 2 and 1 / (2 x 0.75) = 2/3, normalised to mean 1.
    raw = np.where(pos == 1, 2 / 3, 2.0)
    assert w.tolist() == pytest.approx((raw / raw.mean()).tolist())


def test_weighted_batches_estimate_the_uniform_mean():
    """With every group picked, the importance-weighted mean of a value over the batch is an
    unbiased estimate of its mean over all samples, however skewed the importance (4 SE)."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=40)
    imp = rng.uniform(0.1, 5.0, size=40)
    groups = [np.arange(0, 20), np.arange(20, 40)]
    est = []
    for i in range(4000):
        pos, w = minibatch(np.random.default_rng(100 + i), groups, imp, np.array([0.0, 1.0]),
                           0.5, 2, 16)
        # 8 draws from each group (equal sizes), in group order; 1 / (M p) undone by hand.
        g = pos // 20
        p = imp[pos] / np.array([imp[:20].sum(), imp[20:].sum()])[g]
        raw = 1.0 / (20 * p)
        assert w == pytest.approx(raw / raw.mean())
        est.append(0.5 * np.mean((values * 1.0)[pos[:8]] * raw[:8])
                   + 0.5 * np.mean(values[pos[8:]] * raw[8:]))
    se = np.std(est) / math.sqrt(len(est))
    assert abs(np.mean(est) - values.mean()) < 4 * se
