"""DEEPCON's training schedules: the allocation of Fig. 5, closed forms of the three schedules
with deterministic times, the ordering dmml-par <= dmml-sp <= dmml on the bundled
heterogeneous models, label charging, the bytes replicas move, and reproducibility."""
from __future__ import annotations

import math

import pytest

import edgesim
from edgesim.bundled import scenarios
from edgesim.systems.deepcon.allocation import allocate

DMML_PAR = scenarios()["deepcon/dmml-par"][0]


def deepcon(times, workers, rounds, schedule="dmml-par", params=1.0, links=None, **extra):
    """A scenario dict: models m1.. with constant round times, `workers` GPUs, one server.
    Label passes are not charged unless a test says so (`labels`), so a task lasts its round:
    these tests check the allocation; the label tests below check the charging."""
    extra.setdefault("labels", {"charge": False})
    sc = {"name": "t", "seed": 3, "duration": 1e9,
          "nodes": {"server": {"role": "parameter-server"},
                    "gpu": {"count": workers, "role": "worker", "device": "v100"}},
          "training": {"deepcon": {
              "schedule": schedule, "rounds": rounds, "server": "server", "workers": "gpu",
              "models": {f"m{i + 1}": {"params": params,
                                       "step": {"dist": "constant", "time": t}}
                         for i, t in enumerate(times)}, **extra}}}
    if links:
        sc["switches"] = ["sw"]
        sc["links"] = links
    return sc


def trains(result):
    df = result.schedule
    df = df[df.kind == "train"].sort_values(["start", "worker"], kind="stable")
    return [(str(w), str(m)) for w, m in zip(df.worker, df.model)]


def rounds_time(sc) -> float:
    return edgesim.run(sc).summary["deepcon"]["time_to_rounds_s"]


# ------------------------------------------------------------------------ Fig. 5

def test_fig5_five_models_on_four_workers():
    """§3.3: M1-M4 start on workers 1-4; worker 4 finishes first and takes M5, the only model
    not yet trained; worker 3 then finishes M3 and, with M3 and M4 both due, keeps M3 (model
    affinity); then M2, M1 and M4 are allocated, M4 to worker 3. Durations: worker 4 < worker
    3 < worker 2 < worker 1, as the walk-through needs."""
    r = edgesim.run(deepcon([10, 9, 7, 4, 12], workers=4, rounds=2))
    assert trains(r) == [
        ("gpu0", "m1"), ("gpu1", "m2"), ("gpu2", "m3"), ("gpu3", "m4"),   # round 1 starts
        ("gpu3", "m5"),          # t=4: worker 4 takes the untrained M5
        ("gpu2", "m3"),          # t=7: worker 3 keeps M3 (M3 and M4 both due)
        ("gpu1", "m2"),          # t=9
        ("gpu0", "m1"),          # t=10
        ("gpu2", "m4"),          # t=14: M4 on worker 3
        ("gpu3", "m5"),          # t=16: M5's second round
    ]
    s = r.summary["deepcon"]
    assert s["round_times_s"] == [16.0, 28.0]
    assert s["time_to_rounds_s"] == 28.0
    # two rounds of 42 s of training on 4 workers in 28 s
    assert s["mean_utilisation"] == pytest.approx(84 / (4 * 28))


def test_allocate_gives_untrained_models_first_and_keeps_affinity():
    # Fig. 5 at t=4: M4 (index 3) done once, M5 (4) never trained: worker 4 takes M5.
    assert allocate([3], [0, 0, 0, 1, 0], [True, True, True, False, False], 2,
                    [0, 1, 2, 3]) == [(3, 4)]
    # t=7: M3 and M4 both have one round; worker 3 keeps M3 ...
    assert allocate([2], [0, 0, 1, 1, 0], [True, True, False, False, True], 2,
                    [0, 1, 2, 4]) == [(2, 2)]
    # ... which lower-index order alone would also give; affinity shows when the worker's own
    # model comes later in model order:
    assert allocate([1], [1, 1, 0], [False, False, True], 3, [0, 1]) == [(1, 1)]
    assert allocate([1], [1, 1, 0], [False, False, True], 3, [0, 1], affinity=False) == [(1, 0)]


def test_allocate_affinity_comes_before_the_worker_walk():
    """Two workers free at once: each keeps the model it just trained, even though the walk
    in worker order would hand worker 1's model to worker 0."""
    assert allocate([0, 1], [1, 1, 5], [False, False, True], 9, [1, 0]) == [(0, 1), (1, 0)]
    # A model that has done its rounds is never due; nothing due leaves the worker idle.
    assert allocate([0], [2, 2], [False, False], 2, [0]) == []
    # Fewest rounds beats affinity: a worker does not run its own model ahead of the others.
    assert allocate([0], [3, 1], [False, False], 5, [0]) == [(0, 1)]


# ------------------------------------------------------------------------ closed forms

@pytest.mark.parametrize("workers", [1, 2, 3, 5])
def test_serial_dmml_is_rounds_times_the_sum(workers):
    """Alg. 1 trains every model on one worker: R x sum of round times, whatever W is."""
    times = [3.0, 5.0, 2.0, 7.0]
    assert rounds_time(deepcon(times, workers, 4, "dmml")) == pytest.approx(4 * sum(times))


def test_sp_rounds_are_list_schedules_with_a_barrier():
    times = [3.0, 5.0, 2.0, 7.0]
    # W >= N: each round lasts its longest model.
    assert rounds_time(deepcon(times, 4, 3, "dmml-sp")) == pytest.approx(3 * 7.0)
    # W = 2: worker 0 takes m1 (3) then m3 (2) then m4 (7) -> 12; worker 1 m2 (5): round = 12.
    assert rounds_time(deepcon(times, 2, 3, "dmml-sp")) == pytest.approx(3 * 12.0)


def test_par_with_a_worker_per_model_is_bound_by_the_slowest_model():
    times = [3.0, 5.0, 2.0, 7.0]
    s = edgesim.run(deepcon(times, 4, 3)).summary["deepcon"]
    assert s["time_to_rounds_s"] == pytest.approx(3 * 7.0)
    assert s["parallel_speedup"] == pytest.approx(3 * sum(times) / (3 * 7.0))


def test_par_reaches_the_work_bound_where_the_barrier_idles_workers():
    """Three equal models on two workers: sp idles a worker for a third of every round; par
    keeps both busy: R = 2 rounds take 3 x 2 x 10 / 2 = 30 s instead of 40."""
    assert rounds_time(deepcon([10, 10, 10], 2, 2, "dmml-sp")) == pytest.approx(40.0)
    assert rounds_time(deepcon([10, 10, 10], 2, 2, "dmml-par")) == pytest.approx(30.0)


def test_par_is_not_always_faster_than_sp():
    """The allocation rule ignores durations: here the longest model is left for last and
    dmml-par finishes after dmml-sp (docs/guides/deepcon.md explains the instance)."""
    times = [1.1, 18.9, 17.7, 19.8, 9.3]
    assert rounds_time(deepcon(times, 3, 2, "dmml-sp")) == pytest.approx(54.0)
    assert rounds_time(deepcon(times, 3, 2, "dmml-par")) == pytest.approx(55.1)


# ------------------------------------------------------------------------ the bundled models

@pytest.mark.parametrize("workers", [3, 5])
def test_par_sp_serial_order_on_the_bundled_heterogeneous_models(workers):
    """Five CIFAR-100 models of very different cost, 20 rounds, label passes charged as Alg. 2
    writes them: the asynchronous schedule is never slower than the synchronous one and beats
    training them all on one GPU; on 3 workers the barrier costs DMML-SP more than the label
    passes that serial DMML shares, so DMML-SP is the slowest there (on 5 it is not)."""
    t = {s: edgesim.run(edgesim.load(DMML_PAR, [f"nodes.gpu.count={workers}",
                                                f"training.deepcon.schedule={s}"]))
         .summary["deepcon"]["time_to_rounds_s"] for s in ("dmml", "dmml-sp", "dmml-par")}
    assert t["dmml-par"] <= t["dmml-sp"] and t["dmml-par"] < t["dmml"]
    if workers == 3:
        assert t["dmml-par"] < 0.9 * t["dmml-sp"]    # the barrier costs three workers
        assert t["dmml-sp"] > t["dmml"]
    else:
        assert t["dmml-sp"] < t["dmml"]


def test_labels_are_charged_to_the_other_models_tasks():
    """Alg. 2 lines 34-37: a task of model n computes every other model's mixup labels."""
    sc = deepcon([10.0, 20.0, 30.0], 3, 1, "dmml-par", labels={"charge": True})
    for i, lab in enumerate([1.0, 2.0, 4.0]):
        sc["training"]["deepcon"]["models"][f"m{i + 1}"]["label"] = {"dist": "constant",
                                                                     "time": lab}
    df = edgesim.run(sc).schedule
    got = {str(m): d for m, d in zip(df[df.kind == "train"].model,
                                     df[df.kind == "train"].duration)}
    assert got == pytest.approx({"m1": 10 + 2 + 4, "m2": 20 + 1 + 4, "m3": 30 + 1 + 2})
    # Serial DMML shares each model's forward pass: no label cost.
    sc["training"]["deepcon"]["schedule"] = "dmml"
    assert rounds_time(sc) == pytest.approx(60.0)


def test_labels_default_to_a_share_of_the_other_models_steps():
    """Without `label`, a model makes its labels in `forward_share` of its step (1/3 by
    default): m1's task is 10 + (20 + 30) / 3; free with `charge: false`."""
    sc = deepcon([10.0, 20.0, 30.0], 3, 1, "dmml-par", labels={"charge": True})
    df = edgesim.run(sc).schedule
    got = {str(m): d for m, d in zip(df[df.kind == "train"].model,
                                     df[df.kind == "train"].duration)}
    assert got == pytest.approx({"m1": 10 + 50 / 3, "m2": 20 + 40 / 3, "m3": 30 + 30 / 3})
    sc["training"]["deepcon"]["labels"] = {"charge": True, "forward_share": 0.5}
    df = edgesim.run(sc).schedule
    assert df[df.kind == "train"].duration.max() == pytest.approx(30 + 15)
    sc["training"]["deepcon"]["labels"] = {"charge": False}
    df = edgesim.run(sc).schedule
    assert sorted(df[df.kind == "train"].duration) == pytest.approx([10, 20, 30])


def test_calibration_anchor_dmml_sp_on_5_v100s_is_the_papers_1739_s():
    """A calibration anchor, not a result: the bundled round times are scaled so that the
    slowest DMML-SP task (VGG-13's round plus the others' label passes) is 1739 / 20 s."""
    s = edgesim.run(edgesim.load(DMML_PAR, ["training.deepcon.schedule=dmml-sp"])).summary
    assert math.isclose(s["deepcon"]["time_to_rounds_s"], 1739, rel_tol=0.02)


def test_steps_and_batch_make_a_round():
    sc = deepcon([0.01, 0.02], 2, 1, "dmml-sp")
    for m in sc["training"]["deepcon"]["models"].values():
        m.update(batch=4, steps=100)
        m["step"]["batch_cost"] = 0.5     # time(4) = time(1) (1 + 0.5 x 3)
    assert rounds_time(sc) == pytest.approx(100 * 0.02 * 2.5)


# ------------------------------------------------------------------------ bytes

def test_pulls_move_every_replica_and_pushes_one():
    """A 1 Gbit/s link per GPU and from the server, no latency; models of 1e6 and 3e6
    float32 parameters. Each task pulls both replicas (16 MB) and pushes its own."""
    links = {"g": {"ends": ["gpu", "sw"], "bandwidth": "1Gbps"},
             "s": {"ends": ["server", "sw"], "bandwidth": "1Gbps"}}
    sc = deepcon([5.0, 5.0], 1, 2, "dmml-par", links=links)
    sc["training"]["deepcon"]["models"]["m1"]["params"] = 1e6
    sc["training"]["deepcon"]["models"]["m2"]["params"] = 3e6
    r = edgesim.run(sc)
    b = r.summary["bytes"]
    assert b["pull"] == pytest.approx(4 * 16e6)
    assert b["push"] == pytest.approx(2 * (4e6 + 12e6))
    df = r.schedule
    pulls = df[df.kind == "pull"].duration
    # Two replicas share the route: together 16 MB at 1 Gbit/s.
    assert pulls.to_numpy() == pytest.approx([16e6 * 8 / 1e9] * 4)
    pushes = sorted(df[df.kind == "push"].duration)
    assert pushes == pytest.approx(sorted([4e6 * 8 / 1e9, 12e6 * 8 / 1e9] * 2))
    assert r.summary["deepcon"]["time_to_rounds_s"] == pytest.approx(
        4 * 0.128 + 2 * (0.032 + 0.096) + 4 * 5.0)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_does_not():
    a = edgesim.run(DMML_PAR).schedule
    b = edgesim.run(DMML_PAR).schedule
    c = edgesim.run(DMML_PAR, seed=2).schedule
    assert a.equals(b)
    assert not a.equals(c)


def test_round_times_from_a_calibration_bundle_train_phase():
    """`dist: calibrated` with `phase: train`: the measured median step of the reference CPU,
    times the steps in a round."""
    from pathlib import Path

    from edgesim.hardware.profiles.bundle import load_bundle
    t = load_bundle(Path(__file__).resolve().parents[1] / "calibration" / "cpu-reference").table
    t = t[(t.phase == "train") & (t.batch == 8)]
    median = dict(zip(t.model, t.median_ms / 1e3))
    sc = deepcon([1.0, 1.0], 2, 1, "dmml-par")
    sc["nodes"]["gpu"]["device"] = "cpu-reference"
    sc["training"]["deepcon"]["models"] = {
        m: {"params": 1, "batch": 8, "steps": 10,
            "step": {"dist": "calibrated", "bundle": "cpu-reference", "phase": "train",
                     "spread": "none"}} for m in ("resnet20", "resnet56")}
    df = edgesim.run(sc).schedule
    got = {str(m): d for m, d in zip(df[df.kind == "train"].model, df[df.kind == "train"].duration)}
    assert got == pytest.approx({m: 10 * median[m] for m in ("resnet20", "resnet56")})
