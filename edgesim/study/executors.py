"""Where a study's runs execute: this process, a local process pool, or a Dask cluster.

Every executor takes :class:`~edgesim.study.plan.Task` objects and yields each run's outcome as
it finishes (in completion order; the tables are sorted by the plan afterwards, so the order
never shows in the results). The run itself is :func:`edgesim.study.worker.run_task` whatever
the executor, so results are identical across executors.

Dask workers write run directories themselves: on a cluster the study's output folder must be
on a file system every worker sees at the same path (the usual setup of dask-jobqueue on Slurm
or PBS; on Kubernetes, a shared volume).
"""
from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterable, Iterator, Optional

from ..errors import UserError
from .plan import Task
from .worker import outcome, run_task

EXECUTORS = ("local", "dask")
DASK_INSTALL = 'pip install -e ".[dask]"'


def default_workers() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not on Linux
        return max(os.cpu_count() or 1, 1)


def _context():
    """How pool workers start: ``fork`` while this process has a single thread (instant: the
    simulator is already imported), else ``forkserver`` (forking a process with other threads
    running, e.g. a progress bar's or a notebook kernel's, can deadlock the child), else
    ``spawn`` (platforms without fork)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # The server imports the simulator once and each worker forks from it ready to run
        # (without this every worker pays the imports, ~1 s, before its first run).
        ctx.set_forkserver_preload(["edgesim.study.worker"])
        return ctx
    return multiprocessing.get_context("spawn")


class LocalExecutor:
    """A process pool of ``workers`` processes; with one worker, runs execute in this process."""

    name = "local"

    def __init__(self, workers: Optional[int] = None) -> None:
        self.workers = workers or default_workers()
        self._pool: Optional[ProcessPoolExecutor] = None

    def __enter__(self) -> "LocalExecutor":
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_context())
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            # On an interruption, drop what has not started; a running run's files are
            # written atomically, so a cancelled run leaves no summary.json and reruns later.
            self._pool.shutdown(wait=exc[0] is None, cancel_futures=True)
            self._pool = None

    def run(self, tasks: Iterable[Task]) -> Iterator[dict]:
        tasks = list(tasks)
        if self._pool is None:
            for task in tasks:
                yield run_task(task)
            return
        pending = {self._pool.submit(run_task, t): t for t in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                task = pending.pop(fut)
                try:
                    yield fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                    yield outcome(task, "failed", error=f"worker died: {type(exc).__name__}: {exc}")


class DaskExecutor:
    """Runs on a Dask cluster: the one at ``scheduler`` (tcp://host:port), or a LocalCluster.

    Any cluster that a ``distributed.Client`` can join works unchanged: dask-jobqueue's
    SLURMCluster/PBSCluster or a Kubernetes cluster expose a scheduler address to pass here.
    """

    name = "dask"

    def __init__(self, scheduler: Optional[str] = None, workers: Optional[int] = None,
                 processes: bool = True) -> None:
        self.scheduler, self.workers, self.processes = scheduler, workers, processes
        self._client = self._cluster = None

    def __enter__(self) -> "DaskExecutor":
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise UserError(f"the dask executor needs dask.distributed: {DASK_INSTALL}") from None
        if self.scheduler:
            try:
                self._client = Client(self.scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise UserError(f"cannot reach the Dask scheduler at {self.scheduler}: "
                                f"{exc}") from None
        else:
            import logging
            self._cluster = LocalCluster(n_workers=self.workers or default_workers(),
                                         threads_per_worker=1, processes=self.processes,
                                         dashboard_address=None, silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def run(self, tasks: Iterable[Task]) -> Iterator[dict]:
        from distributed import as_completed
        tasks = list(tasks)
        if not tasks:
            return
        futures = self._client.map(run_task, tasks, pure=False)
        owner = {f.key: t for f, t in zip(futures, tasks)}
        try:
            for fut in as_completed(futures):
                try:
                    yield fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker lost, a task cancelled
                    yield outcome(owner[fut.key], "failed",
                                  error=f"dask: {type(exc).__name__}: {exc}")
        finally:
            self._client.cancel([f for f in futures if not f.done()])


def make_executor(kind: Optional[str] = None, workers: Optional[int] = None,
                  scheduler: Optional[str] = None, processes: bool = True):
    """An executor by name: ``local`` unless a scheduler address asks for ``dask``."""
    kind = kind or ("dask" if scheduler else "local")
    if kind == "local":
        if scheduler:
            raise UserError("--scheduler joins a Dask cluster: use it with --executor dask")
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers, processes)
    raise UserError(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
