"""Property tests: a mutated scenario is either valid (and then a short run works) or rejected
with `edgesim.ScenarioError` whose every problem names a key path or a file; never any other
exception, never a raw pydantic message.

Mutations start from valid scenarios (the bundled M/M/c and a multi-node pipeline with links,
a switch and several sources) and delete keys, misspell keys, replace values with scalars,
lists, mappings, unit strings, negative and huge numbers, insert unknown keys, switch union
tags ('process', 'dist', policy names, ...) and add bad `--set` overrides. Some examples go
through a YAML file so that line numbers and the YAML loader are exercised as well.
"""
from __future__ import annotations

import copy
import math
import os
import signal
import string
import tempfile
import typing
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import edgesim
from edgesim.engine.simulation import Simulation
from edgesim.errors import ScenarioError
from edgesim.hardware.catalogue import CATALOGUE
from edgesim.policies.registry import available
from edgesim.scenario.loader import read
from edgesim.scenario.schema import Arrivals, ServiceSpec
from edgesim.scenario.yamlpos import load_yaml

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
BASE_FILES = {"mmc": REPO / "scenarios" / "queueing" / "mmc.yaml", "multi": DATA / "multi.yaml"}
BASES = {name: load_yaml(path)[0] for name, path in BASE_FILES.items()}

# No tiny positive durations or rates in the pools: a valid 1 ns sampling interval or report
# period is legal but makes even a 0.5 s run take ~1e9 events.
UNIT_STRINGS = ["10 Mbs", "10Mb", "10Mbps", "1Gbps", "5ms", "-3s", "1e400s", "30fps", "50%",
                "0s", "1 parsec", "abc", "", "1/s", "2 min", "8MB", "10 m", "inf", "nan",
                "3.6/s", "100 MiB/s", "1,5 s", "12 kB", "-1/s", "1e-3s"]
NUMBERS = [0, 1, 2, 3, -1, -5, 0.5, -0.5, 0.001, 10**30, 2**63, 2**64, 1e300, -1e300,
           float("inf"), float("-inf"), float("nan")]
NAMES = ["server", "cam", "cam0", "edge", "cloud", "sw", "task", "detect", "classify", "work",
         "yolo", "resnet", "cpu", "v100", "edge-box", "*"]
KEYS = ["seeed", "executers", "rate", "count", "on", "off", "3", "", "process", "dist",
        "x.y", "limit", "bytes", "node", "stages", "params", "name", "true"]


def _tags(union, key: str) -> list[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return [a for m in members for a in typing.get_args(m.model_fields[key].annotation)]


PROCESSES = _tags(Arrivals, "process")
DISTS = _tags(ServiceSpec, "dist")
CHOICES = {
    "process": PROCESSES,
    "dist": DISTS,
    "queue": ["fifo", "lifo", "priority"],
    "role": ["camera", "edge", "cloud", "server"],
    "device": sorted(CATALOGUE) + ["edge-box"],
    "periods": ["exponential", "deterministic"],
    "format": ["times", "counts"],
    "name": sorted(available()) + ["mmc", "x"],
}

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
               max_size=6)
scalars = st.one_of(
    st.sampled_from([None, True, False]),
    st.sampled_from(NUMBERS),
    st.integers(-3, 5),
    st.sampled_from(UNIT_STRINGS),
    st.sampled_from(NAMES),
    text,
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), text), scalars, max_size=3),
)


def _walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in list(node.items()):
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, path + (i,))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _typo(draw, word: str) -> str:
    word = str(word)
    i = draw(st.integers(0, max(len(word) - 1, 0)))
    op = draw(st.sampled_from(["drop", "swap", "double", "case", "insert"]))
    letter = draw(st.sampled_from(string.ascii_lowercase))
    if not word:
        return letter
    if op == "drop" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if op == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    if op == "case":
        return word[:i] + word[i].swapcase() + word[i + 1:]
    return word[:i] + letter + word[i:]


def mutate(doc: dict, overrides: list, draw) -> None:
    """Apply one random mutation to ``doc`` in place (or add one override)."""
    paths = [p for p, _ in _walk(doc)]
    inner = [p for p in paths if p]
    kind = draw(st.sampled_from(["delete", "rename", "replace", "replace", "insert", "tag",
                                 "override"]))
    if kind == "override":
        target = draw(st.sampled_from(inner))
        keys = [str(k) for k in target]
        if draw(st.booleans()):
            keys[-1] = _typo(draw, keys[-1])
        value = draw(values)
        raw = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        if raw.endswith("..."):
            raw = raw[:-3].strip()
        overrides.append(".".join(keys) + "=" + raw)
        return
    if kind == "tag":
        tagged = [p for p in inner if isinstance(p[-1], str) and p[-1] in CHOICES
                  and not isinstance(_get(doc, p), (dict, list))]
        if tagged:
            path = draw(st.sampled_from(tagged))
            choices = CHOICES[path[-1]]
            new = draw(st.sampled_from(choices))
            if draw(st.integers(0, 3)) == 0:
                new = _typo(draw, new)
            _get(doc, path[:-1])[path[-1]] = new
            return
        kind = "replace"
    if kind == "insert":
        containers = [p for p in paths if isinstance(_get(doc, p), dict)]
        path = draw(st.sampled_from(containers))
        key = draw(st.one_of(st.sampled_from(KEYS), text))
        _get(doc, path)[key] = draw(values)
        return
    path = draw(st.sampled_from(inner))
    parent = _get(doc, path[:-1])
    last = path[-1]
    if kind == "delete":
        del parent[last]
    elif kind == "rename" and isinstance(parent, dict):
        new = _typo(draw, last)
        parent[new] = parent.pop(last)
    else:
        parent[last] = draw(values)


class RunTimedOut(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    """Fail (rather than hang) if a short run never finishes; SIGALRM exists on POSIX only."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def _raise(signum, frame):
        raise RunTimedOut(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def assert_good_error(exc: ScenarioError) -> None:
    assert exc.problems, "a ScenarioError without problems"
    for p in exc.problems:
        assert p.path or p.file, p
        rendered = p.render()
        assert rendered.strip()
        assert "errors.pydantic.dev" not in rendered and "Traceback" not in rendered, rendered
        assert "For further information" not in rendered, rendered
    assert str(exc)


def nan_paths(value, path: str = "") -> list[str]:
    """Where a result holds a NaN or an infinity: a silently wrong number (issue #28)."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path or "."]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nan_paths(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in nan_paths(v, f"{path}.{i}")]
    return []


def short_run(sf) -> None:
    """Run a checked scenario briefly: 0.5 s, no warm-up, at most 100 requests per source."""
    data = copy.deepcopy(sf.data)
    data["duration"] = "0.5s"
    data["warmup"] = 0
    for source in data["workload"]["sources"].values():
        source["limit"] = 100
    short = read(data, base_dir=sf.base_dir)
    with time_limit(20):
        result = Simulation(short).build().check().run().collect()
    assert result.summary["sim_time_s"] <= 0.5
    assert not nan_paths(result.summary), nan_paths(result.summary)
    done = result.requests[result.requests.outcome == "completed"]
    assert not done.latency.isna().any(), "a completed request with a NaN latency"
    # The resolved scenario (defaults filled in) is itself a valid scenario.
    Simulation(read(result.resolved(), base_dir=sf.base_dir)).build().check()


def load_build_check(doc: dict, overrides: list, via_file: bool):
    if via_file:
        fd, name = tempfile.mkstemp(suffix=".yaml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                yaml.safe_dump(doc, fh, sort_keys=False, allow_unicode=True)
            sf = edgesim.load(name, overrides)
        finally:
            os.unlink(name)
    else:
        sf = edgesim.load(doc, overrides)
    Simulation(sf).build().check()
    return sf


# Derandomized, so the suite is reproducible; EDGESIM_FUZZ_EXAMPLES=5000 EDGESIM_FUZZ_RANDOM=1
# explores further (new examples on every run).
EXAMPLES = int(os.environ.get("EDGESIM_FUZZ_EXAMPLES", "400"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize=not os.environ.get("EDGESIM_FUZZ_RANDOM"), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_bases_are_valid_and_run():
    for doc in BASES.values():
        short_run(load_build_check(copy.deepcopy(doc), [], via_file=False))


@pytest.mark.parametrize("base", sorted(BASES))
@FUZZ
@given(data=st.data())
def test_mutated_scenarios(base, data):
    doc = copy.deepcopy(BASES[base])
    overrides: list[str] = []
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        mutate(doc, overrides, data.draw)
    via_file = data.draw(st.booleans(), label="via_file")
    try:
        sf = load_build_check(doc, overrides, via_file)
    except ScenarioError as exc:
        event("rejected")
        assert_good_error(exc)
        return
    event("valid: ran")
    short_run(sf)


@FUZZ
@given(data=st.data())
def test_tag_switches(data):
    """Every union tag on every tagged value of the multi-node scenario, one at a time."""
    doc = copy.deepcopy(BASES["multi"])
    tagged = [p for p, v in _walk(doc) if p and isinstance(p[-1], str) and p[-1] in CHOICES
              and not isinstance(v, (dict, list))]
    path = data.draw(st.sampled_from(tagged))
    _get(doc, path[:-1])[path[-1]] = data.draw(st.sampled_from(CHOICES[path[-1]]))
    try:
        sf = load_build_check(doc, [], via_file=False)
    except ScenarioError as exc:
        event("rejected")
        assert_good_error(exc)
        return
    event("valid: ran")
    short_run(sf)


PLAUSIBLE = st.sampled_from([1, 2, 3, 0.5, 0.001, 100, 1000, "5ms", "2s", "1 min", "30fps",
                             "3.6/s", "10Mbps", "1Gbps", "8MB", "1kB", "50%", 0])


@FUZZ
@given(data=st.data(), base=st.sampled_from(sorted(BASES)))
def test_value_tweaks(data, base):
    """Scalars replaced by plausible numbers and quantities: more of these are valid, so the
    engine runs with unusual but legal parameters (large batches, fast links, tiny times)."""
    doc = copy.deepcopy(BASES[base])
    leaves = [p for p, v in _walk(doc) if p and isinstance(v, (int, float, str))
              and not isinstance(v, bool) and p[-1] not in CHOICES]
    for _ in range(data.draw(st.integers(1, 3), label="tweaks")):
        path = data.draw(st.sampled_from(leaves))
        _get(doc, path[:-1])[path[-1]] = data.draw(PLAUSIBLE)
    try:
        sf = load_build_check(doc, [], via_file=False)
    except ScenarioError as exc:
        event("rejected")
        assert_good_error(exc)
        return
    event("valid: ran")
    short_run(sf)


@settings(max_examples=max(EXAMPLES // 4, 20), deadline=None, database=None,
          derandomize=not os.environ.get("EDGESIM_FUZZ_RANDOM"))
@given(text=st.text(alphabet=":-[]{}#&*!|>'\"%@`, \n\tabc01.", max_size=60))
def test_arbitrary_yaml_text(text):
    """Garbage text as a scenario file: a ScenarioError naming the file, never a crash."""
    fd, name = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        with pytest.raises(ScenarioError) as info:
            Simulation(edgesim.load(name)).build().check()
    finally:
        os.unlink(name)
    assert_good_error(info.value)
    assert all(p.file for p in info.value.problems)
