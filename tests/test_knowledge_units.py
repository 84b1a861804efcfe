"""CLUE's knowledge-transfer arithmetic (edgesim.learning.knowledge) against hand computations:
priors and cosine similarity, the MdS's ranking, the rolling-error detector, the top-Z %
selection, the boosted model of Eq. 2, transfer bytes and Eq. 3a/3b."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgesim.learning import knowledge as K


def test_class_prior_and_cosine_by_hand():
    p = K.class_prior(np.array([0, 0, 1, 3]), 4)
    assert p.tolist() == [0.5, 0.25, 0.0, 0.25]
    assert K.class_prior(np.array([], dtype=int), 3).tolist() == [0.0, 0.0, 0.0]
    assert K.cosine(np.array([1.0, 0.0]), np.array([0.0, 2.0])) == 0.0
    assert K.cosine(np.array([1.0, 1.0]), np.array([2.0, 0.0])) == pytest.approx(1 / math.sqrt(2))
    assert K.cosine(np.zeros(2), np.array([1.0, 0.0])) == 0.0


def test_mds_ranks_the_most_similar_other_nodes():
    target = np.array([0.5, 0.5, 0.0])
    priors = {0: np.array([0.5, 0.5, 0.0]),       # the target itself: never its own helper
              1: np.array([0.0, 0.0, 1.0]),       # cosine 0
              2: np.array([1.0, 0.0, 0.0]),       # cosine 1/sqrt 2
              3: np.array([0.0, 1.0, 0.0])}       # the same: the tie goes to node 2
    ranked = K.rank_helpers(0, target, priors, 2)
    assert [n for n, _ in ranked] == [2, 3]
    assert ranked[0][1] == pytest.approx(1 / math.sqrt(2))
    assert [n for n, _ in K.rank_helpers(0, target, priors, 10)] == [2, 3, 1]


def test_rolling_error_detects_once_per_holdoff():
    d = K.RollingError(window=3, threshold=0.5, holdoff=3)
    seen = [d.add(e) for e in [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    # (0 + 1 + 1) / 3 > 0.5 at the 4th batch; three quiet batches; then again at the 8th.
    assert seen == [False, False, False, True, False, False, False, True, False]
    assert d.rolling() == 1.0
    # A window not yet full never declares drift.
    assert not K.RollingError(3, 0.1, 0).add(1.0)


def test_top_z_takes_the_largest_magnitudes_of_both_signs():
    sens = np.array([0.1, -5.0, 3.0, 0.0, -3.0, 2.0])
    m = K.significant(sens, 0.5)                  # 3 of 6
    assert m.tolist() == [False, True, True, False, True, False]   # the tie 3 / -3: both
    assert K.significant(sens, 0.0).sum() == 1                     # at least one
    assert K.significant(np.zeros(4), 0.5).tolist() == [True, True, False, False]


def test_boosted_model_is_eq_2():
    target = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    helper = np.array([10.0, 20.0, 30.0], dtype=np.float32)
    out = K.boosted(target, helper, np.array([False, True, False]))
    assert out.tolist() == [1.0, 20.0, 3.0] and out.dtype == np.float32


def test_bytes_and_equations_3a_3b_by_hand():
    assert K.transfer_bytes(10, 100, 4, "bitmap") == 10 * 4 + 13
    assert K.transfer_bytes(10, 100, 4, "index") == 10 * 4 + 40
    assert K.metadata_bytes(10, None) == 104 and K.metadata_bytes(10, 580) == 580
    # Constant n' gives the paper's product (n' MU_out + MU_in n) f_update.
    assert K.dt_federated(7.0, 5.0, 5, [3, 3, 3, 3]) == (3 * 7.0 + 5.0 * 5) * 4
    assert K.dt_federated(7.0, 5.0, 5, [5, 2]) == (5 * 7 + 25) + (2 * 7 + 25)
    assert K.dt_clue(100.0, [1, 2, 0], 40.0) == 100 + 3 * 40
