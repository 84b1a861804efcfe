"""The VP smart-home scenario, its failure sweep, the Galaxy Tab A literature bundle and the
model-parallel split: each checked against the paper's numbers or an independent computation."""
from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
import yaml

import edgesim
from edgesim.bundled import scenarios, sweeps
from edgesim.hardware.profiles.bundle import load_bundle
from edgesim.calibration.predictor.literature_vp import build
from edgesim.systems.vp.answer import h
from edgesim.hardware.model_sizes import model_size
from edgesim.systems.vp.split import MOBILENET_V2_SPLITS, balanced_cuts, cp_time, mp_stages

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / "scenarios" / "vp" / "smart-home.yaml"
SWEEP = REPO / "scenarios" / "vp" / "failure-sweep.yaml"

# Table VII of the VP paper (ms on the Galaxy Tab A), read off the paper independently of the
# bundle builder.
TABLE_VII_MS = {"mobilenet_v2": 226, "vp_v6": 91, "vp_v5": 71, "vp_v4": 53, "vp_v3": 38,
                "vp_v2": 26.5, "vp_v1": 17, "vp_aggregate": 0.05}
LINK_BPS, LINK_S, INPUT = 1e6, 0.001, 12_000


def run(job: str, p: float = 0.0, duration: str = "400s"):
    return edgesim.run(edgesim.load(HOME, [f"workload.sources.pictures.job={job}",
                                           f"failures.0.probability={p}",
                                           f"duration={duration}"]))


def one_way(nbytes: float, hops: int = 1) -> float:
    return hops * LINK_S + nbytes * 8 / LINK_BPS


def test_literature_bundle_holds_table_vii_and_is_current(tmp_path):
    committed = load_bundle(REPO / "calibration" / "literature" / "galaxy-tab-a")
    t = committed.table.set_index("model")
    assert {m: t.loc[m, "median_ms"] for m in TABLE_VII_MS} == TABLE_VII_MS
    assert set(t["provenance"]) == {"literature"} and committed.provenance == "literature"
    assert t.loc["vp_v1", "std_ms"] == 0.05 and t.loc["mobilenet_v2", "std_ms"] == 0.5
    fresh = build(tmp_path)
    pd.testing.assert_frame_equal(committed.table, fresh.table, check_exact=True)
    volatile = ("created", "command", "edgesim_version")
    strip = lambda m: {k: v for k, v in m.items() if k not in volatile}  # noqa: E731
    a, b = strip(committed.meta), strip(fresh.meta)
    for m in (a, b):       # the seed's hash is recorded only where the seed file exists
        m["fingerprint"]["derived_from"].pop("sha256", None)
    assert a == b


@pytest.mark.parametrize("job,expected", [
    # hub -> tablet (12 KB), the slowest model, the answer back, and the hub's aggregation
    ("vp", one_way(INPUT) + 0.071 + one_way(h(2, 10)) + 0.00005),
    ("cp", one_way(INPUT) + cp_time(0.226) + one_way(21 * 4)),
    ("single", one_way(INPUT) + 0.226 + one_way(10)),
])
def test_without_failures_latency_is_compute_plus_network(job, expected):
    # Table VII's times are served exactly (no spread is published), so a query that finds
    # the tablets idle takes exactly this long; most do at 0.2 queries/s.
    df = run(job).requests
    assert set(df.outcome) == {"completed"}
    assert df.latency.median() == pytest.approx(expected, rel=1e-9)
    assert df.latency.min() == pytest.approx(expected, rel=1e-9)


def test_model_parallel_pays_for_its_activations():
    stages = mp_stages(5, 0.226, INPUT)
    floor = one_way(INPUT) + sum(s["time_s"] for s in stages) + one_way(10)
    floor += sum(one_way(s["bytes"], hops=2) for s in stages[1:])      # tablet -> hub -> tablet
    df = run("mp").requests
    assert df.latency.min() == pytest.approx(floor, rel=1e-9)
    assert floor == pytest.approx(3.9949, abs=1e-4)   # 458 KB of activations at 1 Mbps
    s = run("mp").summary["answers"]
    assert s["bytes_per_query"] == INPUT + sum(x["bytes"] for x in stages[1:]) + 10


def test_smart_home_mp_stages_match_the_split():
    sc = yaml.safe_load(HOME.read_text())
    stages = sc["workload"]["jobs"]["mp"]["stages"]
    want = mp_stages(5, 0.226, INPUT)
    for st, w in zip(stages, want):
        assert edgesim.units.parse_size(st["bytes"]) == w["bytes"]
        t = sc["service"][st["model"]]["galaxy-tab-a"]["time"]
        assert edgesim.units.parse_duration(t) == pytest.approx(w["time_s"], abs=1e-7)


def test_smart_home_cp_time_is_derived_like_mp():
    # The same rule as MP's slices: MobileNetV2's 226 ms times the sub-model's FLOP share.
    sc = yaml.safe_load(HOME.read_text())
    t = edgesim.units.parse_duration(sc["service"]["sensai_part"]["galaxy-tab-a"]["time"])
    share = model_size("sensai_part").flops / MOBILENET_V2_SPLITS[-1][3]
    assert t == pytest.approx(0.226 * share, abs=1e-7) == pytest.approx(cp_time(0.226))
    # The zoo's sub-model is pruned about as much as Table VII says sensAI's are (3.5x MACs).
    assert 1 / share == pytest.approx(3.5, abs=0.1)


def test_balanced_cuts():
    total = MOBILENET_V2_SPLITS[-1][3]
    for k in (2, 3, 5, 8):
        cuts = balanced_cuts(k)
        assert cuts == sorted(set(cuts)) and len(cuts) == k - 1
        for j, c in enumerate(cuts, start=1):       # no other cut is nearer its target
            err = abs(MOBILENET_V2_SPLITS[c][3] - total * j / k)
            assert all(err <= abs(s[3] - total * j / k) for s in MOBILENET_V2_SPLITS
                       if (cuts[j - 2] if j > 1 else -1) < s[0])
        parts = mp_stages(k, 1.0)
        assert sum(p["time_s"] for p in parts) == pytest.approx(1.0)


def test_split_table_matches_the_zoo():
    pytest.importorskip("torch")
    from edgesim.calibration.zoo.analysis import split_points
    got = [(p["index"], p["after"], p["act_bytes"], p["flops_before"])
           for p in split_points("mobilenet_v2", num_classes=101)]
    assert tuple(got) == MOBILENET_V2_SPLITS


def test_availability_ranks_as_the_paper_argues():
    p = 0.2
    a = {job: run(job, p, "2000s").summary["answers"]["availability"]
         for job in ("vp", "mp", "cp", "single")}
    assert a["vp"] > a["single"] > max(a["mp"], a["cp"])


def test_sweep_file_expands_to_valid_scenarios():
    sweep = yaml.safe_load(SWEEP.read_text())
    assert set(sweep) == {"description", "base", "grid", "replications"}
    assert sweep["replications"] >= 2
    base = SWEEP.parent / sweep["base"]
    assert base == HOME
    keys = list(sweep["grid"])
    for values in itertools.product(*sweep["grid"].values()):
        sets = [f"{k}={v}" for k, v in zip(keys, values)]
        edgesim.simulation(edgesim.load(base, sets))       # builds and checks; raises if bad
    assert "vp/failure-sweep" not in scenarios() and "vp/smart-home" in scenarios()
    assert "vp/failure-sweep" in sweeps()


def test_guide_shows_the_generated_table_and_figures():
    guide = (REPO / "docs" / "guides" / "vp.md").read_text(encoding="utf-8")
    made = REPO / "docs" / "guides" / "vp"
    assert (made / "table.md").read_text(encoding="utf-8") in guide
    for png in ("availability", "latency", "accuracy", "crashes"):
        assert f"(vp/{png}.png)" in guide and (made / f"{png}.png").is_file()
    runs = pd.read_csv(made / "results.csv")
    assert len(runs) == 7 * 5 * 5 + 4 * 4 * 5      # the sweep (+ vp-detect) and the crash study
