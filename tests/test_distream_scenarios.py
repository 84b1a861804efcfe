"""The bundled Distream scenarios: they run, keep their promises, and a golden summary pins
the whole system's behaviour (any change to it must be deliberate)."""
from __future__ import annotations

import pytest

import edgesim

CAMPUS = "scenarios/distream/campus.yaml"


def test_campus_golden_summary():
    s = edgesim.run(edgesim.load(CAMPUS, ["duration=240s"])).summary
    assert s["requests"] == {"generated": 18815, "completed": 16605, "dropped": 0, "failed": 0,
                             "timed_out": 0, "in_flight": 2210, "warmup": 31}
    assert s["inference_ips"]["avg"] == pytest.approx(230.8, rel=1e-12)
    assert s["latency_s"]["mean"] == pytest.approx(1.9829669232362968, rel=1e-9)
    assert s["latency_s"]["p99"] == pytest.approx(17.83240452302424, rel=1e-9)
    assert s["slo_miss_rate"] == pytest.approx(0.1943992773261066, rel=1e-9)


@pytest.mark.parametrize("policy", ["camera-only", "centralized"])
def test_extreme_placements(policy):
    r = edgesim.run(edgesim.load(CAMPUS, ["duration=200s", f"policy.name={policy}"]))
    paths = r.requests.nodes.astype(str)
    if policy == "camera-only":
        assert not paths.str.contains("edge").any()
        first = paths.str.split(">").str[0]
        assert (first == r.requests.source.astype(str).str.split(".").str[1]).all()
    else:
        assert paths.str.split(">").apply(lambda p: all(n.startswith("edge") for n in p)).all()


def test_scaling_variants_serve_more_with_more_cameras():
    ips = {}
    for n in (6, 24):
        s = edgesim.run(edgesim.load(f"scenarios/distream/scaling-{n}.yaml",
                                     ["duration=300s", "policy.name=videoedge-l"])).summary
        ips[n] = s["inference_ips"]["avg"]
    assert ips[24] > 2 * ips[6]
