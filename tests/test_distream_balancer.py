"""Distream's cross-camera balancer (§1.3.2): the direct water-filling (`balance`, the
default) against the paper's step-by-step heuristic (`balance_iterative`, the reference), and
the cache that skips a balance whose inputs have not changed."""
from __future__ import annotations

import random

import pytest

import edgesim
from edgesim.systems.distream import balancer as bal

from tests.test_distream import cameras_scenario


def _normalised(u, capacities, normalise):
    return bal.normalised_loads(u, bal.normalisation(capacities), normalise)


def _flows(x, n):
    """(given away, taken) per camera."""
    out, into = [0.0] * n, [0.0] * n
    for (i, j), amount in x.items():
        out[i] += amount
        into[j] += amount
    return out, into


def _case(rng: random.Random, with_hat: bool):
    """Loads as the campus run sees them: most cameras idle or nearly, a few hot, the
    predicted arrivals of a few cameras large; capacities equal, two near-equal Jetsons, or
    spread over 4x."""
    n = rng.choice([2, 3, 5, 8, 24, 30])
    w = [rng.choice([0, 0, rng.randint(0, 20), rng.randint(0, 300)]) for _ in range(n)]
    w_hat = [rng.choice([0.0, 0.0, rng.uniform(0, 600)]) for _ in range(n)] if with_hat \
        else None
    caps = rng.choice([[1.0] * n, [rng.choice([42.5, 43.0]) for _ in range(n)],
                       [rng.uniform(0.5, 2.0) for _ in range(n)]])
    beta = rng.choice([0.0, 0.05, 0.2, 0.2, 0.5, 1.0])
    dx = rng.choice([0.01, 0.01, 0.005, 0.02])
    return w, w_hat, caps, beta, dx


def assert_close_to_the_steps(w, w_hat, caps, beta, dx, normalise):
    """The direct result is the steps' to within the tolerance of dx: per camera, the
    normalised load after balancing and the workload given and taken differ by at most three
    steps (a step moves dx of the largest normalised load), v' by at most 3 dx (1 + beta)."""
    n = len(w)
    d = bal.balance(w, w_hat, caps, beta, dx, normalise=normalise)
    it = bal.balance_iterative(w, w_hat, caps, beta, dx, normalise=normalise)
    assert it.reason != "limit"
    assert d.v_before == it.v_before and d.triggered == it.triggered
    if not it.triggered:
        assert d.x == it.x == {} and d.u == it.u and d.v_after == it.v_after
        return
    if beta > 0:
        assert d.reason == it.reason == "below-beta"
        assert d.v_after <= beta
    else:           # equality is never reached by steps: they stall (or run dry) near it
        assert d.reason == "no-improvement" and it.reason in ("no-improvement", "exhausted")
    own = bal.loads(w, w_hat)
    assert sum(d.u) == pytest.approx(sum(own), rel=1e-12, abs=1e-9)      # conserved
    assert d.u == pytest.approx(bal.loads(w, w_hat, d.x), rel=1e-12, abs=1e-9)
    a = bal.normalisation(caps)
    s0 = bal.normalised_loads(own, a, normalise)
    step = dx * max(s0)
    raw = max(1.0 / ak if normalise == "multiply" else ak for ak in a)  # raw per normalised
    assert _normalised(d.u, caps, normalise) == \
        pytest.approx(_normalised(it.u, caps, normalise), abs=3 * step)
    for mine, ref in zip(_flows(d.x, n), _flows(it.x, n)):
        assert mine == pytest.approx(ref, abs=3 * step * raw)
    assert d.v_after == pytest.approx(it.v_after, abs=3 * dx * (1 + beta))
    # a camera either gives or takes (the steps may swap a little at equality, beta = 0)
    if beta > 0:
        assert not {i for i, _j in d.x} & {j for _i, j in d.x}


@pytest.mark.parametrize("with_hat", [False, True], ids=["w", "w+w_hat"])
@pytest.mark.parametrize("normalise", bal.NORMALISE)
def test_direct_balance_is_the_steps_on_random_loads(normalise, with_hat):
    rng = random.Random(17 + 2 * bal.NORMALISE.index(normalise) + with_hat)
    for _ in range(150):
        assert_close_to_the_steps(*_case(rng, with_hat), normalise)


@pytest.mark.parametrize("normalise", bal.NORMALISE)
@pytest.mark.parametrize("w, w_hat, caps", [
    ([10, 10, 10, 10], None, [1, 1, 1, 1]),              # all equal: not triggered
    ([7, 7, 7], [3, 3, 3], [2, 2, 2]),                  # all equal with the prediction
    ([0, 0, 0], None, [1, 1, 2]),                       # no workload at all
    ([0, 0, 0], [0, 0, 0], [1, 1, 1]),
    ([50], [10], [1]),                                  # one camera: nothing to balance
    ([], None, []),                                     # no camera
    ([100, 100, 0, 0], None, [1, 1, 1, 1]),             # two equally hot cameras
    ([100, 0], None, [1, 3]),                           # two cameras, unequal capacity
    ([0, 0, 0, 90], [0, 0, 90, 0], [1, 1, 1, 1]),       # the prediction fills camera 2
    ([1000] + [0] * 23, None, [42.5] * 18 + [43.0] * 6),
    ([3, 1, 4, 1, 5, 9, 2, 6], [5.5, 0, 0, 30, 0, 0, 0, 2.5], [1, 2, 1, 2, 1, 2, 1, 2]),
])
def test_direct_balance_is_the_steps_on_edge_cases(w, w_hat, caps, normalise):
    for beta in (0.0, 0.2):
        assert_close_to_the_steps(w, w_hat, caps, beta, 0.01, normalise)


def test_direct_balance_by_hand():
    # one hot camera, three idle, equal capacities: mean 32.5, so v' = beta = 0.2 at a
    # maximum of 39; the other three share the 61 given away equally
    res = bal.balance([100, 10, 10, 10], None, [1, 1, 1, 1], beta=0.2)
    assert res.reason == "below-beta" and res.v_after == pytest.approx(0.2)
    assert res.u == pytest.approx([39, 30 + 1 / 3, 30 + 1 / 3, 30 + 1 / 3])
    assert res.x == {(0, j): pytest.approx(61 / 3) for j in (1, 2, 3)}
    # two hot cameras each give half of every receiver's share
    res = bal.balance([100, 100, 0, 0], None, [1, 1, 1, 1], beta=0.2)
    assert res.x == {(i, j): pytest.approx(20) for i in (0, 1) for j in (2, 3)}
    with pytest.raises(ValueError, match="method"):
        bal.balance([1, 2], None, [1, 1], method="exact")
    one = bal.balance([10, 10, 10], None, [1, 1, 2], beta=0.1, max_iter=1, method="iterative")
    assert one.reason == "limit" and one.iterations == 1


def test_degenerate_inputs_are_left_to_the_steps():
    # a camera without capacity or a negative workload: the steps' stopping rules decide
    for args in (([50, 0, 0], None, [1, 1, 0]), ([50, -5, 0], None, [1, 1, 1])):
        for normalise in bal.NORMALISE:
            d = bal.balance(*args, normalise=normalise)
            it = bal.balance_iterative(*args, normalise=normalise)
            # repr: v' is nan where a camera without capacity is infinitely loaded
            assert repr((d.x, d.u, d.reason, d.v_after)) == \
                repr((it.x, it.u, it.reason, it.v_after))


# ------------------------------------------------------------------------- the cache

def _simulated(summary: dict) -> dict:
    """The summary less what measures the machine (wall time and speed-up)."""
    return {k: v for k, v in summary.items() if k not in ("wall_time_s", "speedup")}


def test_cache_skips_a_balance_whose_inputs_did_not_change(monkeypatch):
    calls = []
    real = bal.balance

    def spy(*args, **kw):
        calls.append(args)
        return real(*args, **kw)

    monkeypatch.setattr(bal, "balance", spy)
    cache = bal.BalanceCache()
    args = ([100, 10, 10, 10], [0.0, 5.0, 0.0, 0.0], [1, 1, 1, 1], 0.2, 0.01)
    first = cache.balance(*args)
    again = cache.balance(*[list(v) if isinstance(v, list) else v for v in args])
    assert again is first and len(calls) == 1 and (cache.hits, cache.misses) == (1, 1)
    # any input the balancer reads makes it run again
    changed = [([100, 10, 10, 11],) + args[1:], args[:1] + ([0.0, 5.0, 0.0, 0.1],) + args[2:],
               args[:1] + (None,) + args[2:], args[:2] + ([1, 1, 1, 2],) + args[3:],
               args[:3] + (0.3, 0.01), args[:4] + (0.02,)]
    for k, other in enumerate(changed):
        assert cache.balance(*other) is not first and len(calls) == k + 2
    cache.balance(*args, normalise="divide")
    assert len(calls) == len(changed) + 2
    assert cache.balance(*args, normalise="divide") is cache.balance(*args, normalise="divide")
    assert len(calls) == len(changed) + 2
    # a replaced module function is called, not served from before
    monkeypatch.setattr(bal, "balance", bal.balance_iterative)
    assert cache.balance(*args, normalise="divide").reason == "below-beta"
    assert cache.misses == len(changed) + 3


def test_cache_in_a_run_skips_repeated_checks_and_changes_nothing(monkeypatch):
    """One hot camera at a steady rate and no predictor: between arrivals many 50 ms checks
    see the same queues; the run with the cache equals the run that balances every time."""
    sc = cameras_scenario("distream-l", rates=(6, 0, 0), duration=20.0,
                          params={"predictor": "none"})
    sim = edgesim.simulation(sc)
    sim.run()
    cached, pol = sim.collect(), sim.policy
    assert pol.balancer.hits > 0 and pol.balancer.misses > 0
    assert pol.balancer.hits + pol.balancer.misses == pol.stats["balancer_checks"]

    def never(self, *args, **kw):
        self.misses += 1
        return bal.balance(*args, **kw)

    monkeypatch.setattr(bal.BalanceCache, "balance", never)
    sim2 = edgesim.simulation(sc)
    sim2.run()
    every = sim2.collect()
    assert sim2.policy.balancer.hits == 0
    assert sim2.policy.stats == pol.stats
    assert _simulated(every.summary) == _simulated(cached.summary)
    assert every.requests.equals(cached.requests)


def test_same_seed_same_run():
    sc = cameras_scenario("distream", rates=(60, 5, 0), duration=6.0)
    a, b = edgesim.run(sc), edgesim.run(sc)
    assert _simulated(a.summary) == _simulated(b.summary) and a.requests.equals(b.requests)
