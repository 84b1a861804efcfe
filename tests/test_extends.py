"""`extends:` - a scenario built from another by changing a few keys."""
from __future__ import annotations

import os

import pytest

import edgesim

QUICKSTART = "scenarios/quickstart.yaml"


def test_child_overrides_merge_into_the_base(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {os.path.abspath(QUICKSTART)}\n"
                     "name: twelve\nnodes:\n  cam: {count: 12}\n"
                     "links:\n  camera-uplink: {bandwidth: 50Mbps}\n")
    sf = edgesim.load(child)
    base = edgesim.load(QUICKSTART)
    assert sf.spec.name == "twelve" and sf.spec.nodes["cam"].count == 12
    assert sf.spec.nodes["cam"].device == base.spec.nodes["cam"].device      # inherited
    assert sf.spec.links["camera-uplink"].bandwidth == 50e6
    assert sf.spec.links["camera-uplink"].latency == base.spec.links["camera-uplink"].latency
    assert sf.spec.workload == base.spec.workload


def test_inherited_file_references_stay_relative_to_the_base(tmp_path):
    child = tmp_path / "deep" / "child.yaml"
    child.parent.mkdir()
    base = os.path.abspath("scenarios/network/wifi-trace.yaml")
    child.write_text(f"extends: {base}\nduration: 20s\n")
    assert edgesim.run(child).summary["requests"]["completed"] > 0


def test_errors_in_inherited_keys_name_the_base_file_and_line(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(open(QUICKSTART).read().replace("policy:\n  name: static",
                                                    "policy:\n  name: statik"))
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nseed: 3\n")
    with pytest.raises(edgesim.ScenarioError) as err:
        edgesim.load(child).spec and edgesim.simulation(child)
    text = str(err.value)
    line = next(i for i, l in enumerate(base.read_text().splitlines(), 1) if "statik" in l)
    assert f"{base}:{line}: policy.name: 'statik': unknown policy" in text


@pytest.mark.parametrize("body,message", [
    ("extends: nowhere.yaml\n", "no scenario file at"),
    ("extends: self.yaml\n", "in a circle"),
    ("extends: [a, b]\n", "must be the path of another scenario file"),
])
def test_bad_extends(tmp_path, body, message):
    f = tmp_path / "self.yaml"
    f.write_text(body)
    with pytest.raises(edgesim.ScenarioError, match=message):
        edgesim.load(f)
