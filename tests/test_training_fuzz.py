"""Mutated training scenarios are either valid (and then a short run works) or rejected with
located problems; never another exception. The mutations are those of tests/test_fuzz.py."""
from __future__ import annotations

import copy

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import edgesim
from edgesim.errors import ScenarioError
from tests.test_fuzz import FUZZ, assert_good_error, mutate, time_limit

STEP = {"dist": "constant", "time": "1s"}
BASES = {
    "deepcon": {
        "name": "d", "duration": "1h",
        "nodes": {"server": {}, "gpu": {"count": 2, "device": "v100"},
                  "edge": {"count": 2, "device": "jetson-tx1"}},
        "switches": ["sw"],
        "links": {"g": {"ends": ["gpu", "sw"], "bandwidth": "1Gbps"},
                  "s": {"ends": ["server", "sw"], "bandwidth": "1Gbps"},
                  "e": {"ends": ["edge", "sw"], "bandwidth": "10Mbps"}},
        "training": {"deepcon": {
            "schedule": "dmml-par", "rounds": 2, "server": "server", "workers": "gpu",
            "models": {"a": {"params": 1000, "step": dict(STEP)},
                       "b": {"params": 2000, "step": dict(STEP), "batch": 2, "steps": 3}},
            "ota": {"edges": "edge", "window": "60s", "rate": "2/s", "item_bytes": "3KB",
                    "classes": 5, "sample_fraction": "10%", "threshold": "5%",
                    "gap": {"start": "10%", "drift": 1e-4, "after_update": "2%"}}}},
    },
    "mercury": {
        "name": "m", "duration": "1h",
        "nodes": {"dev": {"count": 3}},
        "switches": ["ap"],
        "links": {"wifi": {"ends": ["dev", "ap"], "bandwidth": "50Mbps"}},
        "training": {"mercury": {
            "schedule": "bacc", "devices": "dev", "params": 1e5, "step": dict(STEP),
            "samples": 3000, "iterations": 3,
            "group": {"batch": 16, "forward": {"dist": "constant", "time": "1ms"}},
            "reshard": {"samples": 4, "sample_bytes": "3KB"},
            "convergence": {"iterations": 100, "ratio": {"sequential": 0.5, "bacc": 0.5}}}},
    },
}


def test_training_bases_run():
    for doc in BASES.values():
        assert edgesim.run(copy.deepcopy(doc)).summary["stopped_by"] in ("done", "duration")


@pytest.mark.parametrize("base", sorted(BASES))
@FUZZ
@given(data=st.data())
def test_mutated_training_scenarios(base, data):
    doc = copy.deepcopy(BASES[base])
    overrides: list[str] = []
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        mutate(doc, overrides, data.draw)
    try:
        sf = edgesim.load(doc, overrides)
        sim = edgesim.simulation(sf)
    except ScenarioError as exc:
        event("rejected")
        assert_good_error(exc)
        return
    event("accepted")
    # A short run: at most 60 simulated seconds.
    short = edgesim.load(sf, ["duration=60s"])
    with time_limit(30):
        edgesim.run(short)
    assert sim.system is not None
