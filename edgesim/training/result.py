"""A finished training run and its run directory: summary.json, schedule.parquet (one row per
piece of work), windows.parquet (over-the-air runs), a learning system's own tables (its
`frames`, e.g. rounds.parquet and participation.parquet of federated runs),
scenario.resolved.yaml and plots/."""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Callable, Optional, Union

import pandas as pd

from edgesim.metrics.atomic import write_parquet_atomic, write_text_atomic
from edgesim.result import Result


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
    def windows(self) -> Optional[pd.DataFrame]:
        """Over-the-air runs: one row per update window (items, sample, bytes, gap estimate)."""
        ota = getattr(self._sim.system, "ota", None)
        if ota is None:
            return None
        return pd.DataFrame([vars(w) for w in ota.windows],
                            columns=["index", "end", "items", "sampled", "sample_bytes",
                                     "full_bytes", "true_gap", "data_gap", "estimate",
                                     "triggered"])

    @cached_property
    def frames(self) -> dict[str, pd.DataFrame]:
        """A learning system's tables by name (each written as <name>.parquet): federated
        runs have `rounds` and `participation`, CLUE runs `batches`, `transfers` and `drifts`,
        decentralized runs `rounds`, `nodes` and `links`."""
        frames = getattr(self._sim.system, "frames", None)
        return frames() if frames is not None else {}

    def __getattr__(self, name: str):
        # result.rounds, result.batches, ...: the learning system's tables as attributes.
        if not name.startswith("_"):
            frames = self.frames
            if name in frames:
                return frames[name]
            if name in ("rounds", "participation"):
                return None
        raise AttributeError(name)

    def save(self, directory: Union[str, Path], plots: bool = True,
             on_tables: Optional[Callable[[], None]] = None) -> Path:
        """Write the run directory; ``on_tables`` is called once the tables and the resolved
        scenario are on disk, before the plots (the CLI prints its summary there), as
        `Result.save` does."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(self.schedule, out / "schedule.parquet")
        if self.windows is not None:
            write_parquet_atomic(self.windows, out / "windows.parquet")
        for name, frame in self.frames.items():
            write_parquet_atomic(frame, out / f"{name}.parquet")
        self.write_resolved(out)
        if on_tables is not None:
            on_tables()
        if plots:
            from edgesim.training.gantt import write_training_plots
            write_training_plots(self.schedule, self.windows, self.summary, out / "plots")
            own = getattr(self._sim.system, "plots", None)
            if own is not None:
                own(out / "plots", self.summary)
        # The summary goes last: its presence marks a complete run directory.
        write_text_atomic(out / "summary.json", json.dumps(self.summary, indent=2) + "\n")
        return out

    def __repr__(self) -> str:
        s = self.summary
        return f"<TrainingResult {s['scenario']!r} system={s['system']} seed={s['seed']}>"
