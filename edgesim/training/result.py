"""A finished training run and its run directory: summary.json, schedule.parquet (one row per
piece of work), the system's own tables (its `frames`, e.g. windows.parquet of over-the-air
runs, rounds.parquet and participation.parquet of federated runs),
scenario.resolved.yaml and plots/."""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Callable, Optional, Union

import pandas as pd

from edgesim.metrics.atomic import write_parquet_atomic, write_text_atomic
from edgesim.result import Result, provenance


class TrainingResult:
    """What `edgesim.run` returns for a scenario with a `training:` section."""

    def __init__(self, sim, summary: dict) -> None:
        self._sim = sim
        self.summary = summary
        self.scenario = sim.file

    # The resolved scenario is written exactly as a request run writes it.
    resolved = Result.resolved
    write_resolved = Result.write_resolved

    @cached_property
    def schedule(self) -> pd.DataFrame:
        """One row per piece of work: worker, model, kind, resource, round, start, end, bytes."""
        return self._sim.system.log.frame()

    @cached_property
    def frames(self) -> dict[str, pd.DataFrame]:
        """The system's own tables by name (each written as <name>.parquet): over-the-air
        runs have `windows`, federated runs `rounds` and `participation`, CLUE runs
        `batches`, `transfers` and `drifts`, decentralized runs `rounds`, `nodes` and
        `links`."""
        return self._sim.system.frames()

    def __getattr__(self, name: str):
        # result.rounds, result.batches, ...: the learning system's tables as attributes.
        if not name.startswith("_"):
            frames = self.frames
            if name in frames:
                return frames[name]
            if name in ("rounds", "participation", "windows"):
                return None
        raise AttributeError(name)

    def save(self, directory: Union[str, Path], plots: bool = True,
             on_tables: Optional[Callable[[], None]] = None) -> Path:
        """Write the run directory; ``on_tables`` is called once the tables and the resolved
        scenario are on disk, before the plots (the CLI prints its summary there), as
        `Result.save` does."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        prov = provenance(self.summary)
        write_parquet_atomic(self.schedule, out / "schedule.parquet", prov)
        for name, frame in self.frames.items():
            write_parquet_atomic(frame, out / f"{name}.parquet", prov)
        self.write_resolved(out)
        if on_tables is not None:
            on_tables()
        if plots:
            from edgesim.training.gantt import write_training_plots
            write_training_plots(self.schedule, self.summary, out / "plots")
            self._sim.system.plots(out / "plots", self.summary)
        # The summary goes last: its presence marks a complete run directory.
        write_text_atomic(out / "summary.json", json.dumps(self.summary, indent=2) + "\n")
        return out

    def __repr__(self) -> str:
        s = self.summary
        return f"<TrainingResult {s['scenario']!r} system={s['system']} seed={s['seed']}>"
