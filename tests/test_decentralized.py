"""training.decentralized end to end: bytes per link and FLOPs against hand computations,
determinism under a seed, a short run learns, and located errors for bad topologies and
allocations."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgesim
from edgesim.errors import ScenarioError

pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
DEC = ROOT / "scenarios" / "decentralized"
WALL = ["wall_s", "learn_wall_s"]
K = "training.decentralized"
SHARED = 64 * 64 + 64                   # the 64-64 ReLU shared layer on 8x8 digits
BRANCH = 64 * 32 + 32 + 32 + 1          # 32 ReLU units, then one logit


def run(*sets: str, name: str = "ring.yaml", seed: int = 1):
    sf = edgesim.load(DEC / name, [f"{K}.compare_central=false", f"{K}.rounds=3", *sets])
    return edgesim.run(sf, seed=seed)


def test_bytes_per_link_are_the_common_structures_by_hand():
    r = run()
    links = r.links
    # Ring tx20-tx21-phone0-phone1 with tasks 0-4, 3-7, {0,6,7,8,9}, {0,1,2,3,9}.
    common = {("tx20", "tx21"): 2, ("tx21", "phone0"): 2, ("phone0", "phone1"): 2,
              ("tx20", "phone1"): 4}
    assert len(links) == 3 * 4
    for row in links.itertuples():
        key = (row.a, row.b) if (row.a, row.b) in common else (row.b, row.a)
        one_way = (SHARED + common[key] * BRANCH) * 4
        assert row.common_tasks == common[key]
        assert row.bytes_ab == row.bytes_ba == one_way
    s = r.summary["decentralized"]
    assert s["bytes_total"] == links["bytes"].sum() == r.summary["bytes"]["exchange"]
    assert s["shared_parameters"] == SHARED and s["branch_parameters"] == BRANCH
    nodes = r.nodes
    assert np.allclose(nodes.groupby("node", observed=True)["bytes_sent"].sum().sum(),
                       links["bytes"].sum())


def test_flops_of_a_sub_model_by_hand():
    r = run()
    s = r.summary["decentralized"]
    trunk, branch = 2 * 64 * 64, 2 * 64 * 32 + 2 * 32
    dense = trunk + 2 * 64 * 320 + 2 * 320 * 10       # the dense deep layer of 320 units
    assert s["full_forward_flops_per_example"] == dense
    for n in s["nodes"]:
        assert n["forward_flops_per_example"] == trunk + 5 * branch
        # 3 rounds of one epoch, forward + backward = 3 forward passes per example.
        assert n["train_flops"] == pytest.approx(3 * 3 * n["examples"] * (trunk + 5 * branch))
        assert n["parameters"] == SHARED + 5 * BRANCH
    # Every class is held by two nodes that split its training examples (those not set aside
    # for pre-training): no duplicates.
    d = s["dataset"]
    assert d["pretrain_examples"] == 199          # 200 asked, stratified per class, rounded
    assert sum(n["examples"] for n in s["nodes"]) == d["examples"] - d["test_examples"] - \
        d["pretrain_examples"]
    # A sub-model's step is the dense model's step x its FLOPs share (tx20: constant 3 ms).
    tx20 = r.nodes[(r.nodes.node == "tx20") & (r.nodes["round"] == 0)].iloc[0]
    ratio = (trunk + 5 * branch) / dense
    assert tx20.compute_s == pytest.approx(tx20.steps * 0.003 * ratio)


def test_same_seed_same_rounds_bit_for_bit():
    a, b = run(), run()
    assert a.rounds.drop(columns=WALL).equals(b.rounds.drop(columns=WALL))
    assert a.nodes.equals(b.nodes)
    ga, gb = a._sim.system.run_.global_weights, b._sim.system.run_.global_weights
    assert np.array_equal(ga, gb)
    c = run(seed=2)
    assert not np.array_equal(ga, c._sim.system.run_.global_weights)


def test_a_short_run_learns_and_mesh_sends_more():
    ring = run(f"{K}.rounds=20")
    s = ring.summary["decentralized"]
    # Ten classes: chance is 10 %.
    assert s["final_global_accuracy"] > 0.6
    assert s["final_local_accuracy_mean"] > 0.8
    mesh = run(f"{K}.topology=mesh")
    assert mesh.summary["decentralized"]["links"] == 6
    assert mesh.rounds["bytes"].iloc[0] > ring.rounds["bytes"].iloc[0]


def test_centralized_trains_the_full_model_on_one_node():
    r = run(name="centralized.yaml")
    s = r.summary["decentralized"]
    (n,) = s["nodes"]
    assert n["node"] == "tx20" and n["tasks"] == list(range(10)) and n["bytes_sent"] == 0
    d = s["dataset"]
    assert n["examples"] == d["examples"] - d["test_examples"] - d["pretrain_examples"]
    assert s["bytes_total"] == 0


def test_compare_central_reports_reductions():
    r = run(f"{K}.compare_central=true", f"{K}.target_accuracy=0.3")
    s = r.summary["decentralized"]
    c = s["central"]
    assert c["rounds"] == 3 and c["node"] == "tx20"
    # Central work per epoch over the busiest node's work per round (training + averaging).
    assert s["reduction"]["flops_per_round"] == pytest.approx(
        c["flops_per_round"] / s["flops_per_round_max_node"])
    assert s["reduction"]["flops_per_round"] > 4


def _problems(*sets: str) -> str:
    with pytest.raises(ScenarioError) as exc:
        edgesim.simulation(edgesim.load(DEC / "ring.yaml", list(sets))).check()
    return str(exc.value)


def test_a_topology_that_is_not_connected_is_a_located_error():
    msg = _problems(f'{K}.topology={{"edges": [["tx20", "tx21"], ["phone0", "phone1"]]}}')
    assert f"{K}.topology" in msg and "not connected" in msg
    assert "{tx20, tx21}" in msg and "{phone0, phone1}" in msg
    assert "Traceback" not in msg


def test_unknown_nodes_and_bad_allocations_are_located():
    msg = _problems(f'{K}.topology={{"edges": [["tx20", "tx9"], ["tx21", "phone0"]]}}')
    assert f"{K}.topology.edges.0" in msg and "'tx9'" in msg and "tx20" in msg
    msg = _problems(f"{K}.overlap=5")
    assert f"{K}.overlap" in msg and "less than tasks_per_node (5)" in msg
    msg = _problems(f"{K}.tasks_per_node=11", f"{K}.overlap=0")
    assert f"{K}.tasks_per_node" in msg and "10 classes" in msg
    msg = _problems(f"{K}.tasks_per_node=null", f"{K}.overlap=0",
                    f'{K}.tasks={{"tx20": [0, 1], "tx21": [1, 2], "phone0": [2, 3], '
                    '"phone1": [3, 4]}')
    assert f"{K}.tasks" in msg and "[5, 6, 7, 8, 9]" in msg
    msg = _problems(f"{K}.tasks_per_node=null", f"{K}.overlap=0",
                    f'{K}.tasks={{"tx20": [0, 12], "nobody": [1]}}')
    assert f"{K}.tasks.nobody: 'nobody': not a training node" in msg
    assert f"{K}.tasks.tx20" in msg and "between 0 and 9" in msg
    assert "no tasks for training node 'phone1'" in msg
    msg = _problems(f"{K}.mode=centralized", f"{K}.compare_central=false", f"{K}.central=nobody")
    assert f"{K}.central" in msg and "'nobody'" in msg


def test_plain_runs_do_not_import_the_branched_model():
    code = ("import sys, edgesim; edgesim.run('scenarios/quickstart.yaml', seed=1); "
            "print('torch' in sys.modules, 'edgesim.learning.branched' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_pretraining_sets_examples_aside_and_moves_the_start():
    """`learning.pretrain`: the full model is trained on a stratified set before round 0;
    those examples leave the nodes' data, and every node starts from the pre-trained weights."""
    from edgesim.training.simulation import TrainingSimulation
    plain = TrainingSimulation(edgesim.load(DEC / "ring.yaml", [
        f"{K}.compare_central=false", f"{K}.learning.pretrain=null",
        f"{K}.baseline=branched"]), 1).check().system
    pre = TrainingSimulation(edgesim.load(DEC / "ring.yaml", [
        f"{K}.compare_central=false", f"{K}.learning.pretrain.examples=200",
        f"{K}.baseline=branched"]), 1).check().system
    aside = set(pre.pretrain_set.tolist())
    assert abs(len(aside) - 200) <= 5
    # Stratified: each of the 10 classes gives about a tenth.
    counts = np.bincount(pre.data.y[pre.pretrain_set], minlength=10)
    assert counts.min() >= 18 and counts.max() <= 22
    held = set().union(*(set(w.data.tolist()) for w in pre.nodes))
    assert not held & aside
    assert sum(len(w.data) for w in plain.nodes) - sum(len(w.data) for w in pre.nodes) \
        == pytest.approx(200, abs=4)          # split per class among holders, rounded
    assert not np.array_equal(pre.learner.initial, plain.learner.initial)
    assert all(np.array_equal(w.weights, pre.learner.initial) for w in pre.run_.nodes)
    # The pre-trained start already classifies; the random one is near chance.
    _, acc_pre = pre.learner.evaluate(pre.learner.initial, list(range(10)), pre.test)
    _, acc_plain = plain.learner.evaluate(plain.learner.initial, list(range(10)), plain.test)
    assert acc_pre > 0.5 > 0.25 > acc_plain
