"""CLUE's local optimiser (the paper's Adam, or SGD) and its workload mix (new classes drawn
as often as the old ones, or `workload.new_weight` times as often), and the bundled scenario
on the shared FEMNIST (skipped, with the reason, when the shared data is absent)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import edgesim
from tests.test_clue import _problems

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
CLUE = ROOT / "scenarios" / "clue"
SHORT = "training.clue.workload.batches=36"      # edge0 drifts at 30


def run(name: str, *sets: str, seed: int = 1):
    return edgesim.run(edgesim.load(CLUE / name, [SHORT, "training.clue.recovery.against=own",
                                                  *sets]), seed=seed)


def _learner():
    from edgesim.learning import data as D
    from edgesim.learning.torch_learner import Learner
    from edgesim.systems.clue.schema import ClueSpec
    spec = ClueSpec.model_validate({
        "mode": "isolated", "workload": {"batches": 1, "interval": 1},
        "local": {"batch": 10, "lr": 1e-3, "decay": "none"},
        "nodes": [{"nodes": "x", "infer": {"dist": "constant", "time": 0.001},
                   "step": {"dist": "constant", "time": 0.001},
                   "phases": [{"start": 0, "classes": [0]}]}]})
    return Learner(spec, D.digits(), seed=3)


def test_adam_state_carries_between_calls_as_one_optimiser():
    """Two calls with one AdamState are one torch Adam over both calls' steps; a fresh state
    for the second call (what a stateless learner would do) is not."""
    from edgesim.learning.torch_learner import AdamState
    L = _learner()
    a, b = np.arange(0, 40), np.arange(40, 70)
    st = AdamState(1e-3)
    w1, s1, _ = L.train(L.initial, a, 1e-3, adam=st)
    w2, s2, _ = L.train(w1, b, 1e-3, adam=st)
    assert (s1, s2, st.step) == (4, 3, 7)
    # The same 7 steps by torch's Adam in one loop.
    L.load(L.initial)
    opt = torch.optim.Adam(L.model.parameters(), lr=1e-3, foreach=False)
    order = np.concatenate([a, b])          # 40 + 30: the same seven batches of 10
    for start in range(0, 70, 10):
        pos = torch.from_numpy(order[start:start + 10])
        opt.zero_grad()
        torch.nn.functional.cross_entropy(L.model(L.x[pos]), L.y[pos]).backward()
        opt.step()
    ref = L.get()
    assert np.allclose(w2, ref, rtol=0, atol=1e-6)
    fresh, _, _ = L.train(w1, b, 1e-3, adam=AdamState(1e-3))
    assert not np.allclose(fresh, ref, rtol=0, atol=1e-6)
    # Adam and SGD from the same start move differently.
    sgd, _, _ = L.train(L.initial, a, 1e-3)
    assert not np.allclose(sgd, w1, rtol=0, atol=1e-6)


def test_adam_and_sgd_both_run_differ_and_rerun_bit_for_bit():
    adam = run("isolated.yaml")
    sgd = run("isolated.yaml", "training.clue.optimizer=sgd", "training.clue.local.lr=0.05")
    assert adam.summary["clue"]["batches_served"] == sgd.summary["clue"]["batches_served"] == 180
    assert not adam.batches.own_error.equals(sgd.batches.own_error)
    again = run("isolated.yaml")
    pd.testing.assert_frame_equal(adam.batches, again.batches)
    sgd_again = run("isolated.yaml", "training.clue.optimizer=sgd", "training.clue.local.lr=0.05")
    pd.testing.assert_frame_equal(sgd.batches, sgd_again.batches)


@pytest.mark.parametrize("new_weight", [1.0, 4.0])
def test_workload_mix_matches_the_spec_over_many_batches(new_weight):
    """Every class's share of 3,000 batches of 30 is its probability within 5 standard
    deviations (a binomial bound: a wrong mix of 2/7 vs 8/13 is hundreds of deviations off,
    and a right one fails with probability below 1e-5 whatever the seed)."""
    from edgesim.systems.clue.nodes import ClassStreams, EdgeNode
    from edgesim.systems.clue.schema import PhaseSpec
    phases = [PhaseSpec(start=0, classes=[0, 1, 2, 3, 4]),
              PhaseSpec(start=10, classes=[0, 1, 2, 3, 4, 5, 6])]
    node = EdgeNode(0, SimpleNamespace(name="e"), 0, SimpleNamespace(phases=phases), 10)
    labels = np.repeat(np.arange(10), 50)
    gen = np.random.default_rng(7)
    node.streams = ClassStreams({c: np.flatnonzero(labels == c) for c in range(10)}, gen)
    node.mix_gen = np.random.default_rng(11)
    node.set_mix(new_weight)
    n_batches, size = 3000, 30
    counts = np.bincount(np.concatenate([labels[node.draw(10 + b, size)]
                                         for b in range(n_batches)]), minlength=10)
    total = n_batches * size
    w = np.array([1, 1, 1, 1, 1, new_weight, new_weight]) / (5 + 2 * new_weight)
    for c, p in enumerate(w):
        sd = np.sqrt(total * p * (1 - p))
        assert abs(counts[c] - total * p) < 5 * sd, (c, counts[c], total * p)
    assert counts[7:].sum() == 0
    # Before the drift only the first phase's classes, equally.
    before = np.bincount(labels[node.draw(0, 3000)], minlength=10)
    assert before[5:].sum() == 0 and all(abs(k - 600) < 5 * np.sqrt(3000 * 0.2 * 0.8)
                                         for k in before[:5])


def test_bad_optimiser_and_mix_are_located():
    msg = _problems("training.clue.optimizer=adamw")
    assert "training.clue.optimizer" in msg and "adamw" in msg
    msg = _problems("training.clue.adam.betas=[0.9, 1.0]")
    assert "training.clue.adam.betas" in msg and "below 1" in msg
    msg = _problems("training.clue.workload.new_weight=0")
    assert "training.clue.workload.new_weight" in msg
    msg = _problems("training.clue.local.momentum=0.9")
    assert "training.clue" in msg and "optimizer: sgd" in msg


from edgesim.learning.datasets.paths import SHARED_ENV, shared_root  # noqa: E402

FEMNIST = shared_root() / "data" / "learning" / "femnist"


@pytest.mark.skipif(not FEMNIST.is_dir(), reason=f"shared FEMNIST not found at {FEMNIST} "
                                                  f"(set ${SHARED_ENV} to the shared folder)")
def test_femnist_scenario_learns_and_moves_the_timed_models_bytes():
    """The bundled FEMNIST scenario: real handwriting (LEAF's digits), a CNN learning, and
    every knowledge transfer the top half of the timed MobileNet's parameters."""
    from edgesim.hardware.model_sizes import model_size
    r = run("femnist.yaml", "training.clue.pretrain.examples=1000",
            "training.clue.pretrain.epochs=2")
    s = r.summary["clue"]
    assert s["dataset"]["name"] == "femnist" and s["dataset"]["classes"] == 62
    P = model_size("mobilenet_v2").params
    assert s["eq3"]["KT_in_bytes"] == round(0.5 * P) * 4 + -(-P // 8)
    assert s["eq3"]["counted_bytes"] == s["eq3"]["formula_bytes"]
    b = r.batches
    # Before any drift the fine-tuned nodes do far better than chance (80 % error over the
    # five classes a node serves).
    assert b[b.batch < 30].error.mean() < 0.7
