"""Distream's migration of pending workload (``migrate: queued``, the default): the balancer's
plan x_ij moves the ROIs waiting in a hot camera's queue first (`balancer.queued_moves`), the
rest of it as shares of new ROIs (`balancer.remaining_plan`). Direction, conservation and
bytes, against the water-filling the plan is."""
from __future__ import annotations

import random

import pytest

import edgesim
from edgesim.systems.distream import balancer as bal

CAMPUS = "scenarios/distream/campus.yaml"


def _v(u, caps, normalise="multiply"):
    return bal.imbalance(bal.normalised_loads(u, bal.normalisation(caps), normalise))


def test_one_hot_camera_moves_to_the_water_level():
    """Theory: four equal cameras, 100 waiting on one, beta = 0.2. Water-filling stops when
    v' = beta: the donor at H = 1.2 * mean = 30, so 70 move, 70 / 3 to each of the others;
    whole requests split by largest remainders (24, 23, 23), and v' = 0.2 after."""
    w, caps = [100, 0, 0, 0], [1.0] * 4
    res = bal.balance(w, None, caps, beta=0.2)
    assert sum(res.x.values()) == pytest.approx(70.0, rel=1e-6)
    moves = bal.queued_moves(res.x, w, None, w, caps)
    assert sorted(moves.values()) == [23, 23, 24] and all(i == 0 for i, _j in moves)
    after = bal.loads(w, None, moves)
    assert after[0] == 30 and _v(after, caps) == pytest.approx(0.2)
    # nothing of the plan is left for new ROIs, and the queue it left is the rest
    rest, w_left = bal.remaining_plan(res.x, moves, w)
    assert sum(rest.values()) < 1.0 and w_left == [30, 0, 0, 0]


def test_only_waiting_requests_move():
    """movable caps the donor (requests in service stay); the rest of x_ij stays for new
    ROIs, as the share of what is left of the camera's workload."""
    w, w_hat, caps = [10, 0, 0, 0], [90, 0, 0, 0], [1.0] * 4
    res = bal.balance(w, w_hat, caps, beta=0.2)
    moves = bal.queued_moves(res.x, w, w_hat, [6, 0, 0, 0], caps)
    assert sum(moves.values()) == 6
    rest, w_left = bal.remaining_plan(res.x, moves, w)
    assert w_left[0] == 4
    assert sum(rest.values()) == pytest.approx(sum(res.x.values()) - 6)
    probs = bal.migration_probabilities(rest, w_left, w_hat)
    assert sum(p for _j, p in probs[0]) == pytest.approx(sum(rest.values()) / (4 + 90))


def test_no_waiting_roi_moves_to_a_longer_queue():
    """Camera 0 is hot by prediction (100 ROIs' work due) with 10 waiting; camera 1 has 40
    waiting and nothing due. The plan moves work 0 -> 1 (u = 110 against 40), its new ROIs
    by share; but none of the 10 waiting there, which would queue behind 40."""
    w, w_hat, caps = [10, 40], [100, 0], [1.0, 1.0]
    res = bal.balance(w, w_hat, caps, beta=0.2)
    assert res.x.get((0, 1), 0) > 20
    assert bal.queued_moves(res.x, w, w_hat, w, caps) == {}
    # with the queues the other way round the waiting ROIs do move, down to equal queues
    moves = bal.queued_moves(res.x, [40, 10], w_hat, [40, 10], caps)
    assert 0 < moves[(0, 1)] <= 15


@pytest.mark.parametrize("normalise", ["multiply", "divide"])
def test_a_migration_step_never_raises_the_imbalance(normalise):
    """On random queues, predictions and capacities (TX1 / TX2-like and wider), the moves
    never raise v' of the queues they move between, nor the plan's v' on Eq. 1.2's loads; no
    donor gives more than it has waiting, and every request moved is one taken off a donor and put on a receiver (the
    total is unchanged)."""
    rng = random.Random(7)
    moved_any = 0
    for _ in range(400):
        n = rng.randint(2, 12)
        w = [rng.choice([0, 1, 2, 5, 20, 80]) for _ in range(n)]
        w_hat = [0.0] * n if rng.random() < 0.5 else [rng.uniform(0, 50) for _ in range(n)]
        caps = [rng.choice([1.0, 1.01, 2.0, 0.5]) for _ in range(n)]
        movable = [max(0, wi - rng.randint(0, 2)) for wi in w]
        res = bal.balance(w, w_hat, caps, beta=rng.choice([0.0, 0.2, 0.5]), normalise=normalise)
        moves = bal.queued_moves(res.x, w, w_hat, movable, caps, normalise)
        before = bal.loads(w, w_hat)
        after = bal.loads(w, w_hat, moves)
        assert _v(after, caps, normalise) <= _v(before, caps, normalise) + 1e-9
        assert sum(after) == pytest.approx(sum(before))
        # v' of the queues themselves
        q = bal.loads(w, None, moves)
        assert _v(q, caps, normalise) <= _v(w, caps, normalise) + 1e-9
        for i in range(n):
            assert sum(k for (a, _b), k in moves.items() if a == i) <= movable[i]
        assert all(k > 0 and isinstance(k, int) for k in moves.values())
        moved_any += bool(moves)
    assert moved_any > 50        # the property is not met by moving nothing


@pytest.fixture(scope="module")
def campus_queued():
    """40 s of campus.yaml with the moves recorded: each call of the engine hook, and each
    transfer the network is asked for while the hook runs."""
    sim = edgesim.simulation(edgesim.load(CAMPUS, ["duration=40s", "warmup=5s"])).check()
    calls, transfers = [], []
    move, net = sim.move_queued, sim.network
    send = net.transfer

    def spy_transfer(src, dst, nbytes, deliver, arg, *a, **kw):
        if calls and calls[-1][-1] is None:         # inside a move
            transfers.append((src, dst, nbytes, arg))
        return send(src, dst, nbytes, deliver, arg, *a, **kw)

    def spy_move(src, dst, k, accept=None):
        calls.append((src.index, dst.index, k, None))
        out = move(src, dst, k, accept=accept)
        # each with its stage's bytes now (its stage advances later)
        calls[-1] = (src.index, dst.index, k,
                     [(r, r.plan.stages[r.stage].nbytes * r.units) for r in out])
        return out

    net.transfer = spy_transfer
    sim.policy.ctx.move_queued = spy_move
    sim.run()
    return sim, sim.collect(), calls, transfers


def test_campus_moves_waiting_rois_and_pays_their_bytes(campus_queued):
    sim, res, calls, transfers = campus_queued
    moved = [(s, d, r, nb) for s, d, _k, out in calls for r, nb in out]
    assert sim.policy.stats["moved_queued"] == len(moved) > 50
    cams = {n.index for n in sim.policy.cams}
    assert all(s in cams and d in cams and s != d for s, d, _r, _nb in moved)
    assert all(len(out) <= k for _s, _d, k, out in calls)
    # every moved request crossed from the camera it waited at to its new one, carrying its
    # stage's bytes (2 KB per ROI here), through the network's normal transfer path
    assert [(s, d, nb, r) for s, d, r, nb in moved] == transfers
    assert all(nb == 2000 for _s, _d, nb, _r in transfers)
    # it runs its stage where it was moved to, and its later camera stages follow it
    for _s, d, r, _nb in moved:
        assert r.note.target == d and r.note.migrated


def test_campus_moves_lose_and_duplicate_nothing(campus_queued):
    sim, res, calls, _t = campus_queued
    df = res.requests
    s = res.summary["requests"]
    assert df.id.is_unique and len(df) + sim.in_system == sim.generated
    assert s["dropped"] == s["failed"] == 0
    ids = {r.id for _s, _d, _k, out in calls for r, _nb in out}
    done = df[df.id.isin(ids)]
    assert (done.outcome == "completed").all() and len(done) > 0.9 * len(ids)
    # one path entry per stage (the move replaced the entry of the camera it left), and the
    # moved stage ran where it was moved to
    reqs = {r.id: (r, d) for _s, d, _k, out in calls for r, _nb in out}
    for rid in done.id:
        r, d = reqs[rid]
        assert len(r.path) == r.plan.n and d in r.path


def test_new_only_migration_moves_nothing_waiting():
    """``migrate: new`` is the behaviour before: no waiting request moves."""
    sim = edgesim.simulation(edgesim.load(CAMPUS, ["duration=20s", "warmup=5s",
                                                   "policy.params.migrate=new"]))
    sim.run()
    assert sim.policy.stats["moved_queued"] == 0 and sim.policy.stats["migrated"] > 0
