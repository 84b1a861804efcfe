"""The dissertation's other Mercury baselines (§2.6.1): TicTac's layer-wise ordered exchange
against the overlap arithmetic, AdaComm's local-update SGD against its tau rule and the
algebra of model averaging, both learning for real where they are compared with SGD."""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

import edgesim
from edgesim.bundled import scenarios
from edgesim.errors import ScenarioError

from tests.test_training_mercury import BW, G, mercury, summary, t_cm

BACC = scenarios()["mercury/bacc"][0]
LEARN = Path(__file__).resolve().parents[1] / "scenarios" / "mercury" / "learning.yaml"
QUICK = ["training.mercury.learning.target_accuracy=0.6", "training.mercury.learning.eval_every=5"]


def tictac(layers, k=2, **kw) -> dict:
    sc = mercury("tictac", k, **kw)
    sc["training"]["mercury"]["tictac"] = {"layers": [{"params": p, "compute": c}
                                                      for p, c in layers]}
    return sc


def test_one_layer_tictac_is_sgd():
    """With the whole model one layer there is nothing to overlap: SGD's iteration."""
    for k in (2, 3):
        sgd = summary(mercury("sgd", k))["iteration_times_s"]
        tt = summary(tictac([(G / 4, 1.0)], k))["iteration_times_s"]
        assert tt == pytest.approx(sgd, rel=1e-12)
        assert tt[-1] == pytest.approx(1.0 + t_cm(k), rel=1e-9)


def test_tictac_hides_the_last_layers_exchange_behind_back_propagation():
    """K = 2, a step of 1 s (forward 1/3), two layers of equal compute: 250k and 750k
    parameters, shards of 0.5 and 1.5 MB, x1 = 0.05 s and x2 = 0.15 s each way at 80 Mbit/s.
    Layer 2's gradient leaves when its back-propagation ends (t = 2/3), is summed and back at
    2/3 + 2 x2 = 0.967 s, before layer 1's back-propagation ends at 1 s; layer 1 then goes
    and comes back in 2 x1: every iteration is S + 2 x1 = 1.1 s, against SGD's S + 2 (x1 + x2)
    = 1.4 s."""
    x1, x2 = 2 * 250_000 * 8 / BW, 2 * 750_000 * 8 / BW
    tt = summary(tictac([(250_000, 1.0), (750_000, 1.0)]))
    assert tt["iteration_times_s"] == pytest.approx([1.0 + 2 * x1] * 6, rel=1e-9)
    assert summary(mercury("sgd"))["iteration_times_s"] == pytest.approx(
        [1.0 + 2 * (x1 + x2)] * 6, rel=1e-9)


def test_ordered_pieces_pipeline_and_yield_to_the_first_layers():
    """The ordered all-reduce alone, K = 2, three 1 MB shards (x = 0.1 s each at 80 Mbit/s,
    route latency L = 2 ms) reduced at once with priorities 0, 1, 2. Each interface pushes
    p0, p1 back to back (held until the last bit leaves, not until delivery); at 2x the sum
    of p0 (asked for at x + L) outranks the push of p2 and goes first, then p1's sum, then
    p2's push, whose sum leaves after it has arrived: p0, p1, p2 are back at
    3x + L, 4x + L and 6x + 2L."""
    sc = tictac([(250_000, 1.0), (750_000, 1.0)])
    sc["links"]["wifi"]["latency"] = 0.001
    sim = edgesim.simulation(sc)
    sim.check()
    ps, env = sim.system.runner.ps, sim.env
    x, lat = 1e6 * 8 / BW, 0.002
    back = {}
    for p in range(3):
        for k in range(2):
            ev = ps.reduce(k, ("piece", p), 1e6, 0, priority=p)
            if k == 0:
                ev.callbacks.append(lambda _e, p=p: back.__setitem__(p, env.now))
    env.run(until=10)
    assert [back[p] for p in range(3)] == pytest.approx(
        [3 * x + lat, 4 * x + lat, 6 * x + 2 * lat], rel=1e-12)


def test_no_network_leaves_only_computation():
    sc = tictac([(250_000, 1.0), (750_000, 3.0)])
    sc["links"], sc["switches"] = {}, []
    assert summary(sc)["iteration_times_s"] == pytest.approx([1.0] * 6, rel=1e-12)


@pytest.mark.parametrize("bandwidth", ["10Mbps", "200Mbps"])
def test_tictac_on_resnet18_lies_between_perfect_overlap_and_none(bandwidth):
    """The bundled ResNet-18 (21 layers): an iteration can be no shorter than the longer of
    computation and SGD's aggregation, and no longer than their sum."""
    sets = [f"links.wifi.bandwidth={bandwidth}", "training.mercury.iterations=4"]
    sgd = edgesim.run(edgesim.load(BACC, sets + ["training.mercury.schedule=sgd"]))
    tt = edgesim.run(edgesim.load(BACC, sets + ["training.mercury.schedule=tictac"]))
    s, t = sgd.summary["mercury"], tt.summary["mercury"]
    assert t["layers"] == 21
    lo = max(s["t_cp_s"], s["t_cm_s"])
    assert lo * (1 - 0.05) <= t["mean_iteration_s"] < s["mean_iteration_s"]
    assert t["speedup_vs_sgd"] > 1.0


def test_tictac_speedup_grows_with_bandwidth():
    """Computation is a larger share of an iteration at high bandwidth: more to hide."""
    gains = []
    for bw in ("10Mbps", "200Mbps"):
        r = edgesim.run(edgesim.load(BACC, [f"links.wifi.bandwidth={bw}",
                                            "training.mercury.iterations=4",
                                            "training.mercury.schedule=tictac"]))
        gains.append(r.summary["mercury"]["speedup_vs_sgd"])
    assert 1.0 < gains[0] < gains[1]


def test_tictac_errors_are_located():
    msg = _problems(BACC, "training.mercury.schedule=tictac",
                    "training.mercury.tictac.layers=[{params: 5, compute: 1}]")
    assert "training.mercury.tictac.layers" in msg and "11173962" in msg
    msg = _problems(BACC, "training.mercury.schedule=tictac", "training.mercury.tictac=null")
    assert "training.mercury.tictac" in msg
    msg = _problems(BACC, "training.mercury.schedule=tictac",
                    "training.mercury.tictac.layers=null")
    assert "training.mercury.tictac.layers" in msg and "learning" in msg


def _problems(path, *sets: str) -> str:
    with pytest.raises(ScenarioError) as exc:
        edgesim.simulation(edgesim.load(path, list(sets))).check()
    return str(exc.value)


# --------------------------------------------------------------------------- with learning
torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")


def learn(*sets: str, seed: int = 1):
    return edgesim.run(edgesim.load(LEARN, [*QUICK, *sets]), seed=seed)


def test_tictac_learns_exactly_what_sgd_learns_in_less_or_more_time():
    """TicTac reorders transfers; the mini-batches and steps are SGD's, bit for bit."""
    sgd = learn("training.mercury.schedule=sgd").summary["mercury"]
    tt = learn("training.mercury.schedule=tictac").summary["mercury"]
    assert tt["learning"]["accuracy_curve"] == sgd["learning"]["accuracy_curve"]
    assert tt["convergence"]["measured_ratio"] == 1.0
    assert tt["learning"]["time_to_target_s"] != sgd["learning"]["time_to_target_s"]


def test_adacomm_tau_follows_the_square_root_rule():
    """An interval shorter than a round: tau is re-chosen every round from the loss of the
    last round's first local steps, ceil(sqrt(F / F0) tau0)."""
    r = learn("training.mercury.schedule=adacomm", "training.mercury.adacomm.interval=1us",
              "training.mercury.adacomm.tau0=12",
              "training.mercury.learning.target_accuracy=0.9")
    run, ln = r._sim.system.runner, r._sim.system.learning
    taus = run.taus
    assert taus[0] == 12 and len(taus) >= 3
    f0 = ln.first_loss(0)
    for i in range(1, len(taus)):
        assert taus[i] == max(1, math.ceil(math.sqrt(ln.first_loss(i - 1) / f0) * 12))
    assert taus[-1] < 12              # the loss fell, and tau with it
    assert r.summary["mercury"]["local_steps"] == sum(taus)


def test_adacomm_round_is_tau_steps_then_one_average():
    r = learn("training.mercury.schedule=adacomm",
              "training.mercury.step={dist: constant, time: 2ms, batch_cost: 0}",
              "training.mercury.adacomm.interval=1us")
    m, run = r.summary["mercury"], r._sim.system.runner
    t_cm_mean = m["t_cm_s"]
    for tau, it in zip(run.taus, m["iteration_times_s"]):
        assert it == pytest.approx(tau * 0.002 + t_cm_mean, rel=1e-6)


def test_adacomm_with_one_local_step_is_synchronous_sgd():
    """tau = 1: the mean of K models each one step from x is x minus lr times the mean of
    the K gradients, one synchronous step on the union of the K mini-batches."""
    r = learn("training.mercury.schedule=adacomm", "training.mercury.adacomm.tau0=1",
              "training.mercury.adacomm.adapt=false", "training.mercury.iterations=1",
              "training.mercury.learning.stop_at_target=false")
    ln = r._sim.system.learning
    gen_batches = []
    from edgesim.engine.rng import generator
    for k in range(len(ln.shards)):
        gen_batches.append(ln._uniform(generator(ln.seed, f"mercury:local:{k}:0:0"), k))
    pos = np.concatenate(gen_batches)
    expected, _ = ln.learner.weighted_step(ln.learner.initial.copy(), pos, np.ones(len(pos)),
                                           ln.ls.lr)
    assert np.allclose(ln.weights, expected, atol=1e-6)
    assert not np.allclose(ln.weights, ln.learner.initial)


def test_adacomm_measures_rounds_to_target_and_is_deterministic():
    a = learn("training.mercury.schedule=adacomm").summary["mercury"]
    b = learn("training.mercury.schedule=adacomm").summary["mercury"]
    assert a == b
    conv = a["convergence"]
    assert conv["source"] == "learning" and conv["measured_iterations"] is not None
    # E counts rounds (communications): fewer than SGD's iterations, each several steps.
    assert a["learning"]["iterations_to_target"] == conv["measured_iterations"]
    assert a["local_steps"] >= conv["measured_iterations"]


def test_adacomm_needs_learning_and_its_settings():
    msg = _problems(LEARN, "training.mercury.schedule=adacomm", "training.mercury.learning=null",
                    "training.mercury.convergence={iterations: 10, ratio: {adacomm: 0.5}}")
    assert "training.mercury.schedule" in msg and "learning" in msg
    msg = _problems(LEARN, "training.mercury.schedule=adacomm", "training.mercury.adacomm=null")
    assert "training.mercury.adacomm" in msg
