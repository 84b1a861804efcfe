"""Mercury with learning in the loop: E and E_is / E measured by really training, the
importance the schedule charges is the importance computed, determinism, located errors."""
from __future__ import annotations

from pathlib import Path

import pytest

import edgesim
from edgesim.errors import ScenarioError

pytest.importorskip("torch")
pytest.importorskip("sklearn")

SCN = Path(__file__).resolve().parents[1] / "scenarios" / "mercury" / "learning.yaml"
QUICK = ["training.mercury.learning.target_accuracy=0.6", "training.mercury.learning.eval_every=5"]


def run(*sets: str, seed: int = 1):
    return edgesim.run(edgesim.load(SCN, [*QUICK, *sets]), seed=seed)


def test_importance_sampling_measures_its_own_e_ratio():
    r = run()
    m = r.summary["mercury"]
    learn, conv = m["learning"], m["convergence"]
    assert learn["iterations_to_target"] is not None and learn["final_accuracy"] >= 0.6
    assert conv["source"] == "learning"
    e_sgd = m["reference_sgd"]["iterations_to_target"]
    assert conv["measured_ratio"] == learn["iterations_to_target"] / e_sgd
    # The run stopped at the target, every device at the same iteration.
    assert m["complete"] and learn["iterations_run"] == learn["iterations_to_target"]
    assert m["iterations_simulated"] == learn["iterations_run"]
    # Measured speed-up (times to target) = Eq. 2.3 with the measured E_is / E, up to the
    # first iteration, which Eq. 2.3's steady mean leaves out.
    assert m["measured_speedup_vs_sgd"] == pytest.approx(m["speedup_vs_sgd"], rel=0.05)


def test_the_importance_charged_is_the_importance_computed():
    """Every importance sample the schedule charges time for gets a real loss, no more."""
    for schedule in ("sequential", "bacc"):
        r = run(f"training.mercury.schedule={schedule}")
        system = r._sim.system
        assert system.learning.computed == system.runner.imp_done > 0


def test_sgd_draws_uniformly_and_needs_no_convergence_input():
    r = run("training.mercury.schedule=sgd")
    m = r.summary["mercury"]
    assert m["convergence"]["measured_ratio"] == 1.0
    assert r._sim.system.learning.computed == 0


def test_convergence_overrides_what_was_measured():
    r = run("training.mercury.convergence={iterations: 1000, ratio: {bacc: 0.5}}")
    conv = r.summary["mercury"]["convergence"]
    assert conv["source"].startswith("convergence") and conv["ratio"] == 0.5
    assert conv["measured_ratio"] is not None and conv["iterations"] == 500


def test_same_seed_same_learning():
    a, b = run(), run()
    assert a.summary["mercury"]["learning"] == b.summary["mercury"]["learning"]
    c = run(seed=2)
    assert c.summary["mercury"]["learning"]["accuracy_curve"] != \
        a.summary["mercury"]["learning"]["accuracy_curve"]


def _problems(*sets: str) -> str:
    with pytest.raises(ScenarioError) as exc:
        edgesim.simulation(edgesim.load(SCN, list(sets))).check()
    return str(exc.value)


def test_located_errors():
    # `params` may differ from the learned model's: it is the timed model (tests/test_timed.py)
    assert "training.mercury.samples" in _problems("training.mercury.samples=1000")
    assert "training.mercury.learning.select" in _problems("training.mercury.learning.select=11")
    # Without learning or convergence the schedule is timed, the speed-up left unknown.
    r = edgesim.run(edgesim.load(SCN, ["training.mercury.learning=null",
                                       "training.mercury.iterations=5"]))
    assert r.summary["mercury"]["speedup_vs_sgd"] is None
    assert r.summary["mercury"]["time_ratio"] > 0
    assert any("E_is / E" in w for w in r.summary["warnings"])
