"""The sweep file format: a base scenario, axes over its key paths, replications.

A sweep file is YAML, validated like a scenario (pydantic models that reject unknown keys, every
problem reported with the sweep file's line and key path)::

    base: ../queueing/mmc.yaml          # the scenario, relative to this file
    replications: 3                     # independent seeds per configuration
    set: {duration: 3000s}              # fixed overrides for every run
    grid:                               # cartesian product
      nodes.server.executors: [4, 5]
    zip:                                # lists stepped through together
      workload.sources.arrivals.arrivals.rate: [3.0, 3.5]
      metrics.slo: [1s, 2s]
    random:                             # n seeded samples
      n: 4
      axes:
        service.work.cpu.mean: {low: 0.5, high: 1.0}
        policy.name: [least-loaded, random]
    metrics: [wait_s.mean, latency_s.p99]

Whether each key path exists in the scenario, and whether each value is valid there, is checked
later (:mod:`edgesim.study.plan`) by loading the scenario with the values applied.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from pydantic import Field, ValidationError, field_validator, model_validator

from edgesim.errors import Problem, ScenarioError
from edgesim.scenario.messages import problems_from
from edgesim.scenario.schema import Strict
from edgesim.scenario.yamlpos import load_yaml

#: Scenario keys a sweep may not vary: the run seed comes from `seed` and `replications`.
RESERVED = ("seed",)


def _check_key(key: str) -> str:
    parts = key.split(".")
    if not key or any(not p.strip() for p in parts):
        raise ValueError(f"{key!r} is not a key path (dot-separated keys, e.g. nodes.cam.count)")
    if key in RESERVED:
        raise ValueError("the run seed is not an axis: set the sweep's `seed` and `replications`")
    return key


def _check_values(values: list) -> list:
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{v!r} is not a finite number")
    return values


class Axis(Strict):
    """A random axis: a numeric range (uniform, log-uniform or whole numbers, both ends
    included) or a list of choices (written as a bare list in the file)."""

    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = Field(False, description="sample log-uniformly (low > 0)")
    integer: bool = Field(False, description="sample whole numbers in [low, high]")
    choices: Optional[list] = Field(None, description="pick one of these instead")

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, data: Any) -> Any:
        return {"choices": data} if isinstance(data, list) else data

    @model_validator(mode="after")
    def _shape(self) -> "Axis":
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices or low and high, not both")
            if not self.choices:
                raise ValueError("a list of choices must not be empty")
            _check_values(self.choices)
            return self
        if self.low is None or self.high is None:
            raise ValueError("needs low and high (a range) or a list of choices")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.high < self.low:
            raise ValueError(f"high ({self.high:g}) must be >= low ({self.low:g})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.integer and math.ceil(self.low) > math.floor(self.high):
            raise ValueError(f"no whole number lies in [{self.low:g}, {self.high:g}]")
        return self


class RandomSpec(Strict):
    """`n` configurations, each axis drawn independently (seeded)."""

    n: int = Field(ge=1, le=100_000, description="how many configurations to draw")
    seed: Optional[int] = Field(None, ge=0, lt=2**63, description="default: the sweep's seed")
    axes: dict[str, Axis] = Field(min_length=1, description="key path -> {low, high, log, "
                                                            "integer} or a list of choices")

    @field_validator("axes")
    @classmethod
    def _axes(cls, v: dict) -> dict:
        for key in v:
            _check_key(key)
        return v


class SweepSpec(Strict):
    """A sweep file."""

    name: Optional[str] = Field(None, description="default: the sweep file's name")
    description: str = ""
    base: str = Field(description="scenario file, relative to the sweep file")
    seed: Optional[int] = Field(None, ge=0, lt=2**63,
                                description="seeds every replication; default: the base's seed")
    replications: int = Field(1, ge=1, le=100_000)
    set: dict[str, Any] = Field(default_factory=dict, description="fixed overrides for every run")
    grid: dict[str, list] = Field(default_factory=dict, description="key path -> values; "
                                                                     "the cartesian product")
    zip: dict[str, list] = Field(default_factory=dict, description="key path -> values, stepped "
                                                                    "through together")
    random: Optional[RandomSpec] = None
    metrics: Optional[list[str]] = Field(None, min_length=1, description="summary metrics for "
                                         "summary.parquet (dotted, e.g. latency_s.p99); "
                                         "default: all")
    confidence: float = Field(0.95, gt=0, lt=1, description="confidence level of the intervals")

    @field_validator("set", "grid", "zip")
    @classmethod
    def _keys(cls, v: dict) -> dict:
        for key, values in v.items():
            _check_key(key)
            if isinstance(values, list) and not values:
                raise ValueError(f"{key}: needs at least one value")
        return v

    @field_validator("grid", "zip")
    @classmethod
    def _finite(cls, v: dict) -> dict:
        for values in v.values():
            _check_values(values)
        return v

    @field_validator("zip")
    @classmethod
    def _same_length(cls, v: dict) -> dict:
        lengths = {k: len(vals) for k, vals in v.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError("zip lists must have the same length, got " +
                             ", ".join(f"{k}: {n}" for k, n in lengths.items()))
        return v

    @model_validator(mode="after")
    def _distinct_axes(self) -> "SweepSpec":
        seen: dict[str, str] = {}
        sections = [("set", self.set), ("grid", self.grid), ("zip", self.zip),
                    ("random.axes", self.random.axes if self.random else {})]
        for section, keys in sections:
            for key in keys:
                if key in seen:
                    raise ValueError(f"{key} is given in both {seen[key]} and {section}")
                seen[key] = section
        return self

    def axes(self) -> list[str]:
        """The key paths that vary, in the order their columns appear in the tables."""
        return list(self.grid) + list(self.zip) + list(self.random.axes if self.random else [])


class SweepError(ScenarioError):
    """A sweep file (or an axis value it applies to the scenario) is invalid."""

    def render(self) -> str:
        lines = [p.render() for p in self.problems]
        if len(lines) > 1:
            lines.insert(0, f"{len(lines)} problems in sweep:")
        return "\n".join(lines)


class SweepFile:
    """A validated sweep file and the lines of its keys, for locating later problems."""

    def __init__(self, spec: SweepSpec, file: str, base_dir: Path,
                 lines: Mapping[tuple, int]) -> None:
        self.spec, self.file, self.base_dir = spec, file, base_dir
        self.lines = dict(lines)

    @property
    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        return Path(self.file).stem if self.file != "<dict>" else "sweep"

    @property
    def base(self) -> Path:
        p = Path(self.spec.base).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def where(self, *path: Any) -> tuple[str, Optional[int]]:
        """(file, line) of a key of the sweep file, or of its closest enclosing key."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return self.file, line
        return self.file, None


def locate(problems: list[Problem], file: str, lines: Mapping[tuple, int]) -> list[Problem]:
    """Give each problem the line of the longest key path that starts its own.

    A sweep's own keys contain dots (`grid: {nodes.cam.count: ...}`), so a problem's dotted
    path is matched against the dotted forms of the recorded key paths, not split on dots.
    """
    dotted = {".".join(map(str, k)): v for k, v in lines.items()}
    for p in problems:
        p.file = p.file or file
        path = p.path
        while p.line is None:
            if path in dotted:
                p.line = dotted[path]
            elif "." in path:
                path = path.rsplit(".", 1)[0]
            else:
                p.line = dotted.get("") if "" in dotted else None
                break
    return problems


def read_sweep(source: Union[str, Path, Mapping[str, Any]],
               base_dir: Union[str, Path, None] = None) -> SweepFile:
    """Parse and validate a sweep file (or a dict: `base` relative to ``base_dir`` or cwd)."""
    if isinstance(source, Mapping):
        data, lines, file = dict(source), {}, "<dict>"
        folder = Path(base_dir) if base_dir else Path.cwd()
    else:
        path = Path(source)
        if not path.is_file():
            raise SweepError([Problem("", "sweep file not found", file=str(path))])
        data, lines = load_yaml(path)
        file, folder = str(path), path.resolve().parent
    if not isinstance(data, dict):
        raise SweepError([Problem("", "a sweep file must be a mapping of keys to values, "
                                     f"got {type(data).__name__}", file=file, line=1)])
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SweepError(locate(problems_from(exc, SweepSpec, data), file, lines)) from None
    return SweepFile(spec, file, folder, lines)

