"""Coalesced and incremental re-sharing in edgesim.network.flows: allocations and completion
times computed by hand, and every mode against the immediate full recomputation ("full") on
random flow sets."""
from __future__ import annotations

import random

import pytest
import simpy

from edgesim.engine.clock import ARRIVAL, COMPLETION, CONTROL, SAMPLE, call_at
from edgesim.network.flows import MODES, SETTLE, FlowNetwork

Mbps = 1e6
MB = 1e6
SETTLING = ["coalesced", "incremental"]


def make(channels: dict[str, float], mode: str):
    env = simpy.Environment()
    net = FlowNetwork(env, mode)
    for name, cap in channels.items():
        net.add_channel(name, cap)
    done: dict[object, float] = {}
    return env, net, done


def at(env, when, fn, prio=ARRIVAL):
    call_at(env, when, prio, lambda _: fn())


def start(net, done, route, nbytes, tag, cap=None):
    return net.start_flow(route, nbytes, lambda f: done.__setitem__(f.tag, net.env.now),
                          cap_bps=cap, tag=tag)


def approx(x: float):
    return pytest.approx(x, rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------------- fair-share arithmetic
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [1, 3, 10, 64])
def test_n_flows_on_one_link_get_c_over_n_and_one_recomputation(mode, n):
    env, net, done = make({"l": 12 * Mbps}, mode)
    flows = []
    at(env, 0.5, lambda: flows.extend(start(net, done, ["l"], 1 * MB, i) for i in range(n)))
    env.run(until=0.75)
    assert [f.rate for f in flows] == [12 * Mbps / n] * n        # settled: the attribute
    # the burst is one instant: one re-share unless re-sharing at every start
    assert net.recomputations == (n if mode in ("eager", "full") else 1)
    env.run()
    assert done == {i: approx(0.5 + n * 8e6 / 12e6) for i in range(n)}


@pytest.mark.parametrize("mode", MODES)
def test_parking_lot_by_hand(mode):
    # L1 10, L2 6, L3 4 Mb/s; the long flow crosses all three; s1 on L1, s2 on L2, two on L3.
    # L3's share 4/3 is the lowest: long = s3a = s3b = 4/3; then s2 = 6 - 4/3, s1 = 10 - 4/3.
    env, net, done = make({"L1": 10 * Mbps, "L2": 6 * Mbps, "L3": 4 * Mbps}, mode)
    fl = {t: start(net, done, r, 10 * MB, t) for t, r in [
        ("long", ["L1", "L2", "L3"]), ("s1", ["L1"]), ("s2", ["L2"]), ("s3a", ["L3"]),
        ("s3b", ["L3"])]}
    rates = {t: net.rate(f) for t, f in fl.items()}
    assert rates == {"long": approx(4e6 / 3), "s3a": approx(4e6 / 3), "s3b": approx(4e6 / 3),
                     "s2": approx(14e6 / 3), "s1": approx(26e6 / 3)}


@pytest.mark.parametrize("mode", MODES)
def test_cap_then_two_level_bottleneck_by_hand(mode):
    # A (1 Mb/s): f1 (cap 0.1), f2, f3; B (1 Mb/s): f3, f4.  The cap binds first (0.1 < 1/3);
    # A's 0.9 left gives f2 = f3 = 0.45 (below B's 1/2); B's 0.55 left goes to f4.
    env, net, done = make({"A": 1 * Mbps, "B": 1 * Mbps}, mode)
    f1 = start(net, done, ["A"], 1 * MB, 1, cap=0.1 * Mbps)
    f2 = start(net, done, ["A"], 1 * MB, 2)
    f3 = start(net, done, ["A", "B"], 1 * MB, 3)
    f4 = start(net, done, ["B"], 1 * MB, 4)
    assert [net.rate(f) for f in (f1, f2, f3, f4)] == [approx(0.1e6), approx(0.45e6),
                                                       approx(0.45e6), approx(0.55e6)]


@pytest.mark.parametrize("mode", MODES)
def test_staggered_multi_link_completions_by_hand(mode):
    # A 10, B 5 Mb/s.  f1 (10 Mb) on A+B and f2 (20 Mb) on A at 0: 5 each.  At 1 (f1 5 left,
    # f2 15) f3 (4 Mb) joins B: f1 = f3 = 2.5, f2 = 7.5.  f3 done at 2.6 (f1 1 left, f2 3);
    # then 5 each: f1 done at 2.8 (f2 2 left), f2 alone at 10: done at 3.0.
    env, net, done = make({"A": 10 * Mbps, "B": 5 * Mbps}, mode)
    start(net, done, ["A", "B"], 1.25 * MB, "f1")
    start(net, done, ["A"], 2.5 * MB, "f2")
    at(env, 1.0, lambda: start(net, done, ["B"], 0.5 * MB, "f3"))
    env.run()
    assert done == {"f3": approx(2.6), "f1": approx(2.8), "f2": approx(3.0)}
    assert list(done) == ["f3", "f1", "f2"]


# ---------------------------------------------------------------------- coalescing
@pytest.mark.parametrize("mode", SETTLING)
def test_reshare_and_start_in_one_instant_cost_one_recomputation(mode):
    # a Wi-Fi cell re-shares its stations' channels, then the flow starts: one re-share
    env, net, done = make({"a": 8 * Mbps, "b": 8 * Mbps}, mode)
    other = start(net, done, ["b"], 1 * MB, "other")
    net.flush()
    before = net.recomputations

    def both():
        net.set_capacities({"a": 4 * Mbps, "b": 4 * Mbps})
        start(net, done, ["a", "b"], 0.5 * MB, "new")
    at(env, 0.25, both)
    env.run(until=0.3)
    assert net.recomputations == before + 1
    assert other.rate == 2 * Mbps
    env.run()
    # other (8 Mb): 2 sent by 0.25, then 2 Mb/s beside new until new's 4 Mb are sent (2.25),
    # its last 2 Mb alone at 4 Mb/s: 2.75
    assert done == {"new": approx(2.25), "other": approx(2.75)}


def test_rate_back_to_its_value_within_an_instant_keeps_the_projection():
    # Coalesced, a capacity dip and its undo in one instant leave the flow untouched: same
    # rate, same projected finish bit for bit (re-sharing at each change re-projects it twice).
    env, net, done = make({"l": 3 * Mbps}, "coalesced")
    f = start(net, done, ["l"], 0.7 * MB, "f")
    net.flush()
    projected, last = f.finish, f.last_update

    def dip():
        net.set_capacity("l", 0.0)
        net.set_capacity("l", 3 * Mbps)
    at(env, 0.1 + 1 / 3, dip, CONTROL)
    env.run(until=1.0)
    assert f.last_update == last and f.finish == projected
    env.run()
    assert done["f"] == projected


def test_settling_comes_after_samples_and_reading_a_rate_settles():
    env, net, done = make({"l": 8 * Mbps}, "coalesced")
    a = start(net, done, ["l"], 2 * MB, "a")
    seen = {}

    def arrive():
        seen["b"] = start(net, done, ["l"], 1 * MB, "b")

    def sample():
        s = net.stats("l")
        seen["sample"] = (s.bytes_carried, s.flows, a.rate)   # before SETTLE: a still alone
        seen["read"] = net.rate(a)                            # reading settles now
    at(env, 1.0, arrive)
    at(env, 1.0, sample, SAMPLE)
    env.run(until=1.5)
    assert seen["sample"] == (approx(1 * MB), 2, 8 * Mbps)
    assert seen["read"] == 4 * Mbps and SETTLE > SAMPLE
    env.run()
    assert done == {"b": approx(3.0), "a": approx(3.0)}


@pytest.mark.parametrize("mode", SETTLING)
def test_same_instant_completions_in_start_order(mode):
    env, net, done = make({f"c{i}": 4 * Mbps for i in range(6)}, mode)
    # equal flows on separate links started in scrambled order of ids vs links
    for i in (3, 0, 5, 1, 4, 2):
        start(net, done, [f"c{i}"], 0.5 * MB, i)
    env.run()
    assert list(done) == [3, 0, 5, 1, 4, 2] and set(done.values()) == {1.0}


def test_pause_at_the_instant_a_flow_finishes():
    """A channel paused at exactly a flow's finish time, by an event that runs before the
    flow's completion call (same time and priority, scheduled earlier), does not hold the flow
    back: its bits were all sent by then.  Coalesced settling never sees the pause first; the
    eager re-share at the change itself does, and finds at most rounding residue left, which
    is finished, not frozen until the channel comes back (it was, before: done at 3.0)."""
    for mode, expected in [("coalesced", 1.0), ("incremental", 1.0), ("eager", 1.0)]:
        env, net, done = make({"l": 8 * Mbps}, mode)
        call_at(env, 1.0, COMPLETION, lambda _: net.set_capacity("l", 0.0))  # before the flow's
        call_at(env, 3.0, CONTROL, lambda _: net.set_capacity("l", 8 * Mbps))
        start(net, done, ["l"], 1 * MB, "f")                                  # due at 1.0
        env.run()
        assert done == {"f": expected}, mode


# ---------------------------------------------------------------------- locality
@pytest.mark.parametrize("mode", SETTLING)
def test_flows_on_disjoint_links_keep_rates_and_bookkeeping(mode):
    env, net, done = make({"P": 10 * Mbps, "Q": 10 * Mbps}, mode)
    p = [start(net, done, ["P"], 10 * MB, f"p{i}") for i in range(3)]
    net.flush()
    touched: list = []
    net.on_recompute = lambda flows: touched.append({f.tag for f in flows})
    for k in range(5):
        at(env, 0.1 * (k + 1), lambda k=k: start(net, done, ["Q"], 0.1 * MB, f"q{k}"))
    env.run(until=2.0)
    assert all(t <= {f"q{k}" for k in range(5)} for t in touched) and len(touched) >= 5
    assert [f.last_update for f in p] == [0.0] * 3 and [f.rate for f in p] == [10e6 / 3] * 3


def test_incremental_re_solves_only_flows_whose_bottleneck_can_move():
    # X 100 Mb/s is nobody's bottleneck; Y 10 Mb/s is f1's and f2's (5 each).
    env, net, done = make({"X": 100 * Mbps, "Y": 10 * Mbps}, "incremental")
    f1 = start(net, done, ["X", "Y"], 10 * MB, 1)
    f2 = start(net, done, ["X", "Y"], 10 * MB, 2)
    net.flush()
    rec, touched = net.recomputations, net.flows_touched
    net.set_capacity("X", 50 * Mbps)        # still unsaturated: nothing to re-solve
    net.flush()
    assert (net.recomputations, net.flows_touched) == (rec, touched)
    g = start(net, done, ["X"], 1 * MB, "g", cap=1 * Mbps)   # fits under X at its cap
    net.flush()
    assert net.flows_touched == touched + 1 and net.rate(g) == 1 * Mbps
    net.set_capacity("Y", 20 * Mbps)        # their bottleneck: both re-solved
    net.flush()
    assert net.flows_touched == touched + 3
    assert net.rate(f1) == net.rate(f2) == 10 * Mbps and net.fallbacks == 0


# ---------------------------------------------------------------------- against "full"
def random_scenario(seed: int):
    """Channels, flows, capacity changes, outages; arrivals on few instants (bursts)."""
    rng = random.Random(seed)
    nch = rng.randint(1, 8)
    chans = {f"c{i}": (rng.choice([1, 2, 5, 10, 40]) * Mbps * rng.choice([1, 1, 1.37]),
                       rng.choice([0.0, 0.0, 1e-3])) for i in range(nch)}
    names = list(chans)
    instants = [rng.randint(0, 20) * 0.05 for _ in range(6)]

    def when(p):
        return rng.choice(instants) if rng.random() < p else rng.uniform(0, 1)
    ev = []
    for i in range(rng.randint(1, 40)):
        route = rng.sample(names, rng.randint(0, min(4, nch)))
        size = rng.choice([0, 125_000, 250_000, rng.uniform(1e3, 1e6)])
        cap = rng.choice([None, None, rng.choice([0.5, 1, 3]) * Mbps])
        ev.append((when(0.7), ARRIVAL, "start", i, route, size, cap))
    for j in range(rng.randint(0, 8)):
        v = rng.choice([0.0, 0.5, 1, 2, 5, 10, 100]) * Mbps
        # at COMPLETION priority (as trace steps run) only to a non-zero capacity: see
        # test_pause_at_the_instant_a_flow_finishes
        prio = rng.choice([ARRIVAL, CONTROL, COMPLETION] if v else [ARRIVAL, CONTROL])
        ev.append((when(0.5), prio, "cap", j, rng.choice(names), v))
    for j in range(rng.randint(0, 2)):
        c, t = rng.choice(names), rng.uniform(0, 1)
        ev.append((t, CONTROL, "down", j, c, rng.choice(["pause", "fail"])))
        ev.append((t + rng.choice([0, 0.1, 0.5]), CONTROL, "up", j, c))
    ev += [(2.0, CONTROL, "cap", -1, c, cap) for c, (cap, _l) in chans.items()]
    return chans, ev


def simulate(scenario, mode: str):
    chans, ev = scenario
    env = simpy.Environment()
    net = FlowNetwork(env, mode)
    for c, (cap, lat) in chans.items():
        net.add_channel(c, cap, lat)
    done: dict[int, float] = {}
    failed: dict[int, float] = {}

    def do(e):
        if e[2] == "start":
            net.start_flow(e[4], e[5], lambda f: done.__setitem__(f.tag, env.now), cap_bps=e[6],
                           on_fail=lambda f: failed.__setitem__(f.tag, env.now), tag=e[3])
        elif e[2] == "cap":
            net.set_capacity(e[4], e[5])
        elif e[2] == "down":
            net.channel_down(e[4], e[5])
        else:
            net.channel_up(e[4])
    for e in ev:
        call_at(env, e[0], e[1], do, e)
    env.run()
    assert net.active_flows() == 0
    return done, failed, net


@pytest.mark.parametrize("seed", range(300))
def test_every_mode_matches_the_full_recomputation(seed):
    sc = random_scenario(seed)
    ref, ref_failed, _ = simulate(sc, "full")
    runs = {m: simulate(sc, m) for m in ("coalesced", "incremental", "eager")}
    for mode, (done, failed, _net) in runs.items():
        assert failed == ref_failed, mode
        # same completion times up to float rounding (sums taken in another order)
        assert done == {k: pytest.approx(t, rel=1e-12, abs=1e-15) for k, t in ref.items()}, mode
    # coalescing keeps the order of same-time completions; it re-shares less
    assert list(runs["coalesced"][0]) == list(runs["eager"][0])
    assert runs["coalesced"][2].recomputations <= runs["eager"][2].recomputations
    again = simulate(sc, "coalesced")[0]                  # deterministic, order included
    assert list(again.items()) == list(runs["coalesced"][0].items())


def test_bursts_need_fewer_recomputations():
    totals = {m: 0 for m in ("coalesced", "eager")}
    for seed in range(40):
        sc = random_scenario(seed)
        for m in totals:
            totals[m] += simulate(sc, m)[2].recomputations
    assert totals["coalesced"] < 0.8 * totals["eager"]


def dense_scenario(seed: int):
    """Up to 200 flows over up to 40 channels: cascades that the incremental solve follows
    through several rounds, or gives up on for a component recomputation."""
    rng = random.Random(seed)
    names = [f"c{i}" for i in range(rng.randint(5, 40))]
    caps = {c: rng.choice([1, 2, 5, 10, 40, 100]) * Mbps * rng.uniform(0.5, 2) for c in names}
    ev = []
    for i in range(rng.randint(20, 200)):
        route = rng.sample(names, rng.randint(1, min(6, len(names))))
        t = rng.uniform(0, 2) if rng.random() < 0.6 else rng.randint(0, 10) * 0.2
        ev.append((t, ARRIVAL, "start", i, route, rng.uniform(1e3, 2e6),
                   rng.choice([None, None, None, rng.uniform(0.1, 20) * Mbps])))
    for j in range(rng.randint(0, 60)):
        ev.append((rng.uniform(0, 3), rng.choice([ARRIVAL, CONTROL, COMPLETION]), "cap", j,
                   rng.choice(names), rng.choice([0.0, 1, 1, 1]) * rng.uniform(0.2, 3)
                   * caps[rng.choice(names)]))
    ev += [(4.0, CONTROL, "cap", -1, c, v) for c, v in caps.items()]
    return {c: (v, 0.0) for c, v in caps.items()}, ev


def test_incremental_matches_full_on_dense_networks():
    fallbacks = local = 0
    for seed in range(15):
        sc = dense_scenario(seed)
        ref = simulate(sc, "full")[0]
        done, _failed, net = simulate(sc, "incremental")
        assert done == {k: pytest.approx(t, rel=1e-12) for k, t in ref.items()}, seed
        fallbacks += net.fallbacks
        local += net.recomputations - net.fallbacks
    assert fallbacks > 0 and local > fallbacks      # both paths exercised


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        FlowNetwork(simpy.Environment(), "lazy")


# ---------------------------------------------------------------------- Wi-Fi cells
def cell_net(n: int, mode: str = "dcf"):
    """A cell of ``n`` stations (802.11ac) whose AP is wired to a server: the fleet's shape."""
    from edgesim.network.cells import Cell, CellManager
    env = simpy.Environment()
    net = FlowNetwork(env)
    net.add_channel("up", 10e9)
    cell = Cell("c", "ap", {f"s{i}": 390e6 for i in range(n)}, "802.11ac", mode, 1500.0)
    mgr = CellManager(env, net, [cell])
    mgr.add_channels()
    applied: list = []
    real = mgr.apply
    mgr.apply = lambda c: (applied.append(sorted(c.contending)), real(c))[1]
    done: dict = {}

    def send(i, nbytes, tag):
        route = [cell.channel[f"s{i}"], "up"]
        mgr.starting(route)
        return start(net, done, route, nbytes, tag)
    return env, net, cell, send, applied, done


def test_cell_installs_its_shares_once_per_instant():
    from edgesim.network.wifi import cell_shares
    env, net, cell, send, applied, done = cell_net(6)
    share = {n: cell_shares([390e6] * n, "dcf", "802.11ac", 1500.0)[0] for n in (1, 4, 5)}
    flows = {}
    seen = {}

    def burst():                      # five stations start in one instant (a frame clock)
        for i in range(5):
            flows[i] = send(i, 40_000 if i else 10_000, i)

    def sample():                     # a link sample in that instant: the new capacities
        seen["cap"] = net.stats(cell.channel["s3"]).capacity_bps
    at(env, 0.5, burst)
    at(env, 0.5, sample, SAMPLE)
    env.run(until=0.5 + 1e-9)
    assert applied == [[f"s{i}" for i in range(5)]]          # once, not once per station
    assert net.recomputations == 1 and seen["cap"] == share[5]
    assert [f.rate for f in flows.values()] == [share[5]] * 5
    env.run()
    # s0 finishes first; the four left get the 4-station share, and their finish follows
    t0 = 0.5 + 80_000 / share[5]
    assert done[0] == approx(t0)
    for i in range(1, 5):
        assert done[i] == approx(t0 + (320_000 - 80_000) / share[4])
    # when the last four stop together, nobody is left contending: nothing to install (idle
    # channels keep the capacity they had)
    assert [a for a in applied if a] == [[f"s{i}" for i in range(5)],
                                         [f"s{i}" for i in range(1, 5)]]
    assert net.stats(cell.channel["s1"]).capacity_bps == share[4]


def test_cell_memo_gives_the_same_capacities_as_recomputing():
    env, net, cell, send, applied, done = cell_net(4, mode="fair-share")
    cell.rates["s3"] = 54e6                         # one slow station: unequal fair shares
    for k in range(3):
        at(env, 0.01 * k, lambda k=k: [send(i, 20_000, (k, i)) for i in range(4)])
    env.run()
    assert len(cell.memo) >= 1 and len(done) == 12
    for key, (chans, caps) in cell.memo.items():
        cell.active = {s: int(s in key) for s in cell.rates}
        want = cell.shares()
        assert [c.name for c in chans] == [cell.channel[s] for s in want]
        assert caps == list(want.values())


@pytest.mark.parametrize("seed", range(20))
def test_a_lone_flow_is_solved_as_the_heap_solves_it(seed):
    """maxmin.solo (one flow alone in its component) equals progressive filling, ties and
    caps included, bit for bit."""
    from edgesim.network.maxmin import components, fill
    rng = random.Random(seed)
    for _ in range(50):
        levels = [0.0, 1e6, 2e6, 2e6, 5e6]
        env = simpy.Environment()
        net = FlowNetwork(env)
        names = [f"c{i}" for i in range(rng.randint(1, 4))]
        for n in names:
            net.add_channel(n, rng.choice(levels))
        cap = rng.choice([None, 1e6, 2e6, 3e6])
        f = net.start_flow(rng.sample(names, rng.randint(1, len(names))), 1e5, lambda f: None,
                           cap_bps=cap)
        flows, ends, chans = components(f._channels)
        assert flows == [f] and ends == [1]
        got = (f._new, f._newb)
        for c in f._channels:
            c._rem, c._cnt, c._sf = c.capacity, 1, c.flows.values()
        fill([f], list(f._channels))
        assert got[0] == f._new and got[1] is f._newb
