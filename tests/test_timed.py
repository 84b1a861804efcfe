"""The timed model of a learning system (`timed:`): the deployed model's size sets the bytes on
the wire in closed form, its name the calibrated step times, while a small model learns."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

import edgesim
from edgesim.hardware.model_sizes import UnknownModelError, model_size
from edgesim.hardware.profiles.bundle import COLUMNS, write_bundle
from edgesim.training.timed import wire_nonzero

pytest.importorskip("torch")
pytest.importorskip("sklearn")

FEDAVG = Path(__file__).parents[1] / "scenarios" / "fedace" / "fedavg.yaml"
FEDACE = Path(__file__).parents[1] / "scenarios" / "fedace" / "fedace.yaml"


def run(path, *sets):
    return edgesim.run(edgesim.load(path, ["training.federated.rounds=4", *sets]))


def test_zoo_sizes_are_the_zoo_models_parameter_counts():
    assert model_size("resnet18_cifar").params == 11_173_962
    assert model_size("fedavg_cnn").params == 1_663_370
    assert model_size("resnet18").input_shape == (3, 224, 224)
    with pytest.raises(UnknownModelError, match="nearest: resnet18_cifar"):
        model_size("resnet18_cfar")


def test_dense_rounds_move_the_timed_models_bytes():
    r = run(FEDAVG, "training.federated.timed.model=resnet18_cifar")
    f = r.summary["federated"]
    dense = 11_173_962 * 4
    assert f["timed_model"] == {"model": "resnet18_cifar", "params": 11_173_962, "source": "zoo"}
    assert f["learned_model"]["model"] == "mlp" and f["learned_model"]["params"] < 10_000
    assert f["dense_model_bytes"] == dense
    rounds = r.rounds
    assert (rounds.model_down_bytes == dense).all() and (rounds.update_up_bytes == dense).all()
    # every one of the 10 selected clients downloads and uploads the whole timed model once
    assert (rounds.updates == 10).all()
    assert (rounds.bytes_down == 10 * dense).all() and (rounds.bytes_up == 10 * dense).all()
    assert (r.participation.timed_model == "resnet18_cifar").all()
    assert (rounds.timed_model == "resnet18_cifar").all()


def test_the_learned_model_is_timed_when_no_other_is_named():
    r = run(FEDAVG)
    f = r.summary["federated"]
    assert f["timed_model"]["source"] == "learned"
    assert f["timed_model"]["params"] == f["learned_model"]["params"] == f["parameters"]
    assert (r.rounds.model_down_bytes == f["parameters"] * 4).all()


def test_compressed_bytes_carry_the_learned_kept_fraction_over():
    r = run(FEDACE, "training.federated.timed.params=1000000", "training.federated.timed.model=big",
            "training.federated.rounds=40")
    f = r.summary["federated"]
    P, Pt = f["learned_model"]["params"], 1_000_000
    rows = r.rounds
    pruned = rows[rows.nonzero < P]
    assert len(pruned), "the scenario prunes within 40 rounds"
    for nnz, model_bytes in zip(pruned.nonzero, pruned.model_bytes):
        kept = round(nnz * Pt / P)
        assert wire_nonzero(nnz, P, Pt) == kept
        # kept float32 values plus a one-bit position map, or dense if that is smaller
        assert model_bytes == min(Pt * 4, kept * 4 + math.ceil(Pt / 8))


def test_unknown_timed_model_is_a_located_error():
    with pytest.raises(edgesim.ScenarioError) as err:
        run(FEDAVG, "training.federated.timed.model=resnet18_cfar")
    assert "training.federated.timed.model" in str(err.value)
    assert "resnet18_cifar" in str(err.value)


def test_calibrated_steps_look_up_the_timed_model(tmp_path):
    """A bundle with the timed model's train rows on the clients' device: each client's compute
    is its batches' profiled medians."""
    rows = [{c: None for c in COLUMNS} | {"model": "resnet18_cifar", "phase": "train",
                                           "batch": b, "input_shape": "3x32x32", "threads": 1,
                                           "n": 10, "median_ms": m, "mean_ms": m,
                                           "provenance": "measured"}
            for b, m in [(1, 40.0), (20, 400.0)]]
    write_bundle(tmp_path / "tx2", {"device_id": "jetson-tx2", "provenance": "measured"},
                 pd.DataFrame(rows))
    step = ("{dist: calibrated, phase: train, spread: none, bundle: " + str(tmp_path / "tx2")
            + "}")
    r = run(FEDAVG, "training.federated.timed.model=resnet18_cifar",
            f"training.federated.clients.0.step={step}")
    p = r.participation
    tx2 = p[(p.group == 0) & (p.role == "train") & (p.outcome == "arrived")]
    assert len(tx2)
    for _, row in tx2.iterrows():
        full, rem = divmod(int(row.examples), 20)
        # linear between the profiled batch sizes 1 and 20: 40 + (b - 1) * 360 / 19 ms
        want = full * 0.400 + (0.040 + (rem - 1) * 0.360 / 19 if rem else 0.0)
        assert row.computed - row.downloaded == pytest.approx(want, rel=1e-9)


CLUE = Path(__file__).parents[1] / "scenarios" / "clue"


def test_clue_knowledge_transfers_and_model_updates_move_the_timed_model():
    """Eq. 3b's KT_in is top-Z of the timed model's parameters (values + position map), and
    FedAvg push's MU_out / MU_in are whole timed models."""
    from edgesim.learning.knowledge import transfer_bytes
    r = edgesim.run(edgesim.load(CLUE / "clue.yaml", ["training.clue.timed.model=resnet18_cifar"]))
    c = r.summary["clue"]
    Pt = 11_173_962
    assert c["timed_model"]["params"] == Pt and c["learned_model"]["params"] < 10_000
    spec = edgesim.load(CLUE / "clue.yaml").spec.training.clue
    one = transfer_bytes(round(spec.help.significant * Pt), Pt, spec.dtype_bytes,
                         spec.help.encoding)
    kt = r.transfers[r.transfers.op == "KT_in"]
    assert len(kt) and (kt.bytes == one).all()
    assert c["bytes"]["KT_in"] == len(kt) * one
    assert c["eq3"]["formula_bytes"] == c["eq3"]["counted_bytes"]
    fed = edgesim.run(edgesim.load(CLUE / "federated.yaml",
                                   ["training.clue.timed.model=resnet18_cifar"]))
    t = fed.transfers
    assert set(t[t.op.isin(["MU_out", "MU_in"])].bytes) == {Pt * 4.0}


MERCURY = Path(__file__).parents[1] / "scenarios" / "mercury"


def test_mercury_gradient_is_the_timed_models():
    """`params` is the model on the wire; omitted, the zoo model's or the learned one's."""
    zoo = edgesim.run(edgesim.load(MERCURY / "bacc.yaml", [
        "training.mercury.model=resnet18_cifar", "training.mercury.params=null",
        "training.mercury.iterations=3", "training.mercury.schedule=sgd"])).summary["mercury"]
    assert zoo["timed_model"] == {"model": "resnet18_cifar", "params": 11_173_962,
                                  "source": "zoo"}
    assert zoo["gradient_bytes"] == 11_173_962 * 4
    learned = edgesim.run(edgesim.load(MERCURY / "learning.yaml", [
        "training.mercury.params=null", "training.mercury.iterations=3"])).summary["mercury"]
    assert learned["timed_model"]["source"] == "learned"
    assert learned["timed_model"]["params"] == learned["learned_model"]["params"]
    big = edgesim.run(edgesim.load(MERCURY / "learning.yaml", [
        "training.mercury.params=1000000", "training.mercury.iterations=3"])).summary["mercury"]
    assert big["gradient_bytes"] == 4_000_000 and big["learned_model"]["params"] < 10_000
    # a bigger gradient over the same Wi-Fi: longer iterations
    assert big["mean_iteration_s"] > learned["mean_iteration_s"]
    with pytest.raises(edgesim.ScenarioError, match=r"training\.mercury\.params.*no zoo model"):
        edgesim.run(edgesim.load(MERCURY / "bacc.yaml", ["training.mercury.params=null"]))
