"""Training scenarios end to end: every bundled one runs and writes its run directory, the CLI
runs and checks them, and mistakes in a `training:` section are located problems."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import edgesim
from edgesim.bundled import scenarios
from edgesim.cli.app import main

TRAINING = sorted(n for n, (p, _d) in scenarios().items()
                  if edgesim.load(p).spec.training is not None)


def absent_shared_data(data) -> list[str]:
    """The `shared:` paths a scenario names that are not there (the shared real data beside
    the project is never bundled: such a scenario skips without it)."""
    from edgesim.learning.datasets.paths import SHARED_PREFIX, resolve
    if isinstance(data, dict):
        return [a for v in data.values() for a in absent_shared_data(v)]
    if isinstance(data, list):
        return [a for v in data for a in absent_shared_data(v)]
    if isinstance(data, str) and data.startswith(SHARED_PREFIX):
        where = resolve(data, Path)
        return [] if where.exists() else [str(where)]
    return []


#: Scenarios whose full run costs minutes on 2 cores are run shorter here (their guides give
#: the full runs' figures); each override keeps every mechanism of the scenario running.
SHORTER = {
    "mercury/femnist": ["training.mercury.iterations=60"],    # ~4 min in full (importance of
                                                               # every shard every iteration)
    # 2.5-5 min each in full (each also runs the FedAvg reference its recovery is measured
    # against); 45 batches still hold the first drifts and their recoveries.
    "clue/femnist": ["training.clue.workload.batches=45"],
    "clue/femnist-isolated": ["training.clue.workload.batches=45"],
    "clue/femnist-federated": ["training.clue.workload.batches=45"],
    # ~16 min in full on 2 shared cores (five models pre-trained on CIFAR images)
    "deepcon/dmml-learning-cifar10": ["training.deepcon.rounds=1",
                                      "training.deepcon.learning.pretrain_epochs=2"],
    # 1.5-7 min each in full (15 rounds of a CNN on CIFAR images plus the dense baseline)
    "decentralized/cifar-ring": ["training.decentralized.rounds=4"],
    "decentralized/cifar-mesh": ["training.decentralized.rounds=4"],
}


def test_the_training_scenarios_are_bundled():
    assert {"deepcon/dmml-par", "deepcon/ota", "mercury/bacc", "fedace/fedavg",
            "fedace/fedace"} <= set(TRAINING)


@pytest.mark.parametrize("name", TRAINING)
def test_bundled_training_scenario_runs_to_completion(name, tmp_path):
    path, description = scenarios()[name]
    assert description
    absent = absent_shared_data(edgesim.load(path).data)
    if absent:
        pytest.skip(f"{name} reads shared data that is absent: {absent[0]} (set "
                    "$EDGESIM_SHARED to the shared folder)")
    r = edgesim.run(edgesim.load(path, SHORTER.get(name, [])))
    s = r.summary
    if "ota" in s:
        assert s["ota"]["windows"] > 0 and s["ota"]["updates"]
    elif s["system"] == "deepcon":
        assert s["stopped_by"] == "done" and s["deepcon"]["complete"]
    elif s["system"] == "federated":
        fed = s["federated"]
        assert s["stopped_by"] == "done" and fed["complete"]
        # Ten classes: chance is 10 %; every bundled federated run learns well past it.
        assert fed["final_accuracy"] > 0.5
    elif s["system"] == "clue":
        clue = s["clue"]
        assert s["stopped_by"] == "done"
        assert clue["batches_served"] == clue["nodes"] * clue["batches_per_node"]
        # Every node learns its classes (chance on 5-7 classes is over 80 % error; FedAvg on
        # real FEMNIST handwriting ends near 30 %) and the byte counters are the closed form
        # of Eq. 3a / 3b.
        assert clue["mean_error"] < 0.5
        assert clue["eq3"]["counted_bytes"] == clue["eq3"]["formula_bytes"]
    elif s["system"] == "decentralized":
        dec = s["decentralized"]
        assert s["stopped_by"] == "done" and dec["complete"]
        # The recomposed global model is well past chance (10 %; on the 4,829-image CIFAR-10
        # extract a small CNN reaches about 40 %); sub-models exchange bytes.
        floor = 0.25 if dec["dataset"]["name"].startswith("cifar") else 0.5
        assert dec["final_global_accuracy"] > floor
        assert (dec["bytes_total"] > 0) == (dec["mode"] == "decentralized")
    else:
        assert s["stopped_by"] == "done" and s["mercury"]["complete"]
    r.save(tmp_path)
    if s["system"] == "clue":
        batches = pd.read_parquet(tmp_path / "batches.parquet")
        assert len(batches) == s["clue"]["batches_served"]
        for f in ("transfers", "detections", "recovery"):
            assert (tmp_path / f"{f}.parquet").exists()
        assert (tmp_path / "plots" / "error.png").stat().st_size > 0
        assert (tmp_path / "plots" / "bytes.png").stat().st_size > 0
    if s["system"] == "federated":
        assert len(pd.read_parquet(tmp_path / "rounds.parquet")) == s["federated"]["rounds"]
        assert (tmp_path / "plots" / "accuracy.png").stat().st_size > 0
    if s["system"] == "decentralized":
        dec = s["decentralized"]
        assert len(pd.read_parquet(tmp_path / "rounds.parquet")) == dec["rounds"]
        assert len(pd.read_parquet(tmp_path / "nodes.parquet")) == dec["rounds"] * len(
            dec["nodes"])
        assert (tmp_path / "plots" / "accuracy.png").stat().st_size > 0
        assert (tmp_path / "plots" / "bytes_per_node.png").stat().st_size > 0
    assert json.loads((tmp_path / "summary.json").read_text())["scenario"] == s["scenario"]
    sched = pd.read_parquet(tmp_path / "schedule.parquet")
    assert {"worker", "model", "kind", "start", "end"} <= set(sched.columns)
    assert (sched.end >= sched.start).all()
    assert (tmp_path / "plots" / "gantt.png").stat().st_size > 0
    assert (tmp_path / "scenario.resolved.yaml").exists()


def test_cli_runs_and_checks_a_training_scenario(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["check", "deepcon/dmml-par"])
    assert res.exit_code == 0 and "training system deepcon, schedule dmml-par" in res.output
    res = runner.invoke(main, ["run", "deepcon/dmml-par", "--set", "training.deepcon.rounds=2",
                               "--set", "nodes.gpu.count=3", "-o", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "time to 2 rounds" in res.output
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["deepcon"]["workers"] == 3 and s["deepcon"]["rounds"] == 2
    assert len(s["deepcon"]["worker_utilisation"]) == 3


def _problems(data_or_path, overrides=()):
    with pytest.raises(edgesim.ScenarioError) as exc:
        edgesim.simulation(edgesim.load(data_or_path, overrides))
    return str(exc.value)


BASE = {"name": "x", "duration": 100,
        "nodes": {"server": {}, "gpu": {"count": 2}},
        "training": {"deepcon": {"rounds": 1, "server": "server", "workers": "gpu",
                                 "models": {"a": {"params": 1, "step": {"dist": "constant",
                                                                        "time": 1}},
                                            "b": {"params": 1, "step": {"dist": "constant",
                                                                        "time": 1}}}}}}


def _with(**changes):
    data = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        node = data
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return data


def test_a_scenario_without_training_still_needs_workload_and_service():
    data = {"name": "x", "duration": 1, "nodes": {"a": {}}}
    text = _problems(data)
    assert "workload: required key is missing (only a scenario with a 'training' section" in text
    assert "service: required key is missing" in text


def test_training_section_mistakes_are_located():
    assert "training.deepcon.workers: 'gpus': unknown node or group (did you mean 'gpu'?)" in \
        _problems(_with(training__deepcon__workers="gpus"))
    assert "training: give exactly one of 'deepcon', 'mercury', 'federated'" in \
        _problems(_with(training={}))
    assert "training.deepcon.schedul: unknown key 'schedul' (did you mean 'schedule'?)" in \
        _problems(_with(training__deepcon__schedul="dmml"))
    assert "training.deepcon.schedule: 'dmml-async': not a valid choice" in \
        _problems(_with(training__deepcon__schedule="dmml-async"))
    text = _problems(_with(training__deepcon__server="gpu"))
    assert "training.deepcon.server: 'gpu': must name one node, not a group of 2" in text
    assert "training.deepcon.workers: 'gpu': the server cannot also be a worker" in text
    one = {"a": BASE["training"]["deepcon"]["models"]["a"]}
    text = _problems(_with(training__deepcon__models=one))
    assert "training.deepcon.models: " in text and "must have at least 2 entries, not 1" in text
    wl = {"sources": {"s": {"arrivals": {"process": "poisson", "rate": 1}, "job": "j"}},
          "jobs": {"j": {"stages": [{"model": "m"}]}}}
    assert "workload: a training scenario serves no request workload yet" in \
        _problems(_with(workload=wl))


def test_unreachable_workers_are_reported_before_the_run():
    data = _with(links={"l": {"ends": ["gpu0", "server"], "bandwidth": "1Gbps"}})
    assert "training.deepcon.workers: no route from 'server0' to 'gpu1'" in _problems(data)


def test_training_scenario_errors_name_the_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("extends: {}\nname: bad\ntraining:\n  mercury:\n    devices: tx2\n".format(
        scenarios()["mercury/bacc"][0]))
    text = _problems(f)
    assert f"{f}:5: training.mercury.devices: 'tx2': unknown node or group" in text


# ------------------------------------------------------------------------ the guides

GUIDES = [Path(__file__).resolve().parents[1] / "docs" / "guides" / n
          for n in ("deepcon.md", "mercury.md", "fedace.md", "clue.md", "decentralized.md",
                    "datasets.md")]


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_guide_commands_parse_and_links_resolve(guide):
    """Every `edgesim` line of the guides names a real (sub)command with real options and a
    bundled scenario, and every link to another document resolves."""
    import click

    from tests.test_docs import _slug, blocks, edgesim_lines
    found = 0
    written: set = set()
    for lang, body, line in blocks(guide):
        if lang != "bash":
            continue
        for argv, _code, text in edgesim_lines(body):
            found += 1
            cmd, args = main, list(argv)
            while isinstance(cmd, click.Group):
                name, args = args[0], args[1:]
                assert name in cmd.commands, f"{guide.name}:{line}: {text}"
                cmd = cmd.commands[name]
            cmd.make_context(cmd.name, list(args))
            # The first argument is a bundled scenario, or a run directory an earlier line
            # of the guide wrote (`edgesim training compare runs/a runs/b`).
            if args[0] in written:
                continue
            assert edgesim.load(scenarios()[args[0]][0]) is not None, text
            if "-o" in args:
                written.add(args[args.index("-o") + 1])
    assert found >= 3
    text = guide.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
        assert (guide.parent / target).exists(), f"{guide.name}: broken link {target}"
    for target, anchor in re.findall(r"\]\(([^)#\s]*\.md)?#([^)]+)\)", text):
        other = (guide.parent / target).read_text(encoding="utf-8") if target else text
        heads = {_slug(h) for h in re.findall(r"^#+ (.+)$", other, re.M)}
        ids = set(re.findall(r'<a id="([^"]+)"></a>', other))
        assert anchor in heads | ids, f"{guide.name}: broken anchor {target}#{anchor}"
