"""DMML learned for real (`training.deepcon.learning`): Eq. 10-11's mixup labels and loss, the
§2.2 metrics, which replica versions each schedule's tasks train against (decided by the
simulated clock), bit-identical reruns and located errors for a bad learning block."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import edgesim
from edgesim.errors import ScenarioError
from edgesim.systems.deepcon.dmml_learning import consistency_metrics, mixup_labels

ROOT = Path(__file__).resolve().parents[1]
SCN = ROOT / "scenarios" / "deepcon" / "dmml-learning.yaml"
# Three rounds on 3 workers: five models on three workers, so dmml-par tasks see stale peers.
QUICK = ["training.deepcon.rounds=3", "nodes.gpu.count=3"]


def run(*sets: str, seed: int = 1):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    return edgesim.run(edgesim.load(SCN, [*QUICK, *sets]), seed=seed)


def test_mixup_labels_and_loss_by_hand():
    torch = pytest.importorskip("torch")
    from edgesim.systems.deepcon.dmml_learning import dmml_loss
    peers = np.array([[[0.6, 0.3, 0.1]], [[0.2, 0.2, 0.6]]])      # 2 peers, 1 example
    labels = mixup_labels(peers, np.array([0]), 0.7)
    # Eq. 10: 0.7 x output + 0.3 x onehot(0)
    assert labels[0, 0] == pytest.approx([0.72, 0.21, 0.07], abs=1e-12)
    assert labels[1, 0] == pytest.approx([0.44, 0.14, 0.42], abs=1e-12)
    # Eq. 11: the mean over the peers of the cross-entropy against each peer's label.
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]], dtype=torch.float64))
    l1 = -(0.72 * math.log(0.5) + 0.28 * math.log(0.25))
    l2 = -(0.44 * math.log(0.5) + 0.56 * math.log(0.25))
    got = float(dmml_loss(logits, torch.from_numpy(labels)))
    assert got == pytest.approx((l1 + l2) / 2, abs=1e-12)
    # alpha = 0 is plain cross-entropy on the truth, whatever the peers say.
    assert (mixup_labels(peers, np.array([2]), 0.0) == [0, 0, 1]).all()


def test_consistency_metrics_on_a_hand_made_matrix():
    preds = np.array([[0, 1, 2, 1, 0],
                      [0, 1, 2, 2, 0],
                      [0, 1, 1, 1, 0]])
    y = np.array([0, 1, 2, 1, 1])
    m = consistency_metrics(preds, y)
    assert m["accuracy"] == pytest.approx([0.8, 0.6, 0.6])
    # All three agree on examples 0, 1 and 4 (4 wrongly): C = 3/5, CC = 2/5.
    assert m["consistency"] == pytest.approx(0.6)
    assert m["cc"] == pytest.approx(0.4)
    assert m["gap"] == pytest.approx(0.6 - 0.4)          # Eq. 5: min Acc - CC
    assert m["mean_accuracy"] == pytest.approx(2.0 / 3)


def test_par_tasks_train_against_the_versions_the_clock_says_they_pulled():
    r = run()
    L = r._sim.system.dmml.learning
    tasks = L.tasks
    assert len(tasks) == 5 * 3
    stale = 0
    for t in tasks:
        # A pull gets, of every model, the pushes completed before the pull started.
        done_before = [sum(1 for u in tasks if u["model"] == name and u["push_s"] <= t["pull_s"])
                       for name in L.names]
        assert t["pulled"] == done_before
        at_push = [sum(1 for u in tasks if u["model"] == name and u["push_s"] < t["push_s"])
                   for name in L.names]
        stale += t["pulled"] != at_push
    assert stale > 0                      # some tasks trained against peers already replaced
    # The committed weights are the task's result from exactly the pulled versions, and
    # another version of the peers would have given other weights.
    t = next(u for u in tasks if u["pulled"] != [
        sum(1 for v in tasks if v["model"] == n and v["push_s"] < u["push_s"]) for n in L.names])
    m = L.names.index(t["model"])
    committed = L.weights(m, t["version"])
    assert L.task_weights(m, t["pulled"], t["round"]).tobytes() == committed.tobytes()
    fresher = [len([v for v in tasks if v["model"] == n and v["push_s"] < t["push_s"]])
               for n in L.names]
    fresher[m] = t["pulled"][m]
    assert L.task_weights(m, fresher, t["round"]).tobytes() != committed.tobytes()
    # One measurement per push, after the pre-trained one.
    assert len(L.rows) == 1 + len(tasks)


def test_sp_tasks_train_against_the_rounds_snapshot():
    r = run("training.deepcon.schedule=dmml-sp")
    L = r._sim.system.dmml.learning
    for t in L.tasks:
        assert t["pulled"] == [t["round"] - 1] * 5
    assert [row["event"] for row in L.rows] == ["pretrained"] + ["round"] * 3


def test_same_seed_same_learning_bit_for_bit_and_schedules_differ():
    a, b = run(), run()
    assert a.summary["deepcon"] == b.summary["deepcon"]
    fa = a._sim.system.frames()["consistency"]
    assert fa.equals(b._sim.system.frames()["consistency"])
    la, lb = a._sim.system.dmml.learning, b._sim.system.dmml.learning
    for ha, hb in zip(la.history, lb.history):
        assert [w.tobytes() for w in ha] == [w.tobytes() for w in hb]
    s = a.summary["deepcon"]["learning"]
    assert 0.0 <= s["final"]["cc"] <= s["final"]["consistency"] <= 1.0
    assert s["final"]["gap"] == pytest.approx(s["final"]["min_accuracy"] - s["final"]["cc"])
    sp = run("training.deepcon.schedule=dmml-sp")._sim.system.dmml.learning
    assert sp.history[0][-1].tobytes() != la.history[0][-1].tobytes()
    assert run(seed=2).summary["deepcon"]["learning"] != s


@pytest.mark.parametrize("sets, where", [
    (["training.deepcon.learning.models={a: {name: mlp}, b: {name: mlp}}"],
     "training.deepcon.learning.models"),
    (["training.deepcon.learning.target={consistency: 0.9, gap: 0.02}"],
     "training.deepcon.learning.target"),
    (["training.deepcon.learning.alpha=1.5"], "training.deepcon.learning.alpha"),
    (["training.deepcon.learning.pretrain=100000"], "training.deepcon.learning.pretrain"),
])
def test_a_bad_learning_block_is_a_located_error(sets, where):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    with pytest.raises(ScenarioError) as exc:
        edgesim.run(edgesim.load(SCN, [*QUICK, *sets]), seed=1)
    assert where in str(exc.value)


def test_time_to_target_first_and_sustained():
    from types import SimpleNamespace
    from edgesim.systems.deepcon.dmml_learning import time_to_target
    rows = [{"time_s": t, "round": i, "tasks": i, "consistency": c, "cc": c, "gap": 1 - c}
            for i, (t, c) in enumerate([(0, .80), (10, .91), (20, .85), (30, .90), (40, .95)])]
    got = time_to_target(rows, SimpleNamespace(consistency=0.9, cc=None, gap=None))
    # First crossing at 10 s (a fluctuation: it falls back at 20 s); held from 30 s on.
    assert (got["time_s"], got["sustained_time_s"], got["reached"]) == (10, 30, True)
    gap = time_to_target(rows, SimpleNamespace(consistency=None, cc=None, gap=0.06))
    assert (gap["time_s"], gap["sustained_time_s"]) == (40, 40)
    never = time_to_target(rows[:3], SimpleNamespace(consistency=0.99, cc=None, gap=None))
    assert never["reached"] is False and never["time_s"] is None
    assert never["sustained_time_s"] is None


def test_learning_with_the_ota_loop_is_a_located_error():
    with pytest.raises(ScenarioError) as exc:
        edgesim.load(ROOT / "scenarios" / "deepcon" / "ota.yaml",
                     ["training.deepcon.learning={models: {a: {name: mlp}, b: {name: mlp}}}"])
    assert "training.deepcon" in str(exc.value) and "ota.learning" in str(exc.value)
