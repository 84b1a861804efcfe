"""Variant parallelism: ensemble jobs against their closed forms.

* availability with independent per-query failure probability p per worker: VP (any answer
  counts) 1 - p^n, MP (a chain of n devices) and CP (all n must answer) (1 - p)^n, single 1 - p;
  checked with confidence intervals over independent replications;
* bytes per answer = h(k) of Eq. 3, for several k and class counts, on the wire;
* with deterministic times, VP's response time = the slowest contributing member plus its
  network time, capped by the deadline.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import edgesim
from edgesim.errors import ScenarioError
from edgesim.systems.vp.accuracy import Accuracy, combine, defaults
from edgesim.systems.vp.answer import h
from tests.queueing import t_interval

BW = 1e6           # bit/s on every link (the VP paper's Table V)
LAT = 0.001        # s per link: master <-> worker RTT = 2 ms


def ensemble_scenario(times, *, input_bytes=12_000, answer=None, deadline=None, quorum=1,
                      detect=False, failures=(), links=True, rate=0.5, duration=20.0,
                      seed=1, accuracy=None, **top) -> dict:
    """A master ('hub0') and one worker per member (devK runs model mK in times[K] s)."""
    n = len(times)
    ens = {"members": [{"model": f"m{i}", "node": f"dev{i}"} for i in range(n)],
           "input_bytes": input_bytes, "answer": answer or {"k": 2, "classes": 101},
           "quorum": quorum, "detect_failures": detect}
    if deadline is not None:
        ens["deadline"] = deadline
    if accuracy is not None:
        ens["accuracy"] = accuracy
    sc = {
        "name": "vp", "seed": seed, "duration": duration,
        "nodes": {"hub": {"role": "master"}, "dev": {"count": n, "role": "worker"}},
        "workload": {"sources": {"q": {"at": "hub", "job": "vp", "arrivals": {
            "process": "deterministic", "rate": rate}}},
            "jobs": {"vp": {"ensemble": ens}}},
        "service": {f"m{i}": {"cpu": {"dist": "constant", "time": t}}
                    for i, t in enumerate(times)},
        "failures": list(failures),
    }
    if links:
        sc["links"] = {"wifi": {"ends": ["dev", "hub"], "bandwidth": BW, "latency": LAT}}
    sc.update(top)
    return sc


def network_time(input_bytes: float, answer_bytes: float) -> float:
    """Master -> worker and back over one uncontended link each way."""
    return 2 * LAT + (input_bytes + answer_bytes) * 8 / BW


# --------------------------------------------------------------------------- bytes

@pytest.mark.parametrize("k,classes,fp,expected", [
    (1, 101, 4, 1),          # the index alone
    (2, 101, 4, 10),         # the paper's choice: 2 x (4 + 1)
    (5, 100, 4, 25),
    (2, 10, 4, 10),
    (5, 10, 4, 25),          # 25 < 40: still cheaper than the vector
    (6, 10, 4, 30),
    (9, 10, 4, 40),          # k > C/2: the whole vector (4 x 10) is cheaper than 45
    (10, 10, 4, 40),
    (3, 1000, 2, 9),         # half-precision scores
])
def test_h_is_eq_3(k, classes, fp, expected):
    assert h(k, classes, fp) == expected


@pytest.mark.parametrize("k,classes", [(1, 101), (2, 10), (2, 101), (5, 100), (9, 10),
                                       (20, 1000)])
def test_bytes_per_answer_on_the_wire_equal_h(k, classes):
    times = [0.01, 0.02, 0.03]
    sc = ensemble_scenario(times, answer={"k": k, "classes": classes}, deadline=1.0,
                           network={"transfers": True})
    r = edgesim.run(sc)
    t = r.transfers
    answers = t[t.dst == "hub0"]
    inputs = t[t.src == "hub0"]
    assert len(answers) == len(inputs) == 3 * r.summary["answers"]["queries"] > 0
    assert set(answers.bytes) == {h(k, classes)}
    assert set(inputs.bytes) == {12_000}
    a = r.summary["answers"]
    assert a["members"]["bytes_per_answer"] == h(k, classes)
    assert a["bytes_per_query"] == 3 * (12_000 + h(k, classes))
    assert set(r.requests.bytes) == {3 * (12_000 + h(k, classes))}


def test_class_parallel_answers_are_raw_scores():
    sc = ensemble_scenario([0.01] * 5, quorum="all", deadline=1.0,
                           answer={"encoding": "scores", "classes": 21})
    a = edgesim.run(sc).summary["answers"]
    assert a["members"]["bytes_per_answer"] == 21 * 4


# --------------------------------------------------------------------------- response time

TIMES = [0.017, 0.0265, 0.038, 0.053, 0.071]       # Table VII's V1..V5 on a Galaxy Tab A
NET = network_time(12_000, h(2, 101))


@pytest.mark.parametrize("deadline", [None, 1.0, 0.160, 0.140, 0.130, 0.120])
def test_response_time_is_slowest_contributor_plus_network_capped_by_deadline(deadline):
    sc = ensemble_scenario(TIMES, deadline=deadline, accuracy={"dataset": "food-101", "table": {
        f"m{i}": a for i, a in enumerate((0.5878, 0.6535, 0.7013, 0.7143, 0.7423))}})
    df = edgesim.run(sc).requests
    arrive = [t + NET for t in TIMES]       # when each member's answer reaches the master
    cap = math.inf if deadline is None else deadline
    contributing = [i for i, t in enumerate(arrive) if t <= cap]
    expected = max(arrive[i] for i in contributing) if len(contributing) == len(TIMES) else cap
    assert np.allclose(df.latency, expected, rtol=1e-12, atol=1e-12), (df.latency.iloc[0],
                                                                        expected)
    assert set(df.answered_by) == {"+".join(f"m{i}" for i in contributing)}
    assert set(df.outcome) == {"completed"}


def test_deadline_before_any_answer_leaves_the_query_unanswered():
    sc = ensemble_scenario(TIMES, deadline=0.05)
    df = edgesim.run(sc).requests
    assert set(df.outcome) == {"timed_out"} and set(df.answered_by) == {""}
    assert edgesim.run(sc).summary["answers"]["availability"] == 0.0


def test_a_silent_failure_makes_the_master_wait_for_the_whole_window():
    # The slowest member's node is down from the start: its absence is only noticed at the
    # deadline, unless the master detects failures, when it answers as soon as the others have.
    crash = [{"target": "dev4", "kind": "crash", "schedule": [[0.0, 1000.0]]}]
    silent = edgesim.run(ensemble_scenario(TIMES, deadline=0.3, failures=crash)).requests
    assert np.allclose(silent.latency, 0.3)
    assert set(silent.answered_by) == {"m0+m1+m2+m3"}
    heard = edgesim.run(ensemble_scenario(TIMES, deadline=0.3, failures=crash,
                                          detect=True)).requests
    assert np.allclose(heard.latency, TIMES[3] + NET, rtol=1e-12)


def test_quorum_all_fails_at_once_when_a_failure_is_detected():
    crash = [{"target": "dev0", "kind": "crash", "schedule": [[0.0, 1000.0]]}]
    df = edgesim.run(ensemble_scenario(TIMES, quorum="all", deadline=0.3, failures=crash,
                                       detect=True)).requests
    assert set(df.outcome) == {"failed"}
    # refused when the input reaches the crashed node, and known at once
    assert np.allclose(df.ended - df.created, LAT + 12_000 * 8 / BW, rtol=1e-12)
    df = edgesim.run(ensemble_scenario(TIMES, quorum="all", deadline=0.3,
                                       failures=crash)).requests
    assert set(df.outcome) == {"timed_out"} and np.allclose(df.ended - df.created, 0.3)
    assert set(df.answered_by) == {"m1+m2+m3+m4"}      # arrived, but not enough


def test_aggregation_on_the_master_adds_its_service_time():
    sc = ensemble_scenario(TIMES, deadline=1.0)
    sc["workload"]["jobs"]["vp"]["ensemble"]["aggregate"] = "agg"
    sc["service"]["agg"] = {"cpu": {"dist": "constant", "time": 0.00005}}   # Table VII
    df = edgesim.run(sc).requests
    assert np.allclose(df.latency, TIMES[-1] + NET + 0.00005, rtol=1e-12)


def test_late_answers_still_count_as_bytes_on_air():
    sc = ensemble_scenario(TIMES, deadline=0.14)   # m3, m4 answer after the window
    r = edgesim.run(sc)
    assert set(r.requests.bytes) == {5 * 12_000 + 3 * h(2, 101)}
    queries = r.summary["answers"]["queries"]
    late = r.summary["answers"]["bytes_per_query"] * queries - r.requests.bytes.sum()
    assert late == pytest.approx(2 * h(2, 101) * queries)


def test_a_member_on_the_master_moves_no_bytes():
    sc = ensemble_scenario([0.01, 0.02], deadline=1.0)
    sc["workload"]["jobs"]["vp"]["ensemble"]["members"][0]["node"] = "@origin"
    sc["service"]["m0"] = {"*": {"dist": "constant", "time": 0.01}}
    df = edgesim.run(sc).requests
    assert set(df.bytes) == {12_000 + h(2, 101)}
    assert np.allclose(df.latency, max(0.01, 0.02 + NET))


def test_the_policy_places_members_with_several_candidates():
    sc = ensemble_scenario([0.5], deadline=5.0, rate=4.0, duration=10.0, links=False,
                           policy={"name": "least-loaded"})
    sc["nodes"]["dev"]["count"] = 3
    sc["workload"]["jobs"]["vp"]["ensemble"]["members"][0]["node"] = "dev"
    df = edgesim.run(sc).requests
    assert set(df.nodes) == {"dev0", "dev1", "dev2"}


# --------------------------------------------------------------------------- availability

P, N, QUERIES, REPS = 0.3, 3, 400, 10


def _availability(sc_for_seed) -> tuple[float, float, float]:
    values = []
    for seed in range(REPS):
        values.append(edgesim.run(sc_for_seed(seed)).summary["answers"]["availability"])
    return t_interval(values)


def _fault(target="dev"):
    return [{"target": target, "kind": "fault", "probability": P}]


def _chain(seed: int, devices: int) -> dict:
    sc = ensemble_scenario([0.01] * N, links=False, seed=seed, rate=1.0,
                           duration=QUERIES, failures=_fault())
    sc["workload"]["jobs"] = {"mp": {"stages": [{"model": f"m{i}", "node": f"dev{i}"}
                                                for i in range(devices)],
                                     "accuracy": 0.8}}
    sc["workload"]["sources"]["q"]["job"] = "mp"
    return sc


@pytest.mark.parametrize("strategy,expected", [
    ("vp", 1 - P ** N), ("cp", (1 - P) ** N), ("mp", (1 - P) ** N), ("single", 1 - P)])
def test_availability_under_independent_per_query_failures(strategy, expected):
    def scenario(seed):
        if strategy in ("vp", "cp"):
            return ensemble_scenario([0.01] * N, links=False, deadline=1.0, seed=seed,
                                     rate=1.0, duration=QUERIES, failures=_fault(),
                                     quorum=1 if strategy == "vp" else "all")
        return _chain(seed, N if strategy == "mp" else 1)

    mean, lo, hi = _availability(scenario)
    assert lo <= expected <= hi, (strategy, mean, lo, hi, expected)
    assert hi - lo < 0.06


def test_vp_degrades_gracefully_members_answering_are_binomial():
    # With p per worker the number of answers of a query is Binomial(n, 1 - p).
    counts = np.zeros(N + 1)
    for seed in range(REPS):
        sc = ensemble_scenario([0.01] * N, links=False, deadline=1.0, seed=seed, rate=1.0,
                               duration=QUERIES, failures=_fault())
        df = edgesim.run(sc).requests
        sizes = df.answered_by.astype(str).map(lambda s: len(s.split("+")) if s else 0)
        counts += np.bincount(sizes, minlength=N + 1)
    share = counts / counts.sum()
    binom = [math.comb(N, j) * (1 - P) ** j * P ** (N - j) for j in range(N + 1)]
    se = np.sqrt(np.array(binom) * (1 - np.array(binom)) / counts.sum())
    assert np.all(np.abs(share - binom) < 4 * se), (share, binom)


# --------------------------------------------------------------------------- accuracy

def test_table_vi_defaults():
    food = defaults("food-101")
    assert food["mobilenet_v2"] == pytest.approx(0.7968)
    assert food["vp_v1"] == pytest.approx(0.5878) and food["vp_v7"] == pytest.approx(0.7579)
    assert defaults("imagenet", "top-m")["vp_im7"] == pytest.approx(0.86)
    assert defaults("mnist", "top-m")["vp_v5"] == pytest.approx(0.9995)


def _ens(dataset: str, k: int) -> float:
    single = defaults(dataset)
    return combine([single[f"vp_v{i}"] for i in range(1, k + 1)])


def test_literature_rule_is_anchored_on_food101_and_meets_the_papers_other_statements():
    # Food-101, V1..V6 "similar accuracy to the baseline" is the sentence the rule's constant
    # was fitted to: this first check is the calibration anchor (it guards the fit, it cannot
    # test the rule); the statements below were not used in the fit and can fail.
    assert _ens("food-101", 6) == pytest.approx(defaults("food-101")["mobilenet_v2"], abs=5e-4)
    # Not used in the fit: CIFAR-100, all five "comparable" to the baseline ...
    assert abs(_ens("cifar-100", 5) - defaults("cifar-100")["mobilenet_v2"]) < 0.015
    # ... CIFAR-10, V1-V3 "almost the same" (just below) and V1-V5 "better than the baseline".
    base = defaults("cifar-10")["mobilenet_v2"]
    assert base - 0.01 < _ens("cifar-10", 3) < base < _ens("cifar-10", 5)
    # Every further variant helps (Fig. 7): accuracy grows with the set.
    accs = [_ens("food-101", k) for k in range(1, 8)]
    assert all(b > a for a, b in zip(accs, accs[1:]))


def test_accuracy_table_overrides_the_rule_and_value_fixes_every_answer():
    from edgesim.systems.vp.schema import AccuracySpec
    acc = Accuracy(AccuracySpec(table={"vp_v2 + vp_v1": 0.7}), ["vp_v1", "vp_v2", "vp_v3"])
    assert acc.of((0, 1)) == 0.7
    assert acc.of((2,)) == pytest.approx(0.7013)
    assert acc.of((0, 2)) == pytest.approx(combine([0.5878, 0.7013]))
    best = Accuracy(AccuracySpec(rule="best"), ["vp_v1", "vp_v3"])
    assert best.of((0, 1)) == pytest.approx(0.7013)
    fixed = Accuracy(AccuracySpec(value=0.79), ["a", "b"])
    assert fixed.missing() == [] and fixed.of((0,)) == 0.79


def test_expected_accuracy_counts_unanswered_queries_as_zero():
    # queries at 0..20 s; 10..19 find both workers down (20 is still open at the end)
    crash = [{"target": "dev", "kind": "crash", "schedule": [[10.0, 30.0]]}]
    sc = ensemble_scenario([0.01, 0.02], links=False, deadline=1.0, rate=1.0, duration=20.5,
                           failures=crash, accuracy={"table": {"m0": 0.6, "m1": 0.7}})
    a = edgesim.run(sc).summary["answers"]
    both = combine([0.6, 0.7])
    assert a["availability"] == pytest.approx(0.5)
    assert a["accuracy"]["answered"] == pytest.approx(both)
    assert a["accuracy"]["expected"] == pytest.approx(both / 2)


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("change,words", [
    (lambda e, j: e.update(quorum=4), "quorum must be between 1 and the 3 members"),
    (lambda e, j: e.update(answer={"k": 20, "classes": 10}), "k = 20 is more than the 10"),
    (lambda e, j: j.update(stages=[{"model": "m0"}]), "exactly one of 'stages', 'dag' or "
                                                      "'ensemble'"),
    (lambda e, j: j.update(result_bytes=10), "'result_bytes' does not apply"),
    (lambda e, j: j.update(accuracy=0.5), "goes under 'ensemble.accuracy'"),
    (lambda e, j: e["members"][1].update(node="nowhere"), "ensemble.members.1.node"),
    (lambda e, j: e.update(accuracy={"dataset": "cifar-10"}), "no accuracy is known for "
                                                              "model 'm0'"),
    (lambda e, j: e.update(aggregate="agg"), "no service times are given for this model"),
])
def test_bad_ensembles_are_located_problems(change, words):
    sc = ensemble_scenario([0.01, 0.02, 0.03], deadline=1.0)
    job = sc["workload"]["jobs"]["vp"]
    change(job["ensemble"], job)
    with pytest.raises(ScenarioError) as info:
        edgesim.run(sc)
    assert words in str(info.value), str(info.value)


def test_aggregation_needs_a_master_node():
    sc = ensemble_scenario([0.01], deadline=1.0, links=False)
    sc["workload"]["jobs"]["vp"]["ensemble"]["aggregate"] = "m0"
    del sc["workload"]["sources"]["q"]["at"]
    with pytest.raises(ScenarioError) as info:
        edgesim.run(sc)
    assert "workload.sources.q.at" in str(info.value)
