"""One run of a study, as a worker process (local pool or Dask) executes it.

The worker writes the run directory exactly as `edgesim run` does (summary.json last, so its
presence marks a finished run) and returns the summary. It never raises for a failed run: the
failure comes back as a row with its error, and the full traceback is kept in the run
directory's error.txt, so one bad run cannot stop a sweep.

A worker process lives for the whole sweep (the executor's pool, or a Dask worker) and runs
many tasks, usually several per call (:func:`run_chunk`): it imports the simulator and builds
the scenario schema once, and parses each base scenario file once (:func:`load_scenario` keeps
the parsed file, with its `extends` chain resolved, and only applies each run's overrides and
validates). The cache is checked against the modification time and size of the file and of
every file it inherits keys from, so a long-lived Dask worker still sees a scenario edited
between two sweeps.
"""
from __future__ import annotations

import json
import os
import threading
import time
import traceback
from pathlib import Path
from typing import Iterable, Optional, Sequence

from edgesim.metrics.atomic import write_text_atomic
from edgesim.study.plan import Task

ERROR_FILE = "error.txt"
CACHE_SIZE = 16      # base scenario files kept parsed per worker process (0: parse every run)

# {resolved base path: (stamps of the files read, data, lines, inherited origins)}
_parsed: dict = {}
_lock = threading.Lock()    # Dask workers with threads share this module


def _stamp(path) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), None)
    return (str(path), st.st_mtime_ns, st.st_size)


def _parse_base(path: Path):
    """(stamps, data, lines, inherited) of a scenario file: YAML read, `extends` resolved."""
    from edgesim.scenario.extends import resolve_extends
    from edgesim.scenario.yamlpos import load_yaml
    data, lines = load_yaml(path)
    if not isinstance(data, dict):   # read() reports it with its message: don't cache
        return None
    inherited: dict = {}
    if "extends" in data:
        data, lines, inherited = resolve_extends(data, lines, path)
    files = {str(path)} | {o[0] for o in inherited.values() if isinstance(o, tuple) and o}
    return tuple(sorted(_stamp(f) for f in files)), data, lines, inherited


def load_scenario(base: str, overrides: Sequence[str] = ()):
    """``scenario.loader.read(base, overrides)``, parsing ``base`` only once per process.

    The same ScenarioFile as read() gives (data, lines, origins, errors located the same way);
    anything unusual (a missing file, a file that is not a mapping) goes through read() itself.
    """
    from edgesim.scenario.loader import ScenarioFile, read
    from edgesim.scenario.messages import problems_from
    from edgesim.scenario.overrides import apply_overrides
    from edgesim.scenario.schema import Scenario
    from pydantic import ValidationError
    path = Path(base)
    key = str(path.resolve()) if path.exists() and CACHE_SIZE > 0 else None
    if key is None:
        return read(base, list(overrides))
    with _lock:
        entry = _parsed.get(key)
    if entry is None or any(_stamp(s[0]) != s for s in entry[0]):
        entry = _parse_base(path)
        if entry is None:
            return read(base, list(overrides))
        with _lock:
            if len(_parsed) >= CACHE_SIZE:
                _parsed.pop(next(iter(_parsed)))
            _parsed[key] = entry
    _, data, lines, inherited = entry
    # apply_overrides deep-copies the data, so the cached parse is never modified.
    data, origins = apply_overrides(data, list(overrides))
    shell = ScenarioFile(spec=None, data=data, file=str(path),  # type: ignore[arg-type]
                         base_dir=path.resolve().parent, lines=dict(lines),
                         origins={**inherited, **origins})
    try:
        shell.spec = Scenario.model_validate(data)
    except ValidationError as exc:
        raise shell.error(problems_from(exc, Scenario, data)) from None
    return shell


def clear_cache() -> None:
    with _lock:
        _parsed.clear()


def warm() -> None:
    """Pool initializer: import the simulator before the first task (a no-op after fork), leave
    Ctrl-C to the parent, and exit when the parent dies.

    Ctrl-C reaches every process of the terminal's group: workers that took it each printed a
    traceback and went on with their queued runs while the parent waited for them. The parent
    now stops them itself (:class:`~edgesim.study.executors.LocalExecutor`). A parent killed
    outright left its workers running forever; each now watches its parent and exits."""
    import signal

    from edgesim.engine import simulation  # noqa: F401
    from edgesim.scenario import loader  # noqa: F401

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:      # re-parented: the pool's owner is gone
                os._exit(1)

    threading.Thread(target=watch, name="edgesim-parent-watch", daemon=True).start()


def outcome(task: Task, status: str, summary=None, error=None) -> dict:
    return {"key": task.key, "status": status, "summary": summary, "error": error}


def finished(task: Task) -> Optional[dict]:
    """The outcome of a run whose directory is complete, or None."""
    path = Path(task.out) / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {"key": task.key, "status": "ok", "summary": summary, "error": None}


def run_task(task: Task) -> dict:
    """Simulate ``task`` and save its run directory; {'key', 'status', 'summary', 'error'}."""
    from edgesim.engine.simulation import Simulation
    out = Path(task.out)
    try:
        sf = load_scenario(task.base, task.overrides)
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


def run_chunk(tasks: Iterable[Task]) -> list:
    """Run several tasks in turn (one call, one round trip); their outcomes in the same order."""
    return [run_task(t) for t in tasks]
