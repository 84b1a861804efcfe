"""Load a scenario from a YAML file or a dict, apply overrides, validate, and locate errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

from pydantic import ValidationError

from edgesim.errors import Problem, ScenarioError
from edgesim.scenario.messages import problems_from
from edgesim.scenario.overrides import apply_overrides
from edgesim.scenario.extends import resolve_extends
from edgesim.scenario.schema import Scenario
from edgesim.scenario.yamlpos import load_yaml


@dataclass
class ScenarioFile:
    """A validated scenario and where it came from, so later checks can still name file:line."""

    spec: Scenario
    data: dict
    file: str
    base_dir: Path
    lines: dict[tuple, int] = field(default_factory=dict)
    #: Where keys that are not in this file came from: '--set ...' for overrides, or
    #: (file, line) for keys inherited through `extends`.
    origins: dict[tuple, object] = field(default_factory=dict)

    def locate(self, problem: Problem) -> Problem:
        """Fill in the file and line of a problem from its key path."""
        if problem.file is None:
            # Compare paths as strings: a list index and a key spelt with digits ('3') both
            # render as "3" in a problem's path.
            parts = tuple(problem.path.split(".")) if problem.path else ()
            origins = {tuple(map(str, k)): v for k, v in self.origins.items()}
            lines = {tuple(map(str, k)): v for k, v in self.lines.items()}
            for n in range(len(parts), -1, -1):
                origin = origins.get(parts[:n])
                if isinstance(origin, tuple):
                    problem.file, problem.line = origin
                    break
                if origin is not None:
                    problem.file = origin
                    break
                if parts[:n] in lines:
                    problem.file, problem.line = self.file, lines[parts[:n]]
                    break
            else:
                problem.file = self.file
        return problem

    def error(self, problems: Iterable[Problem]) -> ScenarioError:
        return ScenarioError([self.locate(p) for p in problems])

    def path(self, relative: str) -> Path:
        """A file named in the scenario, relative to the scenario file's folder."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def read(source: Union[str, Path, Mapping[str, Any]], overrides: Iterable[str] = (),
         base_dir: Union[str, Path, None] = None) -> ScenarioFile:
    """Parse and validate; raise ScenarioError listing every problem found."""
    if isinstance(source, Mapping):
        data, lines, file = dict(source), {}, "<dict>"
        base = Path(base_dir) if base_dir else Path.cwd()
    else:
        path = Path(source)
        if not path.exists():
            raise ScenarioError([Problem("", "scenario file not found", file=str(path))])
        data, lines = load_yaml(path)
        file, base = str(path), path.resolve().parent
    if not isinstance(data, dict):
        raise ScenarioError([Problem("", "a scenario must be a mapping of keys to values, got "
                                     f"{type(data).__name__}", file=file, line=1)])
    if {"base", "grid"} <= set(data) and not {"nodes", "training"} & set(data):
        # Eight schema errors about missing keys once answered this; one line says what it is.
        raise ScenarioError([Problem("", "this is a sweep file (it has 'base' and 'grid'), not "
                                     f"a scenario: run it with `edgesim sweep {file}`",
                                     file=file, line=1)])
    inherited: dict = {}
    if "extends" in data:
        here = Path(file) if file != "<dict>" else base / "<dict>"
        data, lines, inherited = resolve_extends(data, lines, here)
    data, origins = apply_overrides(data, overrides)
    origins = {**inherited, **origins}
    shell = ScenarioFile(spec=None, data=data, file=file, base_dir=base, lines=lines,  # type: ignore
                         origins=origins)
    try:
        shell.spec = Scenario.model_validate(data)
    except ValidationError as exc:
        raise shell.error(problems_from(exc, Scenario, data)) from None
    return shell
