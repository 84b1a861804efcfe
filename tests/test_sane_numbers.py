"""Numbers the model cannot represent are refused where the scenario is read (issue #28).

Each case once passed `check` and came back from `run` as NaN latencies, a batch of 1 read from
`true`, or a traceback deep in the engine. Now each is one located problem: file, line, key
path, the bad value and why.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

import edgesim
from edgesim.engine.simulation import Simulation
from edgesim.errors import ScenarioError

BASE = {
    "name": "sane", "seed": 1, "duration": "10s",
    "nodes": {"server": {"count": 1, "executors": 2}},
    "workload": {"sources": {"arrivals": {"arrivals": {"process": "poisson", "rate": "2/s"},
                                          "job": "task"}},
                 "jobs": {"task": {"stages": [{"model": "work", "node": "server"}]}}},
    "service": {"work": {"cpu": {"dist": "lognormal", "mean": "0.1s", "cv": 1.0}}},
}


def _set(doc: dict, path: str, value) -> dict:
    keys = path.split(".")
    at = doc
    for k in keys[:-1]:
        at = at[k]
    at[keys[-1]] = value
    return doc


def _problems(tmp_path: Path, path: str, value) -> list:
    doc = _set(yaml.safe_load(yaml.safe_dump(BASE)), path, value)
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        Simulation(edgesim.load(f)).build().check()
    return info.value.problems


@pytest.mark.parametrize("path,value,why", [
    ("service.work.cpu.cv", float("inf"), "finite"),
    ("service.work.cpu.cv", 1e300, "must be <= 100"),
    ("service.work.cpu.batch_cost", float("inf"), "finite"),
    ("service.work.cpu.batch_cost", float("nan"), "finite"),
    ("nodes.server.max_batch", True, "boolean"),
    ("nodes.server.executors", 2 ** 64, "2**53"),
    ("nodes.server.executors", 3_000_000_000, "must be <= 65536"),
    ("nodes.server.count", 10 ** 21, "2**53"),
    ("seed", True, "boolean"),
])
def test_a_number_the_model_cannot_represent_is_one_located_problem(tmp_path, path, value, why):
    problems = _problems(tmp_path, path, value)
    assert len(problems) == 1
    p = problems[0]
    assert p.path == path and why in p.message
    assert p.line is not None and p.line >= 1


def test_a_boolean_inside_a_list_of_numbers_is_located_at_its_index():
    from edgesim.scenario.strict import Strict

    class M(Strict):
        xs: list[float]
        by_name: dict[str, int] = {}

    with pytest.raises(ValidationError) as info:
        M(xs=[1.0, True])
    assert [e["loc"] for e in info.value.errors()] == [("xs", 1)]
    with pytest.raises(ValidationError) as info:
        M(xs=[1.0], by_name={"a": 1, "b": 2 ** 60})
    assert [e["loc"] for e in info.value.errors()] == [("by_name", "b")]
    assert M(xs=[1, 2.5]).xs == [1.0, 2.5]


def test_a_boolean_where_a_boolean_is_valid_still_passes():
    from edgesim.scenario.strict import Strict

    class M(Strict):
        flag: bool = False
        either: int | bool = 1

    assert M(flag=True, either=True).flag is True


def test_a_float_that_would_become_a_huge_int_is_refused(tmp_path):
    problems = _problems(tmp_path, "nodes.server.device", {"cpu": 1e21})
    assert [(p.path, "2**53" in p.message) for p in problems] == [("nodes.server.device.cpu", True)]


def test_an_extends_name_no_file_system_accepts_is_a_located_problem(tmp_path):
    doc = dict(BASE, extends="x" * 300 + ".yaml")
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        edgesim.load(f)
    (p,) = info.value.problems
    assert p.path == "extends" and p.message == "not a usable file name (File name too long)"
    assert p.line is not None
