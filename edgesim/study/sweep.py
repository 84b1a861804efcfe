"""Run a sweep: plan it, skip the runs that already finished, execute the rest, write tables.

The output folder::

    sweep.json          the plan: base, axes, seeds, configurations (written first)
    runs/<key>/         each run's directory, as `edgesim run` writes it
    runs.parquet        one row per run: parameters, seed, replication, key, status, metrics
    summary.parquet     per configuration and metric: n, mean, std, CI half-width and bounds
    summary.csv         the same, as text

Everything is written atomically. A run counts as finished when its summary.json exists
(written last), so an interrupted sweep started again with the same command executes only the
runs that are missing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import pandas as pd

from edgesim.errors import Problem
from edgesim.metrics.atomic import write_parquet_atomic, write_text_atomic
from edgesim.study.executors import make_executor
from edgesim.study.plan import Plan, Task, cli_settings, make_plan
from edgesim.study.spec import SweepError, SweepFile, read_sweep
from edgesim.study.tables import metric_columns, runs_table, summary_table
from edgesim.study.worker import finished

Progress = Callable[[int, int, str], None]


@dataclass
class SweepResult:
    """What :func:`run_sweep` returns; ``runs`` and ``summary`` are the tables it wrote."""

    directory: Path
    plan: Plan
    runs: pd.DataFrame
    summary: pd.DataFrame
    executed: int
    skipped: int
    failed: int


def execute(tasks: Iterable[Task], executor, progress: Optional[Progress] = None,
            label: str = "") -> tuple[dict, int, int]:
    """Run the tasks not finished before; ({key: outcome}, executed, skipped)."""
    outcomes: dict[str, dict] = {}
    todo = []
    for task in tasks:
        done = finished(task)
        if done is not None:
            outcomes[task.key] = done
        else:
            todo.append(task)
    skipped, total = len(outcomes), len(outcomes) + len(todo)
    if progress:
        progress(skipped, total, label)
    for i, out in enumerate(executor.run(todo), start=1):
        outcomes[out["key"]] = out
        if progress:
            progress(skipped + i, total, label)
    return outcomes, len(todo), skipped


def _plan_json(sweep: SweepFile, plan: Plan) -> str:
    doc = {
        "sweep": sweep.file, "name": sweep.name, "description": sweep.spec.description,
        "base": str(plan.base.resolve()), "params": plan.params, "seed": plan.seed,
        "replications": plan.replications, "confidence": sweep.spec.confidence,
        "metrics": sweep.spec.metrics,
        "configurations": [{"config": c.index, "params": c.params,
                            "overrides": [s.text() for s in c.settings]} for c in plan.configs],
        "runs": [{"config": r.config, "replication": r.replication, "seed": r.seed,
                  "key": r.key} for r in plan.runs],
    }
    return json.dumps(doc, indent=1, default=str) + "\n"


def _check_metrics(sweep: SweepFile, runs: pd.DataFrame, params: Sequence[str]) -> None:
    wanted = sweep.spec.metrics or []
    have = metric_columns(runs, params)
    if not have:            # no run finished: nothing to check the names against
        return
    problems = []
    for i, m in enumerate(wanted):
        if m not in have:
            file, line = sweep.where("metrics", i)
            problems.append(Problem(f"metrics.{i}", "not a numeric summary metric of these runs",
                                    value=m, has_value=True, valid=have, file=file,
                                    line=line))
    if problems:
        raise SweepError(problems)


def load(source: Union[str, Path, Mapping[str, Any], SweepFile],
         base_dir: Union[str, Path, None] = None) -> SweepFile:
    """A sweep file (path or dict) read and validated; a SweepFile is returned as it is."""
    return source if isinstance(source, SweepFile) else read_sweep(source, base_dir)


def run_sweep(sweep: Union[str, Path, Mapping[str, Any], SweepFile], out: Union[str, Path], *,
              executor: Optional[str] = None, workers: Optional[int] = None,
              scheduler: Optional[str] = None, sets: Sequence[str] = (),
              replications: Optional[int] = None, seed: Optional[int] = None,
              plots: bool = False, progress: Optional[Progress] = None,
              processes: bool = True, chunk: Optional[int] = None) -> SweepResult:
    """Run (or resume) a sweep into the folder ``out`` and write its tables.

    ``executor`` is 'local' (a process pool of ``workers``; the default) or 'dask' (join
    ``scheduler``, or start a LocalCluster of ``workers``; ``processes=False`` makes it threads).
    ``sets`` are 'key.path=value' overrides for every run; ``replications`` and ``seed``
    replace the sweep file's. ``chunk``: runs sent to a worker at a time (None: chosen from the
    number of runs and workers); it changes only the speed, never the tables.
    """
    sw = load(sweep)
    directory = Path(out)
    plan = make_plan(sw, directory, cli_settings(sets), replications, seed, plots)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "runs").mkdir(exist_ok=True)
    write_text_atomic(directory / "sweep.json", _plan_json(sw, plan))
    with make_executor(executor, workers, scheduler, processes, chunk) as ex:
        outcomes, executed, skipped = execute(plan.tasks.values(), ex, progress, sw.name)
    return write_tables(sw, plan, directory, outcomes, executed, skipped)


def write_tables(sweep: SweepFile, plan: Plan, directory: Path, outcomes: Mapping[str, dict],
                 executed: int = 0, skipped: int = 0) -> SweepResult:
    runs = runs_table(plan, outcomes)
    write_parquet_atomic(runs, directory / "runs.parquet")
    _check_metrics(sweep, runs, plan.params)
    summary = summary_table(runs, plan.params, sweep.spec.metrics, sweep.spec.confidence)
    write_parquet_atomic(summary, directory / "summary.parquet")
    write_text_atomic(directory / "summary.csv", summary.to_csv(index=False))
    failed = int((runs.status != "ok").sum())
    return SweepResult(directory, plan, runs, summary, executed, skipped, failed)


__all__ = ["SweepResult", "run_sweep", "execute", "finished", "load", "write_tables"]
