"""One run of a study, as a worker process (local pool or Dask) executes it.

The worker writes the run directory exactly as `edgesim run` does (summary.json last, so its
presence marks a finished run) and returns the summary. It never raises for a failed run: the
failure comes back as a row with its error, and the full traceback is kept in the run
directory's error.txt, so one bad run cannot stop a sweep.
"""
from __future__ import annotations

import traceback
from pathlib import Path

from ..metrics.atomic import write_text_atomic
from .plan import Task

ERROR_FILE = "error.txt"


def outcome(task: Task, status: str, summary=None, error=None) -> dict:
    return {"key": task.key, "status": status, "summary": summary, "error": error}


def run_task(task: Task) -> dict:
    """Simulate ``task`` and save its run directory; {'key', 'status', 'summary', 'error'}."""
    from ..engine.simulation import Simulation
    from ..scenario.loader import read
    out = Path(task.out)
    try:
        sf = read(task.base, list(task.overrides))
        sim = Simulation(sf, task.seed).build().check()
        sim.run()
        result = sim.collect()
        stale = out / ERROR_FILE
        if stale.exists():           # left by an earlier failed attempt at this run
            stale.unlink()
        result.save(out, plots=task.plots)
        return outcome(task, "ok", summary=result.summary)
    except Exception as exc:  # noqa: BLE001 - any failure of one run is that run's result
        message = f"{type(exc).__name__}: {exc}".strip()
        try:
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / ERROR_FILE, traceback.format_exc())
        except OSError:
            pass
        return outcome(task, "failed", error=message)
