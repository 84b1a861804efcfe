"""From a sweep file to the list of runs: configurations, replication seeds and run keys.

Every configuration is loaded and checked here, before anything runs, so a bad axis value is
reported at once with the sweep file's line (or the `--set`/`--vary` that introduced it) rather
than as a failed run hours later. Each run's key is a content hash of its resolved scenario
(every default filled in, the seed included: what `scenario.resolved.yaml` holds), so a run
that has already finished is found again however the sweep file is rearranged.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from edgesim.engine.rng import stream_key
from edgesim.engine.simulation import Simulation
from edgesim.errors import Problem, ScenarioError
from edgesim.result import _absolute_files
from edgesim.scenario.loader import ScenarioFile, read
from edgesim.scenario.overrides import parse_assignment
from edgesim.study.spec import Axis, SweepError, SweepFile


@dataclass
class ConfigError(SweepError):
    """Problems of one configuration; ``in_base[i]``: problem i is in the base scenario (it
    arises with this configuration's values but is not located at one of them)."""

    in_base: list = field(default_factory=list)


@dataclass(frozen=True)
class Setting:
    """One scenario override and where it was written: (sweep file, line) or ('--set ...', None)."""

    key: str
    value: Any
    where: tuple

    def text(self) -> str:
        # JSON is valid YAML flow syntax, so the override parser reads back the same value.
        return f"{self.key}={json.dumps(self.value)}"


@dataclass
class Config:
    """One point of the sweep: the axis values, and every override that makes it."""

    index: int
    params: dict
    settings: list


@dataclass(frozen=True)
class Task:
    """One run, as a worker needs it (plain strings: cheap to send to another process)."""

    key: str
    base: str
    overrides: tuple
    seed: int
    out: str
    plots: bool = False


@dataclass(frozen=True)
class RunRef:
    config: int
    replication: int
    seed: int
    key: str


@dataclass
class Plan:
    base: Path
    params: list
    configs: list
    replications: int
    seed: int
    runs: list
    tasks: dict                       # key -> Task; configurations may share runs
    warnings: list = field(default_factory=list)


def cli_settings(sets: Iterable[str], label: str = "--set") -> list[Setting]:
    """`key.path=value` strings from the command line as Settings."""
    out = []
    for text in sets:
        path, value = parse_assignment(text)
        out.append(Setting(".".join(map(str, path)), value, (f"{label} {text}", None)))
    return out


def replication_seed(seed: int, replication: int) -> int:
    """The seed of replication ``replication`` of a study seeded with ``seed``.

    Derived through numpy's SeedSequence (a hash of both numbers), so replications are
    independent streams and the same replication index gets the same seed in every
    configuration (common random numbers across configurations).
    """
    state = np.random.SeedSequence(int(seed), spawn_key=(int(replication),)).generate_state(
        2, np.uint32)
    return (int(state[0]) << 31 | int(state[1]) >> 1) & (2**63 - 1)


def _draw(gen: np.random.Generator, r: Axis) -> Any:
    if r.choices is not None:
        return r.choices[int(gen.integers(len(r.choices)))]
    if r.integer:
        return int(gen.integers(math.ceil(r.low), math.floor(r.high), endpoint=True))
    if r.log:
        return float(math.exp(gen.uniform(math.log(r.low), math.log(r.high))))
    return float(gen.uniform(r.low, r.high))


def configurations(sweep: SweepFile, extra: Sequence[Setting] = (),
                   seed: Optional[int] = None) -> list[Config]:
    """grid (cartesian) x zip (lockstep) x random (n draws), in that nesting order."""
    spec = sweep.spec
    fixed = [Setting(k, v, sweep.where("set", k)) for k, v in spec.set.items()]
    fixed += list(extra)
    axes: list[list[list[Setting]]] = []
    for key, values in spec.grid.items():
        axes.append([[Setting(key, v, sweep.where("grid", key, i))] for i, v in enumerate(values)])
    if spec.zip:
        n = len(next(iter(spec.zip.values())))
        axes.append([[Setting(k, vals[i], sweep.where("zip", k, i)) for k, vals in spec.zip.items()]
                     for i in range(n)])
    if spec.random is not None:
        rs = spec.random.seed if spec.random.seed is not None else seed
        gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            int(rs or 0), spawn_key=stream_key("study:random"))))
        draws = []
        for _ in range(spec.random.n):
            draws.append([Setting(k, _draw(gen, axis), sweep.where("random", "axes", k))
                          for k, axis in spec.random.axes.items()])
        axes.append(draws)
    out = []
    for i, combo in enumerate(itertools.product(*axes)):
        settings = [s for group in combo for s in group]
        out.append(Config(i, {s.key: s.value for s in settings}, fixed + settings))
    return out


def _relocate(exc: ScenarioError, settings: Sequence[Setting]) -> list[tuple[Problem, bool]]:
    """Point problems caused by an override at the line (or option) that wrote it.

    Returns (problem, located at an override); the others are in the base scenario and only
    arise with this configuration's values, which the caller names.
    """
    by_text = {s.text(): s for s in settings}
    out = []
    for p in exc.problems:
        setting = None
        if p.file and p.file.startswith("--set "):
            setting = by_text.get(p.file[len("--set "):])
        parts = p.path.split(".") if p.path else []
        if setting is None and parts:
            # A problem at an override's key or an ancestor of it (e.g. "unknown key 'nodez'"
            # for nodez.server.count): the override wrote that key.
            setting = next((s for s in settings if s.key.split(".")[:len(parts)] == parts), None)
        if setting is not None:
            p.file, p.line = setting.where
        out.append((p, setting is not None))
    return out


def prepare(base: Path, settings: Sequence[Setting], seed: int,
            warnings: Optional[list] = None) -> tuple[ScenarioFile, str]:
    """Load and check one configuration; return it with the key of its run under ``seed``.

    Raises ConfigError, whose problems are located at the overrides that caused them where
    they did.
    """
    try:
        sf = read(base, [s.text() for s in settings])
        sim = Simulation(sf, seed).build().check()
    except ScenarioError as exc:
        found = _relocate(exc, settings)
        raise ConfigError([p for p, _ in found], [not at for _, at in found]) from None
    if warnings is not None:
        warnings.extend(w for w in sim.warnings if w not in warnings)
    return sf, run_key(sf, seed)


def _collect(problems: dict, exc: "ConfigError", params: dict) -> None:
    """Gather problems across configurations, once each; a problem of the base scenario that
    only some configurations trigger names the first of them and counts the others."""
    for p, in_base in zip(exc.problems, exc.in_base):
        key = p.render()
        if key in problems:
            problems[key][1] += 1
        else:
            problems[key] = [p, 0, params if in_base else None]


def _problems(collected: dict) -> list[Problem]:
    out = []
    for p, more, params in collected.values():
        if params:
            p.message += " (with " + ", ".join(f"{k}={v!r}" for k, v in params.items()) + (
                f", and {more} more configuration(s))" if more else ")")
        out.append(p)
    return out


def run_key(sf: ScenarioFile, seed: int) -> str:
    """A content hash of the resolved scenario and the seed (16 hex digits)."""
    data = sf.spec.model_dump(mode="json", by_alias=True)
    data["seed"] = int(seed)
    text = json.dumps(_absolute_files(data, sf), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def base_scenario(sweep: SweepFile) -> Path:
    path = sweep.base
    if not path.is_file():
        file, line = sweep.where("base")
        raise SweepError([Problem("base", f"no scenario file at {path}", value=sweep.spec.base,
                                     has_value=True, file=file, line=line)])
    return path


def study_seed(base: Path, seed: Optional[int]) -> int:
    """The seed given, or else the base scenario's own."""
    return int(seed) if seed is not None else int(read(base).spec.seed)


def make_plan(sweep: SweepFile, out: Path, sets: Sequence[Setting] = (),
              replications: Optional[int] = None, seed: Optional[int] = None,
              plots: bool = False) -> Plan:
    """Every run of the sweep, each configuration checked; raises ScenarioError listing all."""
    base = base_scenario(sweep)
    seed = study_seed(base, seed if seed is not None else sweep.spec.seed)
    reps = replications or sweep.spec.replications
    configs = configurations(sweep, sets, seed)
    seeds = [replication_seed(seed, r) for r in range(reps)]
    problems: dict = {}
    warnings: list = []
    runs, tasks = [], {}
    runs_dir = Path(out) / "runs"
    for cfg in configs:
        try:
            sf, _ = prepare(base, cfg.settings, seeds[0], warnings)
        except ConfigError as exc:
            _collect(problems, exc, cfg.params)
            continue
        overrides = tuple(x.text() for x in cfg.settings)
        for r, s in enumerate(seeds):
            key = run_key(sf, s)
            runs.append(RunRef(cfg.index, r, s, key))
            tasks.setdefault(key, Task(key, str(base.resolve()), overrides, s,
                                       str(runs_dir / key), plots))
    if problems:
        raise SweepError(_problems(problems))
    return Plan(base, sweep.spec.axes(), configs, reps, seed, runs, tasks, warnings)
