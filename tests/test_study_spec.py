"""Sweep files: validation with file:line, axes, seeds, run keys, Student-t intervals."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from edgesim.bundled import scenarios, sweeps
from edgesim.errors import ScenarioError
from edgesim.study import read_sweep, replication_seed, run_sweep
from edgesim.study.plan import configurations, make_plan
from edgesim.study.tstats import mean_ci, t_ppf

REPO = Path(__file__).resolve().parents[1]
MMC = REPO / "scenarios" / "queueing" / "mmc.yaml"
CAMPUS = REPO / "scenarios" / "distream" / "campus.yaml"


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems(path: Path, tmp_path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as err:
        make_plan(read_sweep(path), tmp_path / "out")
    return [p.render() for p in err.value.problems]


def test_the_shape_of_a_failure_sweep_is_supported(tmp_path):
    """`base: x.yaml`, `grid: {key.path: [values]}`, `replications: N` (scenarios/vp/)."""
    (tmp_path / "smart-home.yaml").write_text(MMC.read_text(), encoding="utf-8")
    path = write(tmp_path, """
        base: smart-home.yaml
        grid:
          nodes.server.executors: [4, 5, 6]
        replications: 4
    """)
    plan = make_plan(read_sweep(path), tmp_path / "out")
    assert [c.params for c in plan.configs] == [{"nodes.server.executors": n} for n in (4, 5, 6)]
    assert len(plan.runs) == 12 and len(plan.tasks) == 12
    assert plan.seed == 1                                  # the base scenario's seed


def test_sweep_file_mistakes_are_located(tmp_path):
    path = write(tmp_path, f"""
        base: {MMC}
        replications: 0
        grid:
          nodes.server.executors: []
        zip:
          a.b: [1, 2]
          c: [1]
        random:
          n: 2
          axes:
            x: {{low: 2, high: 1}}
            y: {{low: 1, hi: 3}}
        colour: red
    """)
    with pytest.raises(ScenarioError) as err:
        read_sweep(path)
    text = str(err.value)
    f = str(path)
    assert text.splitlines()[0] == "6 problems in sweep:"
    assert f"{f}:2: replications: 0: must be >= 1" in text
    assert f"{f}:3: grid: nodes.server.executors: needs at least one value" in text
    assert f"{f}:5: zip: zip lists must have the same length, got a.b: 2, c: 1" in text
    assert f"{f}:11: random.axes.x: high (1) must be >= low (2)" in text
    assert f"{f}:12: random.axes.y.hi: unknown key 'hi' (did you mean 'high'?)" in text
    assert f"{f}:13: colour: unknown key 'colour'" in text


def test_axis_values_the_scenario_rejects_are_located_in_the_sweep_file(tmp_path):
    path = write(tmp_path, f"""
        base: {MMC}
        set:
          duration: 100s
          warmup: 10s
        grid:
          nodes.server.executorz: [4]
          nodez.server.count: [1]
          nodes.server.executors: [0, 3]
          workload.sources.arrivals.arrivals.rate: [3/s, fast]
    """)
    got = problems(path, tmp_path)
    f = str(path)
    assert got == [
        f"{f}:8: nodes.server.executors: 0: must be >= 1",
        f"{f}:6: nodes.server.executorz: unknown key 'executorz' (did you mean 'executors'?); "
        "valid: count, role, device, executors, queue, capacity, max_batch, max_wait",
        f"{f}:7: nodez: unknown key 'nodez' (did you mean 'nodes'?); valid: name, description, "
        "seed, duration, warmup, max_completions, devices, nodes, switches, links, cells, "
        "network, workload, service, calibration, failures, policy, metrics, training",
        f"{f}:9: workload.sources.arrivals.arrivals.rate: 'fast' is not a rate: expected a "
        "number optionally followed by a unit; valid units: /s, /ms, /min, /h, fps, Hz, kHz",
    ]


def test_a_base_problem_that_only_some_values_cause_names_them(tmp_path):
    path = write(tmp_path, f"""
        base: {CAMPUS}
        grid:
          nodes.cam.count: [24, 6, 12]
    """)
    got = problems(path, tmp_path)
    assert len(got) == 2
    line = next(i for i, text in enumerate(Path(CAMPUS).read_text().splitlines(), 1)
                if text.strip().startswith("device: {jetson-tx1"))
    for msg, n in zip(got, (6, 12)):
        # Located in the base file (the mix is written there), naming the value that breaks it.
        assert msg.startswith(f"{CAMPUS}:{line}: nodes.cam.device: ")
        assert msg.endswith(f"the mix has 24 members but count is {n} (with nodes.cam.count={n})")


def test_missing_base_is_located(tmp_path):
    path = write(tmp_path, "replications: 2\nbase: nowhere.yaml\n")
    (msg,) = problems(path, tmp_path)
    assert msg.startswith(f"{path}:2: base: 'nowhere.yaml': no scenario file at ")


def test_grid_zip_random_nesting_and_reproducible_draws(tmp_path):
    path = write(tmp_path, f"""
        base: {MMC}
        seed: 5
        grid:
          nodes.server.executors: [4, 5]
        zip:
          workload.sources.arrivals.arrivals.rate: [2.0, 3.0]
          metrics.slo: [1s, 2s]
        random:
          n: 3
          axes:
            service.work.cpu.mean: {{low: 0.5, high: 1.0}}
            nodes.server.capacity: {{low: 10, high: 20, integer: true}}
            policy.name: [least-loaded, random]
            metrics.interval: {{low: 10, high: 1000, log: true}}
    """)
    sw = read_sweep(path)
    configs = configurations(sw, seed=5)
    assert len(configs) == 2 * 2 * 3
    assert configs[0].params["nodes.server.executors"] == 4
    assert configs[0].params["metrics.slo"] == "1s" and configs[2].params["metrics.slo"] == "1s"
    for c in configs:
        p = c.params
        assert 0.5 <= p["service.work.cpu.mean"] <= 1.0
        assert isinstance(p["nodes.server.capacity"], int) and 10 <= p["nodes.server.capacity"] <= 20
        assert p["policy.name"] in ("least-loaded", "random")
        assert 10 <= p["metrics.interval"] <= 1000
    # The same draws every time; a different seed draws others.
    assert [c.params for c in configurations(sw, seed=5)] == [c.params for c in configs]
    assert [c.params for c in configurations(sw, seed=6)] != [c.params for c in configs]
    assert sw.spec.axes()[:3] == ["nodes.server.executors",
                                  "workload.sources.arrivals.arrivals.rate", "metrics.slo"]


def test_replication_seeds_are_deterministic_distinct_and_valid():
    seeds = [replication_seed(1, r) for r in range(1000)]
    assert seeds == [replication_seed(1, r) for r in range(1000)]
    assert len(set(seeds)) == 1000
    assert all(0 <= s < 2**63 for s in seeds)
    assert replication_seed(2, 0) != replication_seed(1, 0)


def test_run_keys_hash_the_resolved_scenario_and_seed(tmp_path):
    def keys(text):
        plan = make_plan(read_sweep(write(tmp_path, text)), tmp_path / "out")
        return [r.key for r in plan.runs]

    a = keys(f"base: {MMC}\nreplications: 2\ngrid: {{nodes.server.executors: [4, 5]}}\n")
    assert len(set(a)) == 4
    # The same runs written differently (a default spelt out, a unit) have the same keys...
    b = keys(f"base: {MMC}\nreplications: 2\nset: {{metrics.window: 1s}}\n"
             f"grid: {{nodes.server.executors: [4, 5]}}\n")
    assert b == a
    # ... another seed or another value does not.
    assert keys(f"base: {MMC}\nseed: 2\nreplications: 2\n"
                f"grid: {{nodes.server.executors: [4, 5]}}\n")[0] not in a
    assert keys(f"base: {MMC}\nreplications: 2\ngrid: {{nodes.server.executors: [6]}}\n")[0] \
        not in a


def test_student_t_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 9, 29, 200):
        for p in (0.6, 0.9, 0.95, 0.975, 0.995, 0.9995):
            assert t_ppf(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-10)
            assert t_ppf(1 - p, df) == pytest.approx(stats.t.ppf(1 - p, df), rel=1e-10)
    n, mean, std, half = mean_ci([1.0, 2.0, 4.0, None, math.nan], 0.95)
    assert (n, mean) == (3, pytest.approx(7 / 3))
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * std / math.sqrt(3), rel=1e-12)
    assert mean_ci([3.0]) == (1, 3.0, None, None)
    assert mean_ci([]) == (0, None, None, None)


def test_sweep_files_are_not_listed_as_scenarios():
    assert "studies/mmc-sweep" in sweeps()
    assert not set(sweeps()) & set(scenarios())


@pytest.mark.parametrize("name", sorted(sweeps()))
def test_bundled_sweeps_validate_and_run(name, tmp_path):
    """Every configuration is checked; one run of the first configuration is executed,
    shortened to a tenth of its duration (at least its warm-up plus 10 s)."""
    from edgesim.scenario.loader import read
    path, description = sweeps()[name]
    assert description, f"{name} has no description"
    sw = read_sweep(path)
    plan = make_plan(sw, tmp_path)
    assert plan.runs
    overrides = [s.text() for s in plan.configs[0].settings]
    spec = read(sw.base, overrides).spec
    shorter = f"duration={max(spec.duration / 10, spec.warmup + 10)}"
    res = run_sweep({"base": str(sw.base)}, tmp_path / "one", workers=1,
                    sets=overrides + [shorter])
    assert (res.runs.status == "ok").all(), res.runs.error.tolist()
