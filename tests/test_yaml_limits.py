"""Aliases cannot blow a scenario up (issue #28): a "billion laughs" is one located problem."""
from __future__ import annotations

import pytest

from edgesim.errors import ScenarioError
from edgesim.scenario import yamlpos
from edgesim.scenario.yamlpos import parse_yaml


def _laughs(levels: int, width: int = 10) -> str:
    lines = ["name: lol", "l0: &l0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_nested_aliases_are_refused_with_a_located_problem():
    with pytest.raises(ScenarioError) as info:
        parse_yaml(_laughs(9), "lol.yaml")     # 10**9 values if expanded
    (p,) = info.value.problems
    assert p.file == "lol.yaml" and p.line is not None
    assert "aliases" in p.message


def test_the_value_cap_counts_expanded_values(monkeypatch):
    monkeypatch.setattr(yamlpos, "MAX_ALIAS_USES", 10 ** 9)
    monkeypatch.setattr(yamlpos, "MAX_VALUES", 1_000)
    with pytest.raises(ScenarioError, match="more than 1,000 values"):
        parse_yaml(_laughs(4), "lol.yaml")     # 11,111 values with the keys' lists


def test_a_modest_use_of_aliases_still_loads():
    data, _ = parse_yaml(_laughs(3), "ok.yaml")   # 10 + 100 + 1,000 leaves
    assert len(data["l2"]) == 10 and data["l2"][3][4] == ["x"] * 10
