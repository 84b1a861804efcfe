"""DAG jobs: each request follows one execution path, drawn with the branch probabilities."""
from __future__ import annotations

import math

import pytest

import edgesim

FIG_1_1 = {  # Distream's attribute-recognition DAG (Fig. 1.1)
    "object": {"model": "obj", "next": {"color": 0.5, "behavior": 0.3, "other": 0.2}},
    "color": {"model": "color", "next": {"type": 1.0}},
    "type": {"model": "type", "next": {"make": 1.0}},
    "make": {"model": "make"},
    "behavior": {"model": "behavior", "next": {"gender": 1.0}},
    "gender": {"model": "gender"},
    "other": {"model": "other"},
}
TIMES = {"obj": 0.010, "color": 0.002, "type": 0.003, "make": 0.004, "behavior": 0.005,
         "gender": 0.006, "other": 0.007}


def dag_scenario(dag=FIG_1_1, rate=20.0, duration=500.0) -> dict:
    return {
        "name": "dag", "seed": 4, "duration": duration,
        "nodes": {"box": {"executors": 64}},
        "workload": {"sources": {"rois": {"arrivals": {"process": "poisson", "rate": rate},
                                          "job": "roi"}},
                     "jobs": {"roi": {"dag": dag}}},
        "service": {m: {"cpu": {"dist": "constant", "time": t}} for m, t in TIMES.items()},
    }


def test_paths_follow_branch_probabilities_and_costs():
    df = edgesim.run(dag_scenario()).requests
    n = len(df)
    expected = {"roi/make": 0.5, "roi/gender": 0.3, "roi/other": 0.2}
    for job, p in expected.items():
        k = (df.job == job).sum()
        half = 2.576 * math.sqrt(p * (1 - p) / n)      # 99% binomial interval
        assert abs(k / n - p) < half, (job, k / n)
    # Ample executors: latency is exactly the sum of the path's service times.
    path_time = {"roi/make": TIMES["obj"] + TIMES["color"] + TIMES["type"] + TIMES["make"],
                 "roi/gender": TIMES["obj"] + TIMES["behavior"] + TIMES["gender"],
                 "roi/other": TIMES["obj"] + TIMES["other"]}
    for job, t in path_time.items():
        assert df[df.job == job].latency.to_numpy() == pytest.approx(t, abs=1e-12)
    assert set(df[df.job == "roi/make"].nodes) == {"box0>box0>box0>box0"}


def test_partial_probabilities_stop_at_the_vertex():
    dag = {"a": {"model": "obj", "next": {"b": 0.25}}, "b": {"model": "other"}}
    df = edgesim.run(dag_scenario(dag)).requests
    assert set(df.job) == {"roi/a", "roi/b"}


def test_same_arrivals_as_a_linear_job():
    lin = dag_scenario()
    lin["workload"]["jobs"]["roi"] = {"stages": [{"model": "obj"}]}
    a = edgesim.run(dag_scenario()).requests.created.to_numpy()
    b = edgesim.run(lin).requests.created.to_numpy()
    assert (a == b).all()


@pytest.mark.parametrize("dag,message", [
    ({"a": {"model": "obj", "next": {"b": 1.0}}, "b": {"model": "obj", "next": {"a": 1.0}}},
     "may not loop back to a -> b -> a"),
    ({"a": {"model": "obj", "next": {"c": 1.0}}}, "'c': not a vertex of this DAG"),
    ({"a": {"model": "obj", "next": {"b": 0.7, "c": 0.6}}, "b": {"model": "obj"},
      "c": {"model": "obj"}}, "probabilities sum to 1.3, more than 1"),
])
def test_bad_dags_are_reported(dag, message):
    with pytest.raises(edgesim.ScenarioError, match=message.replace("(", r"\(")):
        edgesim.run(dag_scenario(dag))
