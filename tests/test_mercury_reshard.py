"""Mercury's resharding (§2.4.2) and breakpoint-resume (§2.4.3) as mechanisms: which samples
leave, where they land, how many bytes move, and that a paused transfer resumes from its byte
without ever delaying gradient aggregation."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import edgesim
from edgesim.systems.mercury.learning import MercuryLearning

from tests.test_training_mercury import BW, mercury, t_cm


def run(sc):
    return edgesim.run(sc)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_byte_breakpoints_never_delay_aggregation_and_resume_from_the_byte(k):
    """2.1 MB of resharding per iteration, 1 MB of room per 0.1 s computation: every
    iteration is still exactly T_cp + T_cm, each window carries exactly its 1 MB, and a round
    finishes in its third window (restarting from byte 0 would never finish one)."""
    r = run(mercury("bacc", k, step=0.1, reshard=700))
    s = r.summary["mercury"]
    for it in s["iteration_times_s"]:
        assert it == pytest.approx(0.1 + t_cm(k), rel=1e-9)
    assert s["t_cm_s"] == pytest.approx(t_cm(k), rel=1e-9)
    window = 0.1 * BW / 8                                   # bytes a window holds
    assert s["reshard_sent_bytes"] == pytest.approx(k * 6 * window, rel=1e-9)
    assert s["reshard_breakpoints"] == k * 6                # stopped at every aggregation
    rounds = r._sim.system.runner.rs.rounds
    for dev in range(k):
        mine = sorted((x for x in rounds if x.src == dev), key=lambda x: x.r)
        assert [x.sent for x in mine[:2]] == [2.1e6, 2.1e6]      # rounds 0, 1 complete
        assert mine[2].sent == pytest.approx(6 * window - 4.2e6, rel=1e-9)   # 1.8 of 2.1 MB
        assert all(x.sent == 0 for x in mine[3:])
    # the bytes the network carried for resharding are the bytes counted as sent
    assert r._sim.system.tx.bytes["reshard"] == pytest.approx(s["reshard_sent_bytes"], rel=1e-9)


def test_resharding_bytes_are_samples_times_sample_bytes_to_the_rounds_partner():
    r = run(mercury("bacc", 3, reshard=100, every=2))
    s = r.summary["mercury"]
    assert s["reshard_rounds"] == 3 * 3                     # iterations 0, 2, 4 on 3 devices
    assert s["reshard_sent_bytes"] == s["reshard_asked_bytes"] == 9 * 100 * 3000
    rs = r._sim.system.runner.rs
    for x in rs.rounds:                                     # s = 1 + r mod (K - 1)
        assert x.dst == (x.src + 1 + x.r % 2) % 3 and x.total == 100 * 3000
    # every device sends and receives as many samples in a round
    for rnd in range(3):
        dsts = sorted(x.dst for x in rs.rounds if x.r == rnd)
        assert dsts == [0, 1, 2]


def _learning(shards, groups=4, carry="carry"):
    spec = SimpleNamespace(learning=SimpleNamespace(), batch=4,
                           group=SimpleNamespace(groups=groups),
                           reshard=SimpleNamespace(importance=carry))
    learner = SimpleNamespace(initial=np.zeros(1))
    return MercuryLearning(7, spec, "bacc", learner, [np.array(s) for s in shards],
                           np.zeros(0, dtype=int))


def test_importance_aware_picks_group_quotas_with_probability_proportional_to_importance():
    """N_o M_i / sum M_j from each group (largest remainders); within a group, p of Eq. 2.5."""
    ml = _learning([np.arange(40), np.arange(40, 80)], groups=4)   # groups of 10
    ml.importance[0][:] = np.tile(np.arange(1, 11, dtype=float), 4)
    counts = np.zeros(40)
    for r in range(2000):
        slots = ml.reshard_pick(0, r, 8, "importance")[0]
        per_group = np.bincount(slots // 10, minlength=4)
        assert list(per_group) == [2, 2, 2, 2]
        counts[slots] += 1
        ml.rs_pending[0].clear()
    # frequency of each rank within a group against importance (two without replacement:
    # the first pick is exactly proportional, the second close; compare the ranking and
    # the extremes)
    freq = counts.reshape(4, 10).sum(axis=0) / (2000 * 8)
    assert np.all(np.diff(freq) > 0)
    assert freq[-1] / freq[0] > 5
    # importance-agnostic: uniform
    ml.rs_pending[0].clear()
    counts[:] = 0
    for r in range(2000):
        counts[ml.reshard_pick(0, 10_000 + r, 8, "random")[0]] += 1
        ml.rs_pending[0].clear()
    assert counts.max() / counts.min() < 1.4


def test_received_samples_take_the_places_of_the_receivers_picks_and_carry_importance():
    ml = _learning([np.arange(20), np.arange(20, 40)], groups=2)
    ml.importance[0][:] = np.arange(20) + 1.0
    ml.stamp[0][:] = 3.0
    a = ml.reshard_pick(0, 0, 4, "importance")
    b = ml.reshard_pick(1, 0, 4, "importance")
    before = np.sort(np.concatenate(ml.shards))
    ml.reshard_arrive(1, 0, a, 0, 2)                        # half of 0's samples are in
    assert list(ml.shards[1][b[0][:2]]) == list(a[1][:2])
    assert set(b[0][2:]) <= ml.rs_pending[1]                # still waiting: not picked again
    nxt = ml.reshard_pick(1, 1, 16, "random")[0]
    assert not set(b[0][2:]) & set(nxt)
    ml.reshard_arrive(1, 0, a, 2, 4)
    ml.reshard_arrive(0, 0, b, 0, 4)
    assert list(ml.shards[1][b[0]]) == list(a[1]) and list(ml.shards[0][a[0]]) == list(b[1])
    assert np.array_equal(np.sort(np.concatenate(ml.shards)), before)   # a swap: none lost
    assert list(ml.importance[1][b[0]]) == list(a[2]) and set(ml.stamp[1][b[0]]) == {3.0}
    assert [len(s) for s in ml.shards] == [20, 20] and ml.rs_moved == 8
    # 'reset': the receiving group's mean importance, never computed
    ml2 = _learning([np.arange(20), np.arange(20, 40)], groups=2, carry="reset")
    a, b = ml2.reshard_pick(0, 0, 2, "random"), ml2.reshard_pick(1, 0, 2, "random")
    ml2.importance[1][:] = 2.0
    ml2.reshard_arrive(1, 0, a, 0, 2)
    assert set(ml2.importance[1][b[0]]) == {2.0} and set(ml2.stamp[1][b[0]]) == {-1.0}


def test_an_arrival_before_the_receivers_pick_waits_for_it():
    ml = _learning([np.arange(10), np.arange(10, 20)], groups=1)
    a = ml.reshard_pick(0, 5, 3, "random")
    ml.reshard_arrive(1, 5, a, 0, 3)
    assert ml.rs_moved == 0
    b = ml.reshard_pick(1, 5, 3, "random")
    assert list(ml.shards[1][b[0]]) == list(a[1]) and ml.rs_moved == 3


@pytest.mark.parametrize("schedule", ["bacc", "sequential"])
def test_with_learning_resharded_samples_really_move_between_shards(schedule):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from tests.test_mercury_learning import run as learn_run
    r = learn_run(f"training.mercury.schedule={schedule}")
    ml = r._sim.system.learning
    rs = r._sim.system.runner.rs
    moved = sum(x.delivered for x in rs.rounds)
    assert ml.rs_moved == moved > 0
    assert r.summary["mercury"]["learning"]["resharded_samples_moved"] == moved
    # still a partition of the training split, and the shards are not the ones dealt
    union = np.sort(np.concatenate(ml.shards))
    assert len(np.unique(union)) == len(union) == 1438
    assert r.summary["mercury"]["reshard_sent_bytes"] == pytest.approx(
        sum(x.sent for x in rs.rounds))
    assert all(x.sent == x.delivered * 65 for x in rs.rounds if x.sent == x.total)


def test_flow_network_stop_returns_the_unsent_bits_and_frees_the_link():
    """FlowNetwork.stop (what breakpoint-resume stands on): two flows share 8 Mbit/s; one is
    stopped at t = 1 s with 4 of its 8 Mbit sent; the other then gets the whole link."""
    import simpy

    from edgesim.network.flows import STOPPED, FlowNetwork
    env = simpy.Environment()
    net = FlowNetwork(env)
    net.add_channel("l", 8e6)
    done = {}
    a = net.start_flow(["l"], 1e6, lambda f: done.setdefault("a", env.now))
    net.start_flow(["l"], 1e6, lambda f: done.setdefault("b", env.now))
    left = {}
    env.process(_stop_at(env, net, a, 1.0, left))
    env.run()
    assert left["bits"] == pytest.approx(4e6) and a.state == STOPPED and "a" not in done
    assert done["b"] == pytest.approx(1.5)        # 4 Mbit at 4 Mbit/s, then 4 at 8
    assert net.stop(a) == 0.0                     # stopping twice does nothing


def _stop_at(env, net, flow, t, out):
    yield env.timeout(t)
    out["bits"] = net.stop(flow)
