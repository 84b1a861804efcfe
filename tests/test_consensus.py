"""Decentralized sub-model bookkeeping against hand computations (numpy only, no torch): task
allocation with overlap and residue, structure slices, neighbour averaging, recomposition."""
from __future__ import annotations

import numpy as np
import pytest

from edgesim.learning import consensus as C


def test_ring_allocation_with_overlap_by_hand():
    # The paper's "4N_5Cls" with 2 overlap: stride 3.
    assert C.allocate(4, 10, 5, 2) == [[0, 1, 2, 3, 4], [3, 4, 5, 6, 7], [0, 6, 7, 8, 9],
                                       [0, 1, 2, 3, 9]]
    # Neighbours share exactly n tasks along the ring (not across the wrap-around).
    a = C.allocate(4, 10, 5, 1)
    assert a == [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [0, 1, 2, 8, 9], [2, 3, 4, 5, 6]]
    for k in range(3):
        assert len(C.common(a[k], a[k + 1])) == 1


def test_the_residue_goes_to_the_last_node():
    # 3 nodes x stride 2 cover 0..7; classes 8 and 9 are the residue.
    assert C.residue(3, 10, 4, 2) == [8, 9]
    assert C.allocate(3, 10, 4, 2) == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7, 8, 9]]
    assert C.residue(4, 10, 5, 2) == []


@pytest.mark.parametrize("args, word", [((4, 10, 5, 5), "overlap"),
                                        ((4, 10, 11, 0), "tasks_per_node"),
                                        ((0, 10, 5, 2), "node")])
def test_bad_allocations_say_why(args, word):
    with pytest.raises(C.AllocationError, match=word):
        C.allocate(*args)


LAY = C.Layout(shared=3, branch=2, classes=3)       # [s s s | b0 b0 | b1 b1 | b2 b2]


def test_structures_are_slices_of_the_flat_vector():
    assert LAY.size == 9
    assert LAY.shared_slice() == slice(0, 3)
    assert LAY.branch_slice(2) == slice(7, 9)
    assert LAY.sub_params([0, 2]) == 7
    assert C.exchange_params(LAY, [0, 1], [1, 2]) == 3 + 2


def test_two_nodes_sharing_one_task_both_hold_the_average():
    a = np.arange(9, dtype=np.float32)
    b = np.arange(9, dtype=np.float32) * 3 + 1
    new, flops = C.neighbour_average([a, b], [[0, 1], [1, 2]], [[1], [0]], LAY)
    avg = (a + b) / 2
    # Shared layers and branch 1 (the common task) are averaged; the private branches stay.
    for v in new:
        assert np.array_equal(v[0:3], avg[0:3]) and np.array_equal(v[5:7], avg[5:7])
    assert np.array_equal(new[0][3:5], a[3:5]) and np.array_equal(new[1][7:9], b[7:9])
    # Each node summed 2 values for each of 3 shared and 2 branch parameters.
    assert flops == [2 * 5, 2 * 5]
    # Repeated exchanges with no training change nothing more (a fixed point).
    again, _ = C.neighbour_average(new, [[0, 1], [1, 2]], [[1], [0]], LAY)
    assert all(np.array_equal(x, y) for x, y in zip(again, new))


def test_a_ring_converges_to_the_mean_without_training():
    rng = np.random.default_rng(0)
    lay = C.Layout(shared=4, branch=1, classes=1)
    vs = [rng.normal(size=5).astype(np.float32) for _ in range(5)]
    mean = np.mean(vs, axis=0)
    ring = [[(k - 1) % 5, (k + 1) % 5] for k in range(5)]
    tasks = [[0]] * 5
    gaps = []
    for _ in range(60):
        vs, _ = C.neighbour_average(vs, tasks, ring, lay)
        gaps.append(max(float(np.abs(v - mean).max()) for v in vs))
    # Uniform averaging on a regular graph is doubly stochastic: the mean is kept and the
    # spread shrinks geometrically (second eigenvalue (1 + 2 cos(2 pi / 5)) / 3 = 0.539).
    assert gaps[-1] < 1e-6
    assert gaps[10] < 0.539 ** 10 * 10


def test_recomposition_averages_shared_over_all_and_branches_over_holders():
    a = np.full(9, 1.0, dtype=np.float32)
    b = np.full(9, 3.0, dtype=np.float32)
    c = np.full(9, 8.0, dtype=np.float32)
    g = C.recompose([a, b, c], [[0], [0, 1], [2]], LAY, np.zeros(9, dtype=np.float32))
    assert np.allclose(g[0:3], 4.0)          # (1 + 3 + 8) / 3
    assert np.allclose(g[3:5], 2.0)          # branch 0: nodes a, b
    assert np.allclose(g[5:7], 3.0)          # branch 1: node b
    assert np.allclose(g[7:9], 8.0)          # branch 2: node c


def test_node_data_split_and_duplicate():
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    pos = np.arange(9)
    tasks = [[0, 1], [0, 2]]
    split = C.node_data(y, pos, tasks, "split", np.random.default_rng(1))
    # Class 0's four examples are split two and two; 1 and 2 belong to one node each.
    assert sorted(np.concatenate(split).tolist()) == list(range(9))
    assert sum(y[s] == 0 for s in split[0]) == 2 and len(split[0]) == 4
    dup = C.node_data(y, pos, tasks, "duplicate", np.random.default_rng(1))
    assert dup[0].tolist() == [0, 1, 2, 3, 4, 5] and dup[1].tolist() == [0, 1, 2, 3, 6, 7, 8]


def test_tasks_whose_holders_are_not_neighbours_are_found():
    line = [[1], [0, 2], [1]]
    assert C.disconnected_tasks([[0], [1], [0]], line, 2) == [0]
    assert C.disconnected_tasks([[0], [0], [0]], line, 1) == []
