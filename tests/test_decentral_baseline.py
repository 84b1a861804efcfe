"""The dense original network as the decentralized baseline (issue #26), the timed model's
decomposition in closed form (issue #25 item 1) and the CIFAR-10 extract scenario (item 4)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgesim
from edgesim.systems.decentralized import cost
from tests.test_decentralized import _problems

ROOT = Path(__file__).resolve().parents[1]
DEC = ROOT / "scenarios" / "decentralized"
K = "training.decentralized"

# VGG-16 on 32x32 CIFAR, by hand: (in, out, output side) of its 13 3x3 convs.
VGG16 = [(3, 64, 32), (64, 64, 32), (64, 128, 16), (128, 128, 16), (128, 256, 8),
         (256, 256, 8), (256, 256, 8), (256, 512, 4), (512, 512, 4), (512, 512, 4),
         (512, 512, 2), (512, 512, 2), (512, 512, 2)]


def test_vgg16_decoupled_as_the_paper_by_hand():
    d = cost.decompose("vgg16_cifar", 10, 0.1, 6)
    # Shared layers: the first 7 convs (weights + biases; 2 FLOPs per multiply-add).
    assert d.shared_params == 1792 + 36928 + 73856 + 147584 + 295168 + 2 * 590080
    assert d.shared_flops == 381_026_304
    # One task keeps 52 of each decoupled layer's 512 filters: conv8 reads all 256 shared
    # channels, conv9-13 only the task's 52, and its 52 channels at 1x1 feed one logit.
    assert d.branch_params == (256 * 52 * 9 + 52) + 5 * (52 * 52 * 9 + 52) + 53 == 241_853
    assert d.branch_flops == (2 * 256 * 52 * 9 * 16 + 2 * (2 * 52 * 52 * 9 * 16)
                              + 3 * (2 * 52 * 52 * 9 * 4) + 2 * 52)
    # The dense original: every filter and a 512 -> 10 classifier (VGG-16 CIFAR's 14.72 M).
    assert d.dense_params == 14_719_818
    assert d.dense_flops == 626_403_328
    assert d.sub_params(5) == 1_735_488 + 5 * 241_853
    assert d.sub_flops(5) == 381_026_304 + 5 * 5_975_528
    # Sub-model of the paper's 4N_5Cls layout: 1.52x fewer FLOPs per example than dense.
    assert d.dense_flops / d.sub_flops(5) == pytest.approx(626_403_328 / 410_903_944)


def test_vgg16_layer_table_matches_the_zoo_network():
    """The closed form's convs against torch's VGG-16 built by the calibration zoo."""
    pytest.importorskip("torch")
    from edgesim.calibration.zoo.vgg import VGG
    net = VGG(depth=16, head="cifar", num_classes=10)
    convs = [m for m in net.features.modules() if m.__class__.__name__ == "Conv2d"]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(a, b) for a, b, _ in VGG16]
    torch_conv_params = sum(p.numel() for c in convs for p in c.parameters())
    d = cost.decompose("vgg16_cifar", 10, 0.1, 6)
    assert torch_conv_params == d.dense_params - (512 * 10 + 10)


def test_alexnet_decoupled_by_hand():
    d = cost.decompose("alexnet_cifar", 10, 0.1, 3)
    assert d.shared_params == (3 * 64 * 121 + 64) + (64 * 192 * 25 + 192)
    # Kept: 39 of 384, 26 of 256, 26 of 256 (10 % rounded up); the logit reads 26 at 1x1.
    assert d.branch_params == (192 * 39 * 9 + 39) + (39 * 26 * 9 + 26) + (26 * 26 * 9 + 26) + 27
    assert d.branch_flops == 2 * 4 * (192 * 39 + 39 * 26 + 26 * 26) * 9 + 2 * 26


def _ring(*sets: str, seed: int = 1):
    sf = edgesim.load(DEC / "ring.yaml", [f"{K}.compare_central=false", f"{K}.rounds=2",
                                          *sets])
    return edgesim.run(sf, seed=seed)


def test_bytes_and_flops_follow_the_timed_model_in_closed_form():
    pytest.importorskip("torch")
    r = _ring(f'{K}.timed={{"model": "vgg16_cifar"}}')
    s = r.summary["decentralized"]
    assert s["timed_model"]["model"] == "vgg16_cifar"
    assert s["learned_model"]["model"].startswith("mlp")
    for df in (r.links, r.nodes, r.rounds):         # every table says which model is timed
        assert set(df["timed_model"]) == {"vgg16_cifar"} and set(df["learned_model"]) == {"mlp"}
    common = {("tx20", "tx21"): 2, ("tx21", "phone0"): 2, ("phone0", "phone1"): 2,
              ("tx20", "phone1"): 4}
    for row in r.links.itertuples():
        key = (row.a, row.b) if (row.a, row.b) in common else (row.b, row.a)
        assert row.bytes_ab == (1_735_488 + common[key] * 241_853) * 4
    sub, dense = 381_026_304 + 5 * 5_975_528, 626_403_328
    for n in s["nodes"]:
        assert n["parameters"] == 1_735_488 + 5 * 241_853
        assert n["train_flops"] == pytest.approx(3 * 2 * n["examples"] * sub)
    tx20 = r.nodes[(r.nodes.node == "tx20") & (r.nodes["round"] == 0)].iloc[0]
    assert tx20.compute_s == pytest.approx(tx20.steps * 0.003 * sub / dense)
    # Averaging on tx20 (neighbours tx21 and phone1): shared layers over 3, tasks 0-3 over
    # 2 holders (0 also on phone1 and 3 on both: 3 holders), task 4 over tx21 and itself.
    held = {0: 2, 1: 2, 2: 2, 3: 3, 4: 2}
    assert tx20.aggregation_flops == 3 * 1_735_488 + sum(held.values()) * 241_853
    # The learned model still learns: the same accuracy as without a timed model.
    plain = _ring()
    assert s["final_global_accuracy"] == plain.summary["decentralized"]["final_global_accuracy"]


def test_learned_aggregation_count_matches_the_averaging():
    from edgesim.learning import consensus as C
    lay = C.Layout(7, 3, 5)
    dec = cost.Decomposition("x", 5, 7, 0.0, 3, 0.0, 0, 0.0)
    tasks = [[0, 1, 2], [2, 3], [3, 4, 0]]
    nbrs = [[1, 2], [0], [0]]
    vecs = [np.arange(lay.size, dtype=np.float32) * (k + 1) for k in range(3)]
    _new, flops = C.neighbour_average(vecs, tasks, nbrs, lay)
    assert flops == [cost.aggregation_flops(dec, tasks, nbrs, k) for k in range(3)]


def test_dense_and_branched_baselines_both_run():
    pytest.importorskip("torch")
    dense = _ring(f"{K}.mode=centralized", f"{K}.central=tx20")
    branched = _ring(f"{K}.mode=centralized", f"{K}.central=tx20", f"{K}.baseline=branched")
    d, b = dense.summary["decentralized"], branched.summary["decentralized"]
    assert d["baseline"] == "dense" and b["baseline"] == "branched"
    # Dense: 64 -> 320 ReLU -> 10 logits on the 64-unit trunk; branched: 10 x (64 -> 32 -> 1).
    assert d["nodes"][0]["parameters"] == 4160 + 64 * 320 + 320 + 320 * 10 + 10
    assert b["nodes"][0]["parameters"] == 4160 + 10 * (64 * 32 + 32 + 32 + 1)
    assert d["learned_model"]["model"] == "mlp (dense)"
    assert d["final_global_accuracy"] != b["final_global_accuracy"]
    assert d["final_global_accuracy"] > 0.8 and b["final_global_accuracy"] > 0.8


def test_decoupling_keeps_each_class_s_most_important_units():
    """Keeping every unit the decoupled model is the dense network; keeping 10 % each class
    has its own top units, and the decoupled start still classifies."""
    pytest.importorskip("torch")
    from edgesim.training.simulation import TrainingSimulation
    full = TrainingSimulation(edgesim.load(DEC / "ring.yaml", [
        f"{K}.compare_central=false", f"{K}.learning.model.keep=1"]), 1).check().system
    assert full.learner.spec.model.branch_width == 320
    every = list(range(10))
    dl, da = full.dense.evaluate(full.dense.initial, every, full.test)
    bl, ba = full.learner.evaluate(full.learner.initial, every, full.test)
    assert ba == da and bl == pytest.approx(dl, rel=1e-5)
    part = TrainingSimulation(edgesim.load(DEC / "ring.yaml", [
        f"{K}.compare_central=false"]), 1).check().system
    assert all(len(k) == 32 for k in part.kept)
    assert len({tuple(k) for k in part.kept}) == 10
    _, acc = part.learner.evaluate(part.learner.initial, every, part.test)
    assert acc > 0.5


def test_bad_baseline_and_timed_model_are_located():
    msg = _problems(f"{K}.baseline=sparse")
    assert f"{K}.baseline" in msg and "Traceback" not in msg
    msg = _problems(f'{K}.timed={{"model": "vgg17"}}')
    assert f"{K}.timed.model" in msg and "vgg16_cifar" in msg
    msg = _problems(f'{K}.timed={{"model": "alexnet_cifar", "decoupled": 5}}')
    assert f"{K}.timed.decoupled" in msg and "5 conv layers" in msg
    pytest.importorskip("torch")
    msg = _problems(f"{K}.learning.pretrain=null")
    assert f"{K}.baseline" in msg and "pre-trained" in msg
    msg = _problems(f"{K}.learning.model.branch_width=400")
    assert f"{K}.learning.model.branch_width" in msg and "320" in msg


def test_cifar_extract_scenario_runs_a_round():
    pytest.importorskip("torch")
    from edgesim.learning.datasets.paths import shared_root
    path = shared_root() / "data" / "learning" / "cifar10" / "cifar10-extract.npz"
    if not path.exists():
        pytest.skip(f"the shared CIFAR-10 extract is absent ({path})")
    sf = edgesim.load(DEC / "cifar-ring.yaml", [f"{K}.rounds=1", f"{K}.compare_central=false",
                                                f"{K}.learning.pretrain.epochs=1"])
    s = edgesim.run(sf, seed=1).summary["decentralized"]
    assert s["timed_model"]["model"] == "vgg16_cifar"
    assert s["dataset"]["test_examples"] == 932
    assert s["parameters"] == 14_719_818
