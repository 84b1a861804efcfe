"""Tests of edgesim.network.topology: routing choices, naming, and use with a FlowNetwork."""
from __future__ import annotations

import networkx as nx
import pytest
import simpy

from edgesim.network.flows import FlowNetwork
from edgesim.network.topology import NoRoute, Topology


def topo(hosts=(), switches=(), aps=()):
    t = Topology()
    for n in hosts:
        t.add_node(n)
    for n in switches:
        t.add_node(n, "switch")
    for n in aps:
        t.add_node(n, "ap")
    return t


def test_channel_names_and_capacities():
    t = topo(hosts=["h"], aps=["ap"])
    t.add_link("h", "ap", 1e6, 0.004, up_bps=2e6, down_bps=5e6)
    t.add_node("s", "switch")
    t.add_link("ap", "s", 1e9, 0.001, name="backhaul")
    assert t.channels() == {
        "h--ap:h->ap": (2e6, 0.004), "h--ap:ap->h": (5e6, 0.004),
        "backhaul:ap->s": (1e9, 0.001), "backhaul:s->ap": (1e9, 0.001),
    }
    assert t.route("h", "s") == ["h--ap:h->ap", "backhaul:ap->s"]
    assert t.route("s", "h") == ["backhaul:s->ap", "h--ap:ap->h"]
    assert t.route("h", "h") == [] and t.route_latency("h", "h") == 0.0
    assert t.route_latency("s", "h") == pytest.approx(0.005, rel=1e-15)
    assert t.nodes("ap") == ["ap"] and t.nodes() == ["ap", "h", "s"]


def test_lowest_latency_beats_fewer_hops():
    t = topo(hosts=["a", "b"], switches=["s1", "s2"])
    t.add_link("a", "b", 1e9, 0.010)                       # 1 hop, 10 ms
    t.add_link("a", "s1", 1e9, 0.001)
    t.add_link("s1", "s2", 1e9, 0.001)
    t.add_link("s2", "b", 1e9, 0.001)                      # 3 hops, 3 ms
    assert t.route("a", "b") == ["a--s1:a->s1", "s1--s2:s1->s2", "s2--b:s2->b"]
    assert t.route_latency("a", "b") == pytest.approx(0.003)


def test_equal_latency_prefers_fewer_hops():
    t = topo(hosts=["a", "b"], switches=["s"])
    t.add_link("a", "s", 1e9, 0.001)
    t.add_link("s", "b", 1e9, 0.001)
    t.add_link("a", "b", 1e9, 0.002)
    assert t.route("a", "b") == ["a--b:a->b"]


def test_float_sums_that_tie_on_paper_tie():
    # 0.7 + 0.1 < 0.8 in floats; the route must still be chosen by hops, not by rounding
    t = topo(hosts=["a", "b"], switches=["s"])
    t.add_link("a", "s", 1e9, 0.7)
    t.add_link("s", "b", 1e9, 0.1)
    t.add_link("b", "a", 1e9, 0.8)
    assert t.route("a", "b") == ["b--a:a->b"]


@pytest.mark.parametrize("order", [["x", "y"], ["y", "x"]])
def test_ties_broken_by_node_path_not_insertion_order(order):
    t = topo(hosts=["a", "b"], switches=order)
    for s in order:
        t.add_link("a", s, 1e9, 0.001)
        t.add_link(s, "b", 1e9, 0.001)
    assert t.route("a", "b") == ["a--x:a->x", "x--b:x->b"]
    assert t.route("b", "a") == ["x--b:b->x", "a--x:x->a"]


def test_pinned_route_overrides_and_is_validated():
    t = topo(hosts=["a", "b"], switches=["x", "y"])
    for s in ("x", "y"):
        t.add_link("a", s, 1e9, 0.001)
        t.add_link(s, "b", 1e9, 0.001)
    assert t.route("a", "b")[0] == "a--x:a->x"        # cached before pinning
    t.pin_route("a", "b", ["y"])
    assert t.route("a", "b") == ["a--y:a->y", "y--b:y->b"]
    assert t.route("b", "a") == ["x--b:b->x", "a--x:x->a"]   # one direction only
    t.pin_route("b", "a", ["b", "y", "a"])                      # full path form
    assert t.route("b", "a") == ["y--b:b->y", "a--y:y->a"]
    with pytest.raises(ValueError, match=r"'x'->'y'"):
        t.pin_route("a", "b", ["x", "y"])
    with pytest.raises(ValueError, match="unknown node 'z'"):
        t.pin_route("a", "b", ["z"])


def test_route_cache_invalidated_by_new_link():
    t = topo(hosts=["a", "b"], switches=["s"])
    t.add_link("a", "s", 1e9, 0.005)
    t.add_link("s", "b", 1e9, 0.005)
    assert len(t.route("a", "b")) == 2
    t.add_link("a", "b", 1e9, 0.001)
    assert t.route("a", "b") == ["a--b:a->b"]


def test_no_route_message():
    t = topo(hosts=["a", "b", "c", "d"])
    t.add_link("a", "b", 1e9)
    t.add_link("c", "d", 1e9)
    with pytest.raises(NoRoute) as err:
        t.route("a", "d")
    assert isinstance(err.value, ValueError)
    msg = str(err.value)
    assert "'a'" in msg and "'d'" in msg and "['a', 'b']" in msg
    with pytest.raises(NoRoute, match="unknown node 'q'"):
        t.route("a", "q")


def test_building_errors():
    t = topo(hosts=["a", "b"])
    with pytest.raises(ValueError):
        t.add_node("a")
    with pytest.raises(ValueError):
        t.add_node("n", kind="router")
    with pytest.raises(ValueError, match="unknown node 'z'"):
        t.add_link("a", "z", 1e9)
    t.add_link("a", "b", 1e9)
    with pytest.raises(ValueError):
        t.add_link("b", "a", 1e9)
    with pytest.raises(ValueError):
        topo(hosts=["p", "q"]).add_link("p", "q", 0.0)


def test_graph_is_read_only():
    t = topo(hosts=["a", "b"])
    t.add_link("a", "b", 1e9, 0.002)
    g = t.graph
    assert g.nodes["a"]["kind"] == "host" and g.edges["b", "a"]["channel"] == "a--b:b->a"
    with pytest.raises(nx.NetworkXError):
        g.add_node("x")


def test_asymmetric_link_used_in_right_direction():
    # phone -> ap is "up" (1 Mb/s), ap -> phone "down" (4 Mb/s); 1 MB each way, 5 ms latency
    t = topo(hosts=["phone", "server"], aps=["ap"])
    t.add_link("phone", "ap", 0, 0.005, up_bps=1e6, down_bps=4e6)
    t.add_link("ap", "server", 1e9, 0.001)
    env = simpy.Environment()
    net = FlowNetwork(env)
    t.build(net)
    done = {}
    up = net.start_flow(t.route("phone", "server"), 1e6, lambda f: done.__setitem__("up", env.now))
    down = net.start_flow(t.route("server", "phone"), 1e6, lambda f: done.__setitem__("down", env.now))
    assert net.rate(up) == 1e6 and net.rate(down) == 4e6
    env.run()
    assert done["up"] == pytest.approx(8.0 + 0.006, rel=1e-12)
    assert done["down"] == pytest.approx(2.0 + 0.006, rel=1e-12)
