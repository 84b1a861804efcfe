"""Where a study's runs execute: this process, a local process pool, or a Dask cluster.

Every executor takes :class:`~edgesim.study.plan.Task` objects and yields each run's outcome as
it finishes (in completion order; the tables are sorted by the plan afterwards, so the order
never shows in the results). The run itself is :func:`edgesim.study.worker.run_task` whatever
the executor, so results are identical across executors, worker counts and chunk sizes.

The workers live for the whole sweep (one pool, or the Dask cluster's workers) and receive
runs in chunks: consecutive runs of the plan, ``chunk`` per task (:func:`chunk_size` picks it
from the number of runs and workers unless given), so that short runs do not each pay a round
trip to the worker, and each worker parses a base scenario once for all its runs.

Dask workers write run directories themselves: on a cluster the study's output folder must be
on a file system every worker sees at the same path (the usual setup of dask-jobqueue on Slurm
or PBS; on Kubernetes, a shared volume).
"""
from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterable, Iterator, Optional, Sequence

from edgesim.errors import UserError
from edgesim.study.plan import Task
from edgesim.study.worker import finished, outcome, run_chunk, run_task, warm

EXECUTORS = ("local", "dask")
DASK_INSTALL = 'pip install -e ".[dask]"'
#: Automatic chunks: about this many per worker (load balance at the end of the sweep, and
#: progress updates), and never more runs than MAX_CHUNK in one.
CHUNKS_PER_WORKER = 4
MAX_CHUNK = 16


def chunk_size(runs: int, workers: int, chunk: Optional[int] = None) -> int:
    """Runs per task: ``chunk`` if given, else ~CHUNKS_PER_WORKER chunks per worker (1..16)."""
    if chunk is not None:
        if chunk < 1:
            raise UserError(f"the chunk size must be at least 1, got {chunk}")
        return chunk
    return max(1, min(MAX_CHUNK, runs // (max(workers, 1) * CHUNKS_PER_WORKER)))


def chunks(tasks: Sequence[Task], size: int) -> list:
    """Consecutive slices of ``size`` tasks, in plan order."""
    return [tuple(tasks[i:i + size]) for i in range(0, len(tasks), size)]


def _lost(chunk: Sequence[Task], error: str) -> Iterator[dict]:
    """The outcomes of a chunk whose worker failed: runs it had finished are found on disk."""
    for task in chunk:
        yield finished(task) or outcome(task, "failed", error=error)


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
    """A process pool of ``workers`` processes, kept for every :meth:`run` until the ``with``
    block ends; with one worker, runs execute in this process. ``chunk``: runs per task (None:
    :func:`chunk_size` chooses)."""

    name = "local"

    def __init__(self, workers: Optional[int] = None, chunk: Optional[int] = None,
                 pool: Optional[bool] = None) -> None:
        self.workers = workers or default_workers()
        self.chunk = chunk_size(0, 1, chunk) if chunk is not None else None
        # pool=True: a pool even of one process (to measure what the pool itself costs).
        self.use_pool = self.workers > 1 if pool is None else pool
        self._pool: Optional[ProcessPoolExecutor] = None

    def __enter__(self) -> "LocalExecutor":
        if self.use_pool:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_context(),
                                             initializer=warm)
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        if exc[0] is None:
            pool.shutdown(wait=True)
            return
        # Interrupted: drop what has not started and stop the running workers now. A chunk
        # already handed to a worker holds up to 16 runs, so waiting for them (as a plain
        # shutdown does) once ran every queued run to the end, and a second Ctrl-C then hung
        # in multiprocessing's exit. A killed run has no summary.json and reruns on resume.
        import signal
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C waits
        try:
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.join(timeout=5)
                if proc.is_alive():     # pragma: no cover - a worker stuck in a syscall
                    proc.kill()
                    proc.join(timeout=5)
        finally:
            signal.signal(signal.SIGINT, previous)

    def run(self, tasks: Iterable[Task]) -> Iterator[dict]:
        tasks = list(tasks)
        if self._pool is None:
            for task in tasks:
                yield run_task(task)
            return
        size = chunk_size(len(tasks), self.workers, self.chunk)
        pending = {self._pool.submit(run_chunk, c): c for c in chunks(tasks, size)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                chunk = pending.pop(fut)
                try:
                    results = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                    yield from _lost(chunk, f"worker died: {type(exc).__name__}: {exc}")
                else:
                    yield from results


class DaskExecutor:
    """Runs on a Dask cluster: the one at ``scheduler`` (tcp://host:port), or a LocalCluster.

    Any cluster that a ``distributed.Client`` can join works unchanged: dask-jobqueue's
    SLURMCluster/PBSCluster or a Kubernetes cluster expose a scheduler address to pass here.
    """

    name = "dask"

    def __init__(self, scheduler: Optional[str] = None, workers: Optional[int] = None,
                 processes: bool = True, chunk: Optional[int] = None) -> None:
        self.scheduler, self.workers, self.processes = scheduler, workers, processes
        self.chunk = chunk_size(0, 1, chunk) if chunk is not None else None
        self._client = self._cluster = None

    def _chunk(self, runs: int) -> int:
        """As chunk_size(), for the workers the cluster has now (or was asked for); 1 while it
        has none yet (a dask-jobqueue cluster still queueing its jobs): a cluster that grows
        later still gets work for every worker."""
        if self.chunk is not None:
            return self.chunk
        try:
            have = len(self._client.scheduler_info().get("workers", {}))
        except Exception:  # noqa: BLE001 - an old client, a scheduler that does not answer
            have = 0
        workers = max(have, self.workers or 0)
        return chunk_size(runs, workers) if workers else 1

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
        parts = chunks(tasks, self._chunk(len(tasks)))
        futures = self._client.map(run_chunk, parts, pure=False)
        owner = {f.key: c for f, c in zip(futures, parts)}
        try:
            for fut in as_completed(futures):
                try:
                    results = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker lost, a task cancelled
                    yield from _lost(owner[fut.key], f"dask: {type(exc).__name__}: {exc}")
                else:
                    yield from results
        finally:
            self._client.cancel([f for f in futures if not f.done()])


def make_executor(kind: Optional[str] = None, workers: Optional[int] = None,
                  scheduler: Optional[str] = None, processes: bool = True,
                  chunk: Optional[int] = None):
    """An executor by name: ``local`` unless a scheduler address asks for ``dask``."""
    kind = kind or ("dask" if scheduler else "local")
    if kind == "local":
        if scheduler:
            raise UserError("--scheduler joins a Dask cluster: use it with --executor dask")
        return LocalExecutor(workers, chunk)
    if kind == "dask":
        return DaskExecutor(scheduler, workers, processes, chunk)
    raise UserError(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
