"""Command-line surprises (issue #29): a `--set` never creates a named member by accident
(`--set nodes.edg.count=2`, a typo of `edge`, once added a group of CPU nodes without a word),
and `edgesim run` on a sweep file says to use `edgesim sweep`."""
from __future__ import annotations

import pytest

import edgesim
from edgesim.errors import ScenarioError


def test_a_misspelt_group_name_is_a_problem_with_a_suggestion():
    with pytest.raises(ScenarioError) as info:
        edgesim.api.load_named("quickstart", ["nodes.edg.count=2"])
    (p,) = info.value.problems
    assert p.file == "--set nodes.edg.count=2" and p.path == "nodes.edg"
    assert "(did you mean 'edge'?)" in p.message and "--set +nodes.edg.count=" in p.message
    assert list(p.valid) == ["cam", "edge"]


@pytest.mark.parametrize("key", ["workload.sources.camz.limit=3", "workload.jobs.x.stages=[]",
                                 "links.wan2.bandwidth=1Gbps", "service.detector.cpu.dist=constant"])
def test_every_named_mapping_is_protected(key):
    with pytest.raises(ScenarioError, match="no .* named"):
        edgesim.api.load_named("quickstart", [key])


def test_a_plus_creates_the_member_on_purpose():
    sf = edgesim.api.load_named("quickstart", ["+nodes.edg.count=2"])
    assert sf.spec.nodes["edg"].count == 2


def test_fields_of_the_schema_are_still_created_freely():
    sf = edgesim.api.load_named("queueing/mmc", ["metrics.slo=3s", "nodes.server.max_batch=4"])
    assert sf.spec.metrics.slo == 3.0 and sf.spec.nodes["server"].max_batch == 4


@pytest.mark.parametrize("ref", ["studies/mmc-sweep", "scenarios/studies/mmc-sweep.yaml"])
def test_running_a_sweep_file_says_to_use_edgesim_sweep(ref, monkeypatch):
    from pathlib import Path

    from click.testing import CliRunner

    from edgesim.cli.app import main
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    r = CliRunner().invoke(main, ["run", ref])
    assert r.exit_code == 2
    assert "this is a sweep file" in r.output and "run it with `edgesim sweep" in r.output
    assert r.output.count("\n") == 1
