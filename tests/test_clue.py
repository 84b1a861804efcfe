"""training.clue end to end: the byte identities of Eq. 3a and 3b on the realised counts, the
help protocol, the sensitivities of Eq. 1 against finite differences, the recovery measure by
hand, determinism, and located errors."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import edgesim
from edgesim.errors import ScenarioError

pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
CLUE = ROOT / "scenarios" / "clue"
P = 4810                      # parameters of the bundled 64-64-10 MLP on 8x8 digits
SHORT = "training.clue.workload.batches=50"      # edge0 drifts at 30, edge1 at 42


def run(name: str, *sets: str, seed: int = 1):
    return edgesim.run(edgesim.load(CLUE / name, [SHORT, *sets]), seed=seed)


def test_eq_3b_is_the_bytes_clue_moved():
    r = run("clue.yaml")
    s = r.summary["clue"]
    eq = s["eq3"]
    # 5 nodes report their class prior after every batch: 4 bytes per class + 64.
    assert eq["metadata_reports"] == 5 * 50 and eq["metadata_report_bytes"] == 104
    # One helper per drift, each sending round(0.3 P) float32 values and a bitmap over P.
    kt = round(0.3 * P) * 4 + math.ceil(P / 8)
    assert eq["KT_in_bytes"] == kt
    assert eq["drifts_helped"] >= 2 and all(h == 1 for h in eq["helpers_per_drift"])
    assert eq["formula_bytes"] == 5 * 50 * 104 + eq["drifts_helped"] * kt
    assert eq["counted_bytes"] == eq["formula_bytes"]
    t = r.transfers
    assert t[t.op == "KT_in"].bytes.sum() == eq["drifts_helped"] * kt
    assert s["bytes"]["MU_out"] == s["bytes"]["MU_in"] == 0.0
    # What the network carried is what the operations counted.
    assert r.summary["network"]["bytes"] == pytest.approx(t.bytes.sum())


def test_eq_3a_is_the_bytes_fedavg_moved():
    r = run("federated.yaml", "training.clue.push.participants=3")
    eq = r.summary["clue"]["eq3"]
    rounds = 50 // 5
    assert eq["f_update"] == rounds and eq["participants_per_round"] == [3] * rounds
    assert eq["formula_bytes"] == (3 * P * 4 + P * 4 * 5) * rounds
    assert eq["counted_bytes"] == eq["formula_bytes"]
    assert len(r.rounds) == rounds
    assert all(len(p) == 3 for p in r.rounds.participants)
    assert r.summary["clue"]["bytes"]["KT_in"] == r.summary["clue"]["bytes"]["MdS_out"] == 0


def test_help_protocol_and_the_pool():
    r = run("clue.yaml")
    d = r.detections
    helped = d[d.outcome == "helped"]
    assert len(helped)
    for row in helped.itertuples():
        assert row.node not in list(row.helpers)
        assert row.asked < row.answered < row.helped        # three messages, in order
        assert row.helped_batch > row.batch
    b = r.batches
    # Without helper models the operator is the target model.
    alone = b[b.helpers == 0]
    assert (alone.error == alone.own_error).all()
    assert (b.helpers > 0).any()


def test_helpers_change_the_output_not_the_target_model():
    """The target keeps retraining on its own batches while helped (§4), so its model, and
    the error of that model alone, are the isolated run's (same seed: the same requests)."""
    a = run("clue.yaml").batches
    b = run("isolated.yaml").batches
    assert a.own_error.tolist() == b.own_error.tolist()
    assert (a.error != a.own_error).any()


def test_same_seed_same_run_bit_for_bit():
    a, b = run("clue.yaml"), run("clue.yaml")
    pd.testing.assert_frame_equal(a.batches, b.batches)
    pd.testing.assert_frame_equal(a.transfers, b.transfers)
    pd.testing.assert_frame_equal(a.detections, b.detections)
    c = run("clue.yaml", seed=2)
    assert not a.batches.error.equals(c.batches.error)


def test_sensitivity_is_eq_1_by_finite_differences():
    """sen(W_j, C_i) = dC_i / dW_j of the softmax output, summed over the batch."""
    import torch
    from edgesim.learning import data as D
    from edgesim.learning.torch_learner import Learner
    from edgesim.systems.clue.schema import ClueSpec
    spec = ClueSpec.model_validate({
        "mode": "isolated", "workload": {"batches": 1, "interval": 1},
        "model": {"name": "logreg"},
        "nodes": [{"nodes": "x", "infer": {"dist": "constant", "time": 0.001},
                   "step": {"dist": "constant", "time": 0.001},
                   "phases": [{"start": 0, "classes": [0]}]}]})
    data = D.digits()
    learner = Learner(spec, data, seed=3)
    w = learner.initial.astype(np.float64)
    pos = np.arange(12)
    sens = learner.sensitivity(learner.initial, pos, [2, 5])
    x = torch.from_numpy(data.x[pos].reshape(12, -1)).double()
    W = torch.from_numpy(w[:640].reshape(10, 64))
    bias = torch.from_numpy(w[640:])

    def out(Wm, bm, c):
        return float(torch.softmax(x @ Wm.T + bm, dim=1)[:, c].sum())
    rng = np.random.default_rng(0)
    for j in rng.choice(650, size=12, replace=False):
        h = 1e-6
        num = []
        for c in (2, 5):
            Wp, bp, Wn, bn = W.clone(), bias.clone(), W.clone(), bias.clone()
            if j < 640:
                Wp.view(-1)[j] += h
                Wn.view(-1)[j] -= h
            else:
                bp[j - 640] += h
                bn[j - 640] -= h
            num.append(abs(out(Wp, bp, c) - out(Wn, bn, c)) / (2 * h))
        assert sens[j] == pytest.approx(np.mean(num), rel=1e-3, abs=1e-6)


def test_recovery_measure_by_hand():
    from edgesim.systems.clue.records import recoveries
    errs = [0.1, 0.1, 0.1, 0.6, 0.5, 0.3, 0.3, 0.1, 0.1, 0.1]
    rows = [{"node": "n", "batch": b, "error": e, "arrival": float(b), "end": b + 0.5}
            for b, e in enumerate(errs)]
    node = SimpleNamespace(name="n", phases=[SimpleNamespace(start=0, classes=[0, 1]),
                                             SimpleNamespace(start=3, classes=[0, 1, 2])])
    fake = SimpleNamespace(spec=SimpleNamespace(drift=SimpleNamespace(window=2),
                                                help=SimpleNamespace(tolerance=0.05)),
                           nodes=[node], batch_rows=rows, detections=[])
    (rec,) = recoveries(fake)
    # Reference: the 2 batches before the drift, 0.1. Rolling over 2 from batch 4 (both
    # after the drift): 0.55, 0.4, 0.3, 0.2, 0.1: first within 0.1 + 0.05 at batch 8.
    assert rec["reference_error"] == pytest.approx(0.1)
    assert rec["new_classes"] == [2]
    assert rec["recovered_batch"] == 8
    assert rec["batches_to_recover"] == 6
    assert rec["seconds_to_recover"] == 8.5 - 3.0
    assert rec["peak_error"] == pytest.approx(0.55)


def _problems(*sets: str, name: str = "clue.yaml") -> str:
    with pytest.raises(ScenarioError) as exc:
        edgesim.simulation(edgesim.load(CLUE / name, list(sets))).check()
    return str(exc.value)


def test_located_errors():
    msg = _problems("training.clue.nodes.0.phases.0.classes=[0, 12]")
    assert "training.clue.nodes.0.phases.0.classes" in msg and "12" in msg
    msg = _problems("training.clue.mode=isolated")
    assert "training.clue.mds" in msg and "only mode 'clue'" in msg
    msg = _problems("training.clue.mds=null")
    assert "needs 'mds'" in msg
    msg = _problems("training.clue.nodes.0.nodes=mds")
    assert "training.clue.nodes.0.nodes" in msg and "metadata service" in msg
    msg = _problems("training.clue.nodes.0.phases.0.start=3")
    assert "training.clue.nodes.0.phases" in msg and "batch 0" in msg
    msg = _problems("training.clue.help.signficant=0.4")
    assert "signficant" in msg
