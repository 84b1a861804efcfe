"""What every training system provides to the training run (:mod:`.simulation`), the run
directory (:mod:`.result`), `edgesim run`'s table and `edgesim check`: one protocol, whatever
the system. A system's package registers its class in :mod:`edgesim.registry`; the training
run never names a system.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from edgesim.training.devices import ScheduleLog, Transfers


class TrainingSystem:
    """Base of a training system's runtime, built as ``cls(sim, spec)`` with ``spec`` its
    section of the scenario (problems recorded on ``sim``, never raised)."""

    name: str = ""
    #: Whether `failures:` may crash or slow down its members (it models lost work).
    models_failures: bool = False
    tx: Transfers            # bytes moved, by kind (summary.json's `bytes`)
    log: ScheduleLog         # one row per piece of work (schedule.parquet, the Gantt chart)

    def routes(self) -> list[tuple]:
        """(from device, to device, key path) for every pair that exchanges bytes: checked
        for a route before t = 0."""
        raise NotImplementedError

    def process(self) -> Iterator[Any]:
        """The SimPy process that runs the training; the run ends when it returns."""
        raise NotImplementedError

    def summary(self, sim) -> dict:
        """Its part of summary.json, under the key ``name``."""
        raise NotImplementedError

    def summary_sections(self, sim) -> dict:
        """Every section it adds to summary.json, by key (by default only ``name``)."""
        return {self.name: self.summary(sim)}

    def frames(self) -> dict:
        """Its tables by name, each written as ``<name>.parquet``."""
        return {}

    def plots(self, directory: Path, summary: dict) -> None:
        """Its figures, beside the schedule's Gantt chart."""

    def failure_member(self, node_index: int) -> Any:
        """What a crash or slow-down of node ``node_index`` acts on (None: nothing of this
        system runs there). A member has a list ``slow`` of the factors that slow it now."""
        return None

    def crash(self, member: Any) -> None:
        """``member`` goes down: the work it is doing is lost."""
        raise NotImplementedError

    def repair(self, member: Any) -> None:
        """``member`` is back."""
        raise NotImplementedError

    def describe(self) -> str:
        """What `edgesim check` prints after "training system <name>, "."""
        return ""
