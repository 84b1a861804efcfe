"""Third-party policies arrive through the `edgesim.policies` entry-point group."""
from __future__ import annotations

import sys
import textwrap

import pytest

import edgesim
from edgesim.policies import registry
from tests.scenarios import station


@pytest.fixture
def plugin_on_path(tmp_path, monkeypatch):
    (tmp_path / "edgesim_testplug.py").write_text(textwrap.dedent("""
        from pydantic import Field
        from edgesim.policies.base import Policy, PolicyConfig

        class Cfg(PolicyConfig):
            member: int = Field(0, ge=0)

        class AlwaysOne(Policy):
            description = "always the configured member"
            Config = Cfg
            def place(self, req, stage, candidates):
                return candidates[self.config.member % len(candidates)]
    """))
    dist = tmp_path / "edgesim_testplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: edgesim-testplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[edgesim.policies]\nalways-one = edgesim_testplug:AlwaysOne\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = dict(registry.available())
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)
    sys.modules.pop("edgesim_testplug", None)


def test_entry_point_policy_is_found_and_configured(plugin_on_path):
    assert "always-one" in registry.available()
    sc = station({"dist": "constant", "time": 0.01}, rate=5.0, duration=10.0, node={"count": 3})
    sc["policy"] = {"name": "always-one", "params": {"member": 2}}
    df = edgesim.run(sc).requests
    assert set(df.nodes) == {"server2"}
    sc["policy"]["params"] = {"membr": 2}
    with pytest.raises(edgesim.ScenarioError, match=r"policy\.params\.membr: unknown key"):
        edgesim.run(sc)


def test_policy_that_rejects_the_scenario_is_a_scenario_error():
    sc = station({"dist": "constant", "time": 0.01}, rate=1.0, duration=5.0)
    sc["policy"] = {"name": "distream", "params": {"cameras": "camz"}}
    with pytest.raises(edgesim.ScenarioError, match=r"policy\.params.*'camz'"):
        edgesim.run(sc)
