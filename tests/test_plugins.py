"""Third-party policies arrive through the `edgesim.policies` entry-point group."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
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


# --------------------------------------------------------------------------- systems

PINGPONG = Path(__file__).parent / "plugins" / "edgesim-pingpong"


@pytest.fixture(scope="module")
def pingpong_installed(tmp_path_factory):
    """tests/plugins/edgesim-pingpong installed by pip into a folder of its own (what a user's
    `pip install` does: a package and its dist-info with the entry point)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    shutil.copytree(PINGPONG, build / "src")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                        "--no-build-isolation", "--quiet", "--target", str(target),
                        str(build / "src")], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"pip could not install the example plug-in: {r.stderr[-2000:]}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), str(Path(__file__).parents[1])]
                                        + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def _edgesim(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgesim", *args], capture_output=True,
                          text=True, env=env, cwd=cwd)


def test_a_system_from_a_folder_plugs_in_through_its_entry_point(pingpong_installed, tmp_path):
    """A system outside edgesim: its section is in the schema, `check` describes it, `run`
    prints its rows and writes its summary, with no edit to edgesim."""
    env = pingpong_installed
    scenario = PINGPONG / "pingpong.yaml"
    r = _edgesim(env, "check", str(scenario))
    assert r.returncode == 0, r.stderr
    assert "training system pingpong, 3 round trips of 8e+06 bytes" in r.stdout
    r = _edgesim(env, "run", str(scenario), "-o", str(tmp_path / "run"), "--no-plots")
    assert r.returncode == 0, r.stderr
    assert "round trip" in r.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # 8 MB over 100 Mbit/s plus 5 ms, each way: the run's time is the network's arithmetic.
    one_way = 8e6 * 8 / 100e6 + 0.005
    assert summary["system"] == "pingpong"
    assert summary["pingpong"]["rounds"] == 3
    assert summary["pingpong"]["round_trip_s"] == pytest.approx(2 * one_way, rel=1e-9)
    assert summary["pingpong"]["total_s"] == pytest.approx(6 * one_way, rel=1e-9)
    assert len(pd.read_parquet(tmp_path / "run" / "schedule.parquet")) == 6
    # Its section is validated like any other: a misspelt key is located.
    bad = tmp_path / "bad.yaml"
    bad.write_text(scenario.read_text().replace("rounds: 3", "rouns: 3"))
    r = _edgesim(env, "check", str(bad))
    assert r.returncode == 2
    assert "training.pingpong.rouns" in r.stderr + r.stdout


def test_without_the_plug_in_its_section_is_unknown(tmp_path):
    r = subprocess.run([sys.executable, "-m", "edgesim", "check",
                        str(PINGPONG / "pingpong.yaml")], capture_output=True, text=True)
    assert r.returncode == 2
    assert "pingpong" in r.stderr + r.stdout


def test_the_registry_lists_every_seed_system():
    from edgesim import registry
    assert list(registry.systems())[:7] == ["distream", "vp", "deepcon", "mercury", "federated",
                                            "clue", "decentralized"]
    for s in registry.systems().values():
        if s.kind == "training":
            assert s.load("section") is not None and s.load("runtime") is not None
        for ref in [s.report, s.compare, s.summary, *s.policies, *s.jobs.values()]:
            if ref is not None:
                assert registry.resolve(ref if ":" in ref else ref + ":") is not None


def test_edgesim_systems_lists_them():
    from click.testing import CliRunner

    from edgesim.cli import main
    out = CliRunner().invoke(main, ["systems"]).output
    assert "federated       training  training.federated" in out
    assert "vp              serving   job shape 'ensemble'" in out
