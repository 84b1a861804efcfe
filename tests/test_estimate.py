"""The size of a run is known before t = 0 (issue #28): the estimate is checked against what
runs really do, and an absurd run warns, or with --strict is refused, before it starts."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

import edgesim
from edgesim.cli.app import main
from edgesim.engine.estimate import LIMITS, estimate
from edgesim.engine.simulation import Simulation


@pytest.mark.parametrize("name,sets", [("queueing/mmc", ["duration=4000s", "warmup=100s"]),
                                       ("quickstart", ["duration=120s"])])
def test_the_estimate_is_the_right_order_of_magnitude(name, sets):
    sim = Simulation(edgesim.api.load_named(name, sets)).build().check()
    est = estimate(sim)
    summary = sim.run().collect().summary
    generated = summary["requests"]["generated"] + summary["requests"].get("warmup", 0)
    # Arrivals are the sources' mean rate times the span: Poisson counts within a few percent.
    assert est.arrivals == pytest.approx(sim.generated, rel=0.08)
    assert generated > 0
    # Events are an order of magnitude: within a factor of 3 of the engine's count.
    assert summary["events"] / 3 < est.events < summary["events"] * 3


@pytest.mark.parametrize("sets,why", [
    (["duration=1e12s"], "events"),
    (["metrics.interval=1e-6s"], "time-series samples"),
    (["nodes.server.count=12"], "12 nodes (more than 10"),
])
def test_an_absurd_run_warns_and_strict_refuses_it_before_t0(sets, why, monkeypatch):
    monkeypatch.setitem(LIMITS, "nodes", 10)    # building 20,000 nodes would take the test's time
    args = ["check", "queueing/mmc", *[x for s in sets for x in ("--set", s)]]
    plain = CliRunner().invoke(main, args)
    assert plain.exit_code == 0 and "warning: this" in plain.output and why in plain.output
    strict = CliRunner().invoke(main, [*args, "--strict"])
    assert strict.exit_code == 2 and "refused (--strict)" in strict.output and why in strict.output


def test_a_bundled_scenario_is_not_called_large():
    r = CliRunner().invoke(main, ["check", "quickstart", "--strict"])
    assert r.exit_code == 0 and "warning" not in r.output
