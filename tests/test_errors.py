"""Golden error messages: every malformed scenario in tests/data/bad/ is answered by one exact
message naming file:line, key path, the bad value and what would be valid, through the Python
API and through `edgesim check` (exit status 2, message on stderr, no traceback).

Paths are relative to tests/data (the tests run there); absolute paths inside messages (files
a scenario names) are shown relative to it too, so the goldens do not depend on the checkout.
Lists that grow with the project (catalogue devices, policies, top-level keys) are spliced in
from their source, so adding a device does not break forty goldens; the rest is literal.
"""
from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgesim
from edgesim.cli.app import main
from edgesim.engine.simulation import Simulation
from edgesim.errors import Problem, ScenarioError
from edgesim.hardware.catalogue import CATALOGUE
from edgesim.policies.registry import available
from edgesim.scenario.loader import read
from edgesim.scenario.schema import (Arrivals, NodeSpec, OnOff, PolicySpec, Scenario,
                                     ServiceSpec)
from edgesim.units import VALID_UNITS

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
BAD = DATA / "bad"


def _keys(model) -> str:
    return ", ".join(f.alias or n for n, f in model.model_fields.items())


def _tags(union, key: str) -> str:
    """The values of a discriminated union's tag ``key``, in declaration order."""
    members = typing.get_args(typing.get_args(union)[0])
    return ", ".join(a for m in members for a in typing.get_args(m.model_fields[key].annotation))


TOP_KEYS = _keys(Scenario)
PROCESSES = _tags(Arrivals, "process")
DISTS = _tags(ServiceSpec, "dist")
NODE_KEYS = _keys(NodeSpec)
POLICY_KEYS = _keys(PolicySpec)
DEVICES = ", ".join(sorted(CATALOGUE))
POLICIES = ", ".join(sorted(available()))
DURATION_UNITS = ", ".join(VALID_UNITS["duration"])
BANDWIDTH_UNITS = ", ".join(VALID_UNITS["bandwidth"])
RATE_UNITS = ", ".join(VALID_UNITS["rate"])

# file stem in tests/data/bad -> the complete rendered message
GOLDEN: dict[str, str] = {
    "unknown_top_key":
        "bad/unknown_top_key.yaml:4: seeed: unknown key 'seeed' (did you mean 'seed'?); "
        f"valid: {TOP_KEYS}",
    "unknown_nested_key":
        "bad/unknown_nested_key.yaml:10: nodes.server.executers: unknown key 'executers' "
        f"(did you mean 'executors'?); valid: {NODE_KEYS}",
    "digit_key":
        f"bad/digit_key.yaml:11: nodes.server.3: unknown key '3'; valid: {NODE_KEYS}",
    "on_off_keys_misspelt":
        "2 problems in scenario:\n"
        "bad/on_off_keys_misspelt.yaml:26: workload.sources.bursts.arrivals.off: required key "
        "is missing\n"
        "bad/on_off_keys_misspelt.yaml:26: workload.sources.bursts.arrivals.of: unknown key "
        f"'of' (did you mean 'off'?); valid: {_keys(OnOff)}",
    "misspelt_unit":
        "bad/misspelt_unit.yaml:15: links.access.bandwidth: '10 Mbs' is not a bandwidth: "
        f"unknown unit 'Mbs' (did you mean 'Mbps'?); valid units: {BANDWIDTH_UNITS}",
    "ambiguous_unit":
        "bad/ambiguous_unit.yaml:17: links.wan.bandwidth: '10Mb' is not a bandwidth: unit 'Mb' "
        "is ambiguous: lowercase 'b' is bits to some and bytes to others; write 'Mbit/s' or "
        f"'MB/s'; valid units: {BANDWIDTH_UNITS}",
    "negative_duration":
        "bad/negative_duration.yaml:6: warmup: '-10s' is not a duration: must be >= 0; "
        f"valid units: {DURATION_UNITS}",
    "count_zero":
        "bad/count_zero.yaml:9: nodes.server.count: 0: must be >= 1",
    "zero_rate":
        "bad/zero_rate.yaml:14: workload.sources.arrivals.arrivals.rate: 0: must be > 0.0",
    "whole_number":
        "bad/whole_number.yaml:9: nodes.server.count: 1.5: must be a whole number",
    "boolean_for_rate":
        "bad/boolean_for_rate.yaml:14: workload.sources.arrivals.arrivals.rate: True is not a "
        "rate: got a boolean (YAML reads yes/no/on/off as booleans); write a number, optionally "
        f"with a unit; valid units: {RATE_UNITS}",
    "bad_choice":
        "bad/bad_choice.yaml:11: nodes.server.queue: 'fif': not a valid choice (did you mean "
        "'fifo'?); valid: fifo, lifo, priority",
    "unknown_device":
        "bad/unknown_device.yaml:11: nodes.server.device: 'jetson-tx3': unknown device (one you "
        "calibrated is known once its bundle is listed under calibration.bundles; or declare "
        f"it under devices:) (did you mean 'jetson-tx2'?); valid: {DEVICES}",
    "unknown_policy":
        "bad/unknown_policy.yaml:26: policy.name: 'round-robbin': unknown policy (did you mean "
        f"'round-robin'?); valid: {POLICIES}",
    "unknown_policy_param":
        "bad/unknown_policy_param.yaml:52: policy.params.count_owm: unknown key 'count_owm' "
        "(did you mean 'count_own'?); valid: count_own",
    "bad_policy_param_type":
        "bad/bad_policy_param_type.yaml:52: policy.params.count_own: 'maybe': must be true or "
        "false",
    "unknown_arrival_process":
        "bad/unknown_arrival_process.yaml:14: workload.sources.arrivals.arrivals.process: "
        f"unknown process 'poison' (did you mean 'poisson'?); valid: {PROCESSES}",
    "missing_arrival_process":
        "bad/missing_arrival_process.yaml:14: workload.sources.arrivals.arrivals: needs a "
        f"'process' key; valid: {PROCESSES}",
    "unknown_dist":
        f"bad/unknown_dist.yaml:22: service.work.cpu.dist: unknown dist 'expo'; valid: {DISTS}",
    "missing_required":
        "bad/missing_required.yaml:2: duration: required key is missing",
    "unknown_job":
        "bad/unknown_job.yaml:15: workload.sources.arrivals.job: 'tsak': unknown job (did you "
        "mean 'task'?); valid: task",
    "unknown_stage_node":
        "bad/unknown_stage_node.yaml:19: workload.jobs.task.stages.0.node: 'sever': unknown "
        "node or group (did you mean 'server'?); valid: server",
    "unknown_stage_node_in_list":
        "bad/unknown_stage_node_in_list.yaml:43: workload.jobs.classify.stages.0.node.1: "
        "'clod': unknown node or group (did you mean 'cloud'?); valid: cam, cloud, edge",
    "link_unknown_end":
        "bad/link_unknown_end.yaml:17: links.wan.ends.1: 'clouds': unknown node or group (did "
        "you mean 'cloud'?); valid: cam, cloud, edge, sw",
    "model_without_service":
        "bad/model_without_service.yaml:19: workload.jobs.task.stages.0.model: 'detect': no "
        "service times are given for this model; valid: work",
    "service_unused_device":
        "bad/service_unused_device.yaml:23: service.work.t4: 't4': no node uses this device; "
        "valid: cpu, *",
    "trace_not_found":
        "bad/trace_not_found.yaml:14: workload.sources.arrivals.arrivals.file: "
        "'no-such-trace.csv': file not found: bad/no-such-trace.csv",
    "trace_is_folder":
        "bad/trace_is_folder.yaml:14: workload.sources.arrivals.arrivals.file: '.': cannot read "
        "bad: Is a directory",
    "trace_not_finite":
        "bad/trace_not_finite.yaml:14: workload.sources.arrivals.arrivals.file: 'nan_times.csv': "
        "bad/nan_times.csv: every value must be a finite number",
    "profile_not_found":
        "bad/profile_not_found.yaml:22: service.work.cpu.file: 'no-such-profile.csv': file not "
        "found: bad/no-such-profile.csv",
    "profile_max_batch":
        "bad/profile_max_batch.yaml:11: nodes.server.max_batch: 8: the profile for model 'work' "
        "was measured up to batch 4",
    "profile_unknown_model":
        "bad/profile_unknown_model.yaml:22: service.work.cpu: bad/profile.csv: no rows for "
        "model 'wrk'; it has work",
    "profile_bad_median":
        "bad/profile_bad_median.yaml:22: service.work.cpu: bad/profile_zero.csv: every "
        "median_ms must be a finite number > 0",
    "yaml_syntax":
        "bad/yaml_syntax.yaml:19: <top level>: not valid YAML: expected ',' or ']', but got '}'",
    "yaml_tab":
        "bad/yaml_tab.yaml:10: <top level>: not valid YAML: found character '\\t' that cannot "
        "start any token",
    "yaml_unknown_tag":
        "bad/yaml_unknown_tag.yaml:2: <top level>: not valid YAML: could not determine a "
        "constructor for the tag 'tag:yaml.org,2002:python/object:os.system'",
    "recursive_alias":
        "bad/recursive_alias.yaml:23: metrics.window: an alias refers to a mapping or list that "
        "contains it",
    "merge_not_mapping":
        "bad/merge_not_mapping.yaml:11: nodes.server: '<<' merges a mapping or a list of "
        "mappings, not int",
    "duplicate_key":
        "bad/duplicate_key.yaml:11: nodes.server.count: duplicate key 'count' (first given on "
        "line 9)",
    "warmup_not_before_end":
        "bad/warmup_not_before_end.yaml:6: warmup: 200.0: must be shorter than duration "
        "(200.0 s)",
    "list_for_mapping":
        "bad/list_for_mapping.yaml:23: metrics: [{'interval': '10s'}]: must be a mapping of keys "
        "to values",
    "mapping_for_list":
        "bad/mapping_for_list.yaml:18: workload.jobs.task.stages: {'model': 'work', 'node': "
        "'server'}: must be a list",
    "empty_list":
        "bad/empty_list.yaml:18: workload.jobs.task.stages: []: must have at least 1 item, not 0",
    "empty_service":
        "bad/empty_service.yaml:21: service.work: {}: must have at least 1 entry, not 0",
    "empty_node_list":
        "bad/empty_node_list.yaml:19: workload.jobs.task.stages.0.node: []: an empty list names "
        "no node; omit 'node' to let any node serving the model run this stage",
    "mmpp_shape":
        "bad/mmpp_shape.yaml:31: workload.sources.phones.arrivals: sojourn has 3 entries but "
        "rates has 2",
    "not_a_mapping":
        "bad/not_a_mapping.yaml:1: <top level>: a scenario must be a mapping of keys to values, "
        "got list",
    "several_problems":
        "3 problems in scenario:\n"
        "bad/several_problems.yaml:4: seed: -1: must be >= 0\n"
        "bad/several_problems.yaml:9: nodes.server.count: 0: must be >= 1\n"
        "bad/several_problems.yaml:24: metrics.interval: '10 parsecs' is not a duration: "
        f"unknown unit 'parsecs' (did you mean 'secs'?); valid units: {DURATION_UNITS}",
    "several_build_problems":
        "2 problems in scenario:\n"
        "bad/several_build_problems.yaml:19: workload.jobs.task.stages.0.node: 'sever': unknown "
        "node or group (did you mean 'server'?); valid: server\n"
        "bad/several_build_problems.yaml:15: workload.sources.arrivals.job: 'tsak': unknown job "
        "(did you mean 'task'?); valid: task",
}

# (case id, --set assignments applied to tests/data/valid.yaml, message)
SET_GOLDEN: list[tuple[str, list[str], str]] = [
    ("set_unknown_key", ["policy.nme=x"],
     "--set policy.nme=x: policy.nme: unknown key 'nme' (did you mean 'name'?); "
     f"valid: {POLICY_KEYS}"),
    ("set_bad_value", ["nodes.server.count=abc"],
     "--set nodes.server.count=abc: nodes.server.count: 'abc': must be a whole number"),
    ("set_bad_unit", ["duration=1parsec"],
     "--set duration=1parsec: duration: '1parsec' is not a duration: unknown unit 'parsec' "
     f"(did you mean 'sec'?); valid units: {DURATION_UNITS}"),
    ("set_unknown_policy", ["policy.name=round-robbin"],
     "--set policy.name=round-robbin: policy.name: 'round-robbin': unknown policy (did you "
     f"mean 'round-robin'?); valid: {POLICIES}"),
    ("set_index_out_of_range", ["workload.jobs.task.stages.3.model=x"],
     "--set workload.jobs.task.stages.3.model=x: workload.jobs.task.stages.3: no item 3: the "
     "list has 1 item(s)"),
    ("set_into_scalar", ["seed.x=1"],
     "--set seed.x=1: seed.x: cannot set this key: its parent is int, not a mapping"),
    ("set_no_equals", ["seed"],
     "--set: <top level>: 'seed': an override must look like key.path=value"),
    ("set_empty_element", ["nodes..count=2"],
     "--set nodes..count=2: nodes..count: 'nodes..count=2': empty element in key path"),
    ("set_missing_tag", ["workload.sources.arrivals.arrivals={rate: 1}"],
     "--set workload.sources.arrivals.arrivals={rate: 1}: workload.sources.arrivals.arrivals: "
     f"needs a 'process' key; valid: {PROCESSES}"),
]

NOT_FOUND = "bad/no-such-scenario.yaml: <top level>: scenario file not found"


def _normalise(text: str) -> str:
    """Absolute paths of files under tests/data/bad, as the goldens write them."""
    return text.replace(str(BAD), "bad")


@pytest.fixture(autouse=True)
def _in_data(monkeypatch):
    monkeypatch.chdir(DATA)


def _check(path: str, overrides=()) -> None:
    Simulation(edgesim.load(path, overrides)).build().check()


# ------------------------------------------------------------------------------ inventory

def test_every_bad_file_has_a_golden():
    files = {p.stem for p in BAD.glob("*.yaml")}
    assert files == set(GOLDEN), (files ^ set(GOLDEN))
    assert len(GOLDEN) >= 20


def test_base_scenarios_are_valid():
    for name in ("valid.yaml", "multi.yaml"):
        _check(name)


# ------------------------------------------------------------------------------ API

@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_message(name):
    with pytest.raises(ScenarioError) as info:
        _check(f"bad/{name}.yaml")
    assert _normalise(str(info.value)) == GOLDEN[name]
    for p in info.value.problems:
        assert isinstance(p, Problem)
        assert p.file == f"bad/{name}.yaml"
        assert p.line is not None and p.line >= 1


@pytest.mark.parametrize("case, sets, expected", SET_GOLDEN, ids=[c[0] for c in SET_GOLDEN])
def test_golden_override_message(case, sets, expected):
    with pytest.raises(ScenarioError) as info:
        _check("valid.yaml", sets)
    assert str(info.value) == expected
    assert all(p.file.startswith("--set") for p in info.value.problems)


def test_scenario_file_not_found():
    with pytest.raises(ScenarioError) as info:
        _check("bad/no-such-scenario.yaml")
    assert str(info.value) == NOT_FOUND


# ------------------------------------------------------------------------------ CLI

def _cli(args):
    result = CliRunner().invoke(main, args)
    return result


def _assert_clean_failure(result, expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert _normalise(result.stderr) == expected + "\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_message_cli(name):
    _assert_clean_failure(_cli(["check", f"bad/{name}.yaml"]), GOLDEN[name])


@pytest.mark.parametrize("case, sets, expected", SET_GOLDEN, ids=[c[0] for c in SET_GOLDEN])
def test_golden_override_message_cli(case, sets, expected):
    args = ["check", "valid.yaml"]
    for s in sets:
        args += ["--set", s]
    _assert_clean_failure(_cli(args), expected)


def test_scenario_file_not_found_cli():
    _assert_clean_failure(_cli(["check", "bad/no-such-scenario.yaml"]), NOT_FOUND)


def test_run_reports_like_check(tmp_path):
    """`edgesim run` fails the same way before simulating anything, and writes nothing."""
    out = tmp_path / "run"
    result = _cli(["run", "bad/unknown_policy.yaml", "-q", "-o", str(out)])
    _assert_clean_failure(result, GOLDEN["unknown_policy"])
    assert not out.exists()


@pytest.mark.parametrize("args, expected", [
    (["check", "bad/unknown_top_key.yaml"], GOLDEN["unknown_top_key"]),
    (["check", "bad/yaml_syntax.yaml"], GOLDEN["yaml_syntax"]),
    (["check", "bad/trace_is_folder.yaml"], GOLDEN["trace_is_folder"]),
    (["check", "valid.yaml", "--set", "nodes.server.count=abc"], SET_GOLDEN[1][2]),
    (["run", "valid.yaml", "-q", "--duration", "1parsec"],
     "--set duration=1parsec: duration: '1parsec' is not a duration: unknown unit 'parsec' "
     f"(did you mean 'sec'?); valid units: {DURATION_UNITS}"),
], ids=["unknown-key", "yaml-syntax", "folder", "set-value", "run-duration"])
def test_real_process(args, expected):
    """A real `python -m edgesim` process: exit 2, the message alone on stderr, no traceback."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "edgesim", *args], cwd=DATA, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert _normalise(proc.stderr) == expected + "\n"
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr + proc.stdout


# ------------------------------------------------------------------------------ details

def test_on_off_keys_are_names_not_booleans():
    """YAML 1.1 reads a bare `on`/`off` as true/false; as keys they must stay 'on'/'off'."""
    sf = read(DATA / "multi.yaml")
    arrivals = sf.spec.workload.sources["bursts"].arrivals
    assert (arrivals.on, arrivals.off) == (2.0, 3.0)


def test_merge_keys_written_here_win(tmp_path):
    """`<<: *base` then an explicit key: the explicit key wins, it is no duplicate."""
    text = (DATA / "valid.yaml").read_text().replace(
        "nodes:\n  server:\n    count: 1\n    executors: 4",
        "x-defaults: &d {count: 1, executors: 4, queue: lifo}\n"
        "nodes:\n  server:\n    <<: [*d, {max_batch: 2}]\n    executors: 2")
    text = text.replace("name: mini", "name: merged")
    f = tmp_path / "merged.yaml"
    f.write_text(text)
    with pytest.raises(ScenarioError) as info:   # the x-defaults key itself is unknown
        read(f)
    assert str(info.value).startswith(f"{f}:7: x-defaults: unknown key 'x-defaults'")
    f.write_text(text.replace("x-defaults: &d {count: 1, executors: 4, queue: lifo}\n", "")
                 .replace("<<: [*d, {max_batch: 2}]",
                          "<<: [{count: 1, executors: 4, queue: lifo}, {max_batch: 2}]"))
    node = read(f).spec.nodes["server"]
    assert (node.count, node.executors, node.queue, node.max_batch) == (1, 2, "lifo", 2)


def test_not_a_text_file(tmp_path):
    f = tmp_path / "binary.yaml"
    f.write_bytes(b"name: x\n\xff\xfe\x00")
    result = CliRunner().invoke(main, ["check", str(f)])
    assert result.exit_code == 2
    assert result.stderr == f"{f}: <top level>: not a text file (not UTF-8: byte 8 is b'\\xff')\n"


def test_value_shown_beside_a_bound():
    """A number in the message (the bound) must not hide the bad value."""
    p = Problem("x.rate", "must be > 0.0", value=0, has_value=True, file="f.yaml", line=3)
    assert p.render() == "f.yaml:3: x.rate: 0: must be > 0.0"
    q = Problem("x.rate", "-5 is not a duration: must be >= 0", value=-5, has_value=True,
                file="f.yaml")
    assert q.render() == "f.yaml: x.rate: -5 is not a duration: must be >= 0"
    r = Problem("job", "unknown job", value="tsak", valid=["task"], has_value=True, file="f")
    assert r.render() == "f: job: 'tsak': unknown job (did you mean 'task'?); valid: task"


def test_dict_scenario_problems_name_the_source():
    with pytest.raises(ScenarioError) as info:
        read({"duration": "1s", "nodes": {"a": {}}, "workload": {}, "service": {}, "sed": 1})
    text = str(info.value)
    assert "<dict>: sed: unknown key 'sed' (did you mean 'seed'?)" in text
    assert all(p.file == "<dict>" and p.path for p in info.value.problems)
