"""The engine's hook for migrating pending work: `Node.take_queued` and
`Simulation.move_queued` (``PolicyContext.move_queued``). Moved requests are neither lost nor
duplicated, pay their stage bytes on the link between the two nodes, keep one path entry per
stage, and keep the wait they accumulated before the move."""
from __future__ import annotations

import pytest

import edgesim
from edgesim.engine.clock import CONTROL, call_at

SIZE = 100_000.0          # bytes of the stage
BW = 8e6                  # bits/s: one stage's bytes cross in SIZE * 8 / BW = 0.1 s


def two_nodes(discipline: str = "fifo") -> dict:
    """Requests arrive at ``a`` once a second and queue there (service 3 s, one executor);
    ``b`` is idle; a 8 Mbit/s link joins them."""
    return {
        "name": "move", "seed": 0, "duration": 100.0,
        "nodes": {"a": {"queue": discipline}, "b": {}},
        "links": {"ab": {"ends": ["a", "b"], "bandwidth": BW}},
        "workload": {
            "sources": {"s": {"at": "a", "job": "j", "limit": 20,
                              "arrivals": {"process": "deterministic", "rate": 1.0}}},
            "jobs": {"j": {"stages": [{"model": "m", "node": "a", "bytes": SIZE}]}}},
        "service": {"m": {"cpu": {"dist": "constant", "time": 3.0}}},
        "metrics": {"interval": 1.0},
    }


def run_with_move(at: float, k: int, discipline: str = "fifo", accept=None):
    sim = edgesim.simulation(two_nodes(discipline)).check()
    a, b = sim.nodes
    moved: list = []
    waiting: list = []

    def move(_arg):
        waiting.append(a.waiting)
        before = {id(r): (r.wait, r.enq) for q in a.queues.values() for r in q}
        out = sim.move_queued(a, b, k, accept=accept)
        moved.extend((r.id, before[id(r)]) for r in out)
        waiting.append(a.waiting)

    call_at(sim.env, at, CONTROL, move)
    sim.run()
    return sim, sim.collect(), moved, waiting


def test_moved_requests_are_conserved_and_pay_their_bytes():
    sim, res, moved, waiting = run_with_move(10.5, 4)
    df = res.requests.set_index("id")
    ids = [i for i, _ in moved]
    assert len(ids) == 4 and waiting[0] - waiting[1] == 4
    # conservation: every request generated finished exactly once (the run drains them all)
    assert sim.generated == 20 and len(df) == 20 and df.index.is_unique
    assert (df.outcome == "completed").all()
    # the newest waiting requests moved (FIFO serves them last): arrivals at 7..10 s
    assert sorted(df.loc[ids, "created"]) == [7.0, 8.0, 9.0, 10.0]
    # bytes moved = the moved requests' stage bytes, on the link, and nothing else crossed it
    assert (df.loc[ids, "bytes"] == SIZE).all() and (df.drop(ids).bytes == 0).all()
    assert res.summary["network"]["bytes"] == pytest.approx(4 * SIZE)
    # one path entry per stage: the moved ones ran on b, the rest on a
    assert (df.loc[ids, "nodes"].astype(str) == "b0").all()
    assert (df.drop(ids).nodes.astype(str) == "a0").all()
    # the wait at a is kept, the transfer is neither wait nor service: latency = wait at a +
    # transfer + wait at b + service; the four transfers share the link fairly, so each takes
    # 4 * SIZE * 8 / BW
    for rid, (_w, enq) in moved:
        r = df.loc[rid]
        assert r.wait >= 10.5 - enq - 1e-9
        assert r.latency == pytest.approx(r.wait + 4 * SIZE * 8 / BW + 3.0)
    first = df.loc[ids].sort_values("finished")
    assert first.finished.iloc[0] == pytest.approx(10.5 + 4 * SIZE * 8 / BW + 3.0)


def test_moving_shortens_the_queue_it_left():
    """The requests left at a finish earlier than without the move (the queue has fewer ahead
    of the later arrivals), and the run's total latency falls: b was idle."""
    _s0, base, _m, _w = run_with_move(10.5, 0)
    _s1, res, moved, _w = run_with_move(10.5, 4)
    assert not _m
    stay = res.requests.set_index("id").drop([i for i, _ in moved])
    b0 = base.requests.set_index("id").loc[stay.index]
    assert (stay.finished <= b0.finished + 1e-9).all() and (stay.finished < b0.finished).any()
    assert res.requests.latency.sum() < base.requests.latency.sum()


def test_take_queued_order_and_filter():
    """LIFO serves the oldest last, so those move first; ``accept`` filters."""
    _s, res, moved, _w = run_with_move(10.5, 2, discipline="lifo")
    df = res.requests.set_index("id")
    created = sorted(df.loc[[i for i, _ in moved], "created"])
    assert created == sorted(created)[:2] and max(created) < 10.0
    _s, res, moved, _w = run_with_move(10.5, 10, accept=lambda r: r.id % 2 == 0)
    assert moved and all(i % 2 == 0 for i, _ in moved)


def test_move_needs_a_node_that_serves_the_model():
    sim = edgesim.simulation(two_nodes()).check()
    a, b = sim.nodes
    b.services.pop("m")
    out = []
    call_at(sim.env, 10.5, CONTROL, lambda _a: out.extend(sim.move_queued(a, b, 5)))
    sim.run()
    assert out == [] and len(sim.collect().requests) == 20
