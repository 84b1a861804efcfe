"""DEEPCON: what a "round" is (`training.deepcon.round_count`) and the over-the-air loop's
`estimator` and `class_shift`, against hand computations.

Without links transfers take no time, so constant round times give exact schedules."""
from __future__ import annotations

import math

import numpy as np
import pytest

import edgesim
from edgesim.bundled import scenarios
from edgesim.errors import ScenarioError



def deepcon(times, workers, rounds, schedule="dmml-par", **extra):
    """A scenario dict: models m1.. with constant task times (label passes not charged, so a
    task lasts its given time), `workers` GPUs, one server (as in tests/test_training_deepcon.py)."""
    extra.setdefault("labels", {"charge": False})
    return {"name": "t", "seed": 3, "duration": 1e9,
            "nodes": {"server": {"role": "parameter-server"},
                      "gpu": {"count": workers, "role": "worker", "device": "v100"}},
            "training": {"deepcon": {
                "schedule": schedule, "rounds": rounds, "server": "server", "workers": "gpu",
                "models": {f"m{i + 1}": {"params": 1.0,
                                         "step": {"dist": "constant", "time": t}}
                           for i, t in enumerate(times)}, **extra}}}

DMML_PAR = scenarios()["deepcon/dmml-par"][0]
OTA = scenarios()["deepcon/ota"][0]
# The bundled models' mean task times (scenarios/deepcon/dmml-par.yaml: a model's round t_n
# plus a third of every other model's for its mixup labels, (2 t_n + sum t) / 3), as constants.
_ROUNDS = [13.59, 40.23, 8.256, 21.68, 59.03]
BUNDLED = [round((2 * t + sum(_ROUNDS)) / 3, 3) for t in _ROUNDS]   # 56.655 ... 86.949 s


def summary(times, workers, rounds, schedule="dmml-par", **extra):
    return edgesim.run(deepcon(times, workers, rounds, schedule, **extra)).summary["deepcon"]


# ------------------------------------------------------------------------ hand computations

def test_all_models_is_the_default_and_unchanged():
    """Models of 1 s and 3 s on two workers, 3 rounds: every round waits for the 3 s model."""
    s = summary([1, 3], 2, 3)
    assert s["round_count"] == "all-models"
    assert s["round_times_s"] == [3.0, 6.0, 9.0]
    assert s["rounds_per_model"] == {"m1": 3, "m2": 3}
    assert summary([1, 3], 2, 3, round_count="all-models") == s


def test_tasks_counts_n_tasks_whatever_the_models():
    """Hand schedule, dmml-par, models of 1 s and 3 s on two workers, 3 rounds = 6 tasks:
    t=0 w0:m1 w1:m2; t=1 m1 done (1 task), w0 retakes m1 (the only free model); t=2 m1 done
    (2 tasks: round 1); t=3 m1 and m2 done (4 tasks: round 2), m2 has fewest rounds and stays
    on w1, m1 goes to w0; t=4 m1 done (5); t=6 m2 done (6 tasks: round 3)."""
    s = summary([1, 3], 2, 3, round_count="tasks")
    assert s["round_times_s"] == [2.0, 3.0, 6.0]
    assert s["rounds_per_model"] == {"m1": 4, "m2": 2}
    assert s["tasks"] == 6
    assert s["makespan_s"] == 6.0


def test_tasks_does_not_change_the_synchronous_schedules():
    """dmml-sp and dmml train every model once per round: the r-th N tasks end round r."""
    for schedule in ("dmml-sp", "dmml"):
        a = summary([1, 3, 2], 2, 3, schedule)
        b = summary([1, 3, 2], 2, 3, schedule, round_count="tasks")
        assert a["round_times_s"] == b["round_times_s"], schedule
        assert b["rounds_per_model"] == {"m1": 3, "m2": 3, "m3": 3}


def test_mean_model_averages_each_models_round_end():
    """Same models: dmml-par m1 ends rounds at 1, 2, 3 and m2 at 3, 6, 9 -> 2, 4, 6;
    dmml-sp (barrier) m1 at 1, 4, 7 and m2 at 3, 6, 9 -> 2, 5, 8; serial dmml m1 at 1, 5, 9,
    m2 at 4, 8, 12 -> 2.5, 6.5, 10.5. Every model still has its 3 rounds."""
    for schedule, want, span in (("dmml-par", [2.0, 4.0, 6.0], 9.0),
                                 ("dmml-sp", [2.0, 5.0, 8.0], 9.0),
                                 ("dmml", [2.5, 6.5, 10.5], 12.0)):
        s = summary([1, 3], 2, 3, schedule, round_count="mean-model")
        assert s["round_times_s"] == pytest.approx(want), schedule
        assert s["makespan_s"] == span
        assert s["rounds_per_model"] == {"m1": 3, "m2": 3}


@pytest.mark.parametrize("rounds", [20, 50])
def test_the_three_readings_on_a_worker_per_model(rounds):
    """Five models on five workers (the paper's §5.4 set-up), the bundled mean task times
    as constants. Each model keeps its own worker, so:
    all-models: R x the slowest (86.949 R); mean-model: R x the mean task time (66.63 R);
    tasks: the first T with sum_m floor(T / t_m) >= 5 R."""
    n = len(BUNDLED)
    par = {rc: summary(BUNDLED, n, rounds, round_count=rc)["time_to_rounds_s"]
           for rc in ("all-models", "mean-model", "tasks")}
    assert par["all-models"] == pytest.approx(rounds * max(BUNDLED))
    assert par["mean-model"] == pytest.approx(rounds * sum(BUNDLED) / n)
    ends = sorted(k * t for t in BUNDLED for k in range(1, rounds * n + 1))
    assert par["tasks"] == pytest.approx(ends[rounds * n - 1])
    if rounds == 20:
        # VGG-13's 15th task, 15 x 86.949 = 1304.235 s: by then 23 + 17 + 24 + 21 + 15 = 100
        # tasks are done (floor(1304.235 / t_m) for the five task times)
        assert par["tasks"] == pytest.approx(1304.235)
    sp = summary(BUNDLED, n, rounds, "dmml-sp")["time_to_rounds_s"]
    assert sp == pytest.approx(rounds * max(BUNDLED))


def test_bad_round_count_is_a_located_error():
    with pytest.raises(ScenarioError) as exc:
        edgesim.run(deepcon([1, 2], 2, 2, round_count="epochs"))
    msg = str(exc.value)
    assert "training.deepcon.round_count" in msg and "'epochs'" in msg
    assert "all-models" in msg and "tasks" in msg and "mean-model" in msg


@pytest.mark.parametrize("rc", ["tasks", "mean-model"])
def test_round_counts_are_reproducible(rc):
    over = [f"training.deepcon.round_count={rc}", "training.deepcon.rounds=3"]
    a = edgesim.run(edgesim.load(DMML_PAR, over))
    b = edgesim.run(edgesim.load(DMML_PAR, over))
    assert a.schedule.equals(b.schedule)
    assert a.summary["deepcon"] == b.summary["deepcon"]


# ------------------------------------------------------------------------ OTA: estimator, shift

def _ota(extra=()):
    r = edgesim.run(edgesim.load(OTA, ["duration=2h", *extra]))
    return r.windows, r.summary["ota"]


def test_bad_estimator_and_shift_are_located_errors():
    with pytest.raises(ScenarioError) as exc:
        edgesim.load(OTA, ["training.deepcon.ota.estimator=weighted"])
    msg = str(exc.value)
    assert "training.deepcon.ota.estimator" in msg and "sample-mean" in msg
    with pytest.raises(ScenarioError) as exc:
        edgesim.load(OTA, ["training.deepcon.ota.class_shift=-1"])
    assert "training.deepcon.ota.class_shift" in str(exc.value)


def test_sample_mean_of_asrs_is_biased_by_the_per_stratum_minimum():
    """At 2 % of 1,500 items over 100 classes ASRS keeps ~7 % (one place per stratum seen),
    over-representing the rare classes, which `spread` makes less consistent: Eq. 5 on the
    sample as it is (Alg. 3 as written) overestimates the gap; the stratified estimator,
    from the same sample, does not."""
    base = ["training.deepcon.ota.sample_fraction=0.02", "training.deepcon.ota.gap.spread=0.9"]
    ws, _ = _ota(base + ["training.deepcon.ota.estimator=stratified"])
    wm, _ = _ota(base)                      # sample-mean, Alg. 3 as written: the default
    # the same samples (the estimator draws nothing)
    assert (ws.sampled.values == wm.sampled.values).all()
    assert (ws.data_gap.values == wm.data_gap.values).all()
    bias_s = float((ws.estimate - ws.data_gap).mean())
    bias_m = float((wm.estimate - wm.data_gap).mean())
    se = float((wm.estimate - wm.data_gap).std(ddof=1)) / math.sqrt(len(wm))
    assert bias_m > 4 * se
    assert abs(bias_s) < bias_m / 3


def test_sample_mean_is_the_plain_mean_for_one_reservoir():
    """One reservoir's estimate is the sample mean whatever `estimator` says."""
    extra = ["training.deepcon.ota.sampler=random"]
    a, _ = _ota(extra + ["training.deepcon.ota.estimator=stratified"])
    b, _ = _ota(extra)
    assert a.equals(b)


def test_class_shift_moves_the_class_mix_and_keeps_the_mean_gap():
    """The stream's mean gap stays the input gap under a shifting class mix (the multipliers
    are renormalised each window); shift 0 is the stationary stream."""
    w0, _ = _ota()
    w1, _ = _ota(["training.deepcon.ota.class_shift=0"])
    assert w0.equals(w1)
    ws, _ = _ota(["training.deepcon.ota.class_shift=10"])
    assert not ws.equals(w0)
    # 7,500 items per window: the indicator's mean is within a few binomial SEs of the input
    se = np.sqrt(ws.true_gap * (1 - ws.true_gap) / ws["items"])
    assert (np.abs(ws.data_gap - ws.true_gap) < 4 * se + 1e-3).all()
    # the stratified estimate stays unbiased under the shift
    d = ws.estimate - ws.data_gap
    assert abs(float(d.mean())) < 4 * float(d.std(ddof=1)) / math.sqrt(len(d)) + 1e-4
