"""The Python API: load a scenario, run it, get a Result."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from edgesim.engine.simulation import Simulation
from edgesim.result import Result
from edgesim.scenario.loader import ScenarioFile, read

ScenarioLike = Union[str, Path, Mapping[str, Any], ScenarioFile]


def load(source: ScenarioLike, overrides: Iterable[str] = ()) -> ScenarioFile:
    """Read and validate a scenario file (or dict); ``overrides`` are 'key.path=value' strings."""
    if isinstance(source, ScenarioFile):
        overrides = list(overrides)
        if not overrides:
            return source
        # Re-read from the file when there is one, so errors keep naming its lines.
        if source.file != "<dict>" and Path(source.file).exists():
            return read(source.file, overrides)
        return read(source.data, overrides, base_dir=source.base_dir)
    return read(source, overrides)


def load_named(ref: str, overrides: Iterable[str] = ()) -> ScenarioFile:
    """A scenario by file path or by bundled name (``distream/campus``), with overrides."""
    from edgesim.bundled import find_scenario
    return load(find_scenario(ref), overrides)


def simulation_class(sf: ScenarioFile) -> type:
    """The simulation that runs a scenario: the request engine, or the training one for a
    scenario with a `training:` section (imported only then)."""
    if sf.spec.training is not None:
        from edgesim.training.simulation import TrainingSimulation
        return TrainingSimulation
    return Simulation


def simulation(scenario: ScenarioLike, seed: Optional[int] = None) -> Simulation:
    """A built and checked Simulation, ready to run (for step-by-step use)."""
    sf = load(scenario)
    return simulation_class(sf)(sf, seed).build().check()


def run(scenario: ScenarioLike, seed: Optional[int] = None, progress=None) -> Result:
    """Simulate a scenario; ``seed`` overrides the scenario's own. A training scenario returns
    a :class:`edgesim.training.result.TrainingResult`."""
    sim = simulation(scenario, seed)
    sim.run(progress=progress)
    return sim.collect()
