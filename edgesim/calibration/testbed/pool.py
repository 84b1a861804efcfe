"""The real side of ``edgesim testbed``: worker processes and the dispatcher that feeds them.

Split out of :mod:`edgesim.calibration.testbed.run`. W worker processes (multiprocessing, spawn),
worker i pinned to core i (``os.sched_setaffinity``) with ``torch.set_num_threads(threads)``,
each serve real PyTorch inference of one zoo model on batches the parent sends them on their
own pipe. The parent runs one dispatcher loop (:meth:`WorkerPool.serve`) that implements the
same queue as the simulated node (:class:`edgesim.hardware.node.Node`): one FIFO queue, and a
batch of up to ``max_batch`` requests starts on a free worker when ``max_batch`` requests wait
or the oldest has waited ``max_wait`` (``max_wait = 0``: whatever waits, at once); the free
worker that has waited longest takes it, as in the simulation. Arrivals come from an *arrival
source*: timed Poisson arrivals (:class:`TimedArrivals`) or frames read from a socket
(:mod:`edgesim.calibration.testbed.twotier`). The loop is single-threaded, so no thread of the parent
competes with another for the GIL, and it stamps arrivals and responses with
``time.perf_counter()`` (CLOCK_MONOTONIC: one clock for every process of the machine).

The parent process never imports torch; the workers do.
"""
from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

import numpy as np

__all__ = ["Batching", "WorkerPool", "TimedArrivals", "ArrivalSource", "cpu_account"]


# Defined here rather than in served_profile, which drives this pool: the dispatcher applies it.
@dataclass(frozen=True)
class Batching:
    """The batching rule of a server: ``max_batch`` 1 is no batching."""

    max_batch: int = 1
    max_wait_s: float = 0.0

    def __post_init__(self) -> None:
        if int(self.max_batch) < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch!r}")
        if not (self.max_wait_s >= 0 and np.isfinite(self.max_wait_s)):
            raise ValueError(f"max_wait must be a finite number >= 0, got {self.max_wait_s!r}")

    @property
    def label(self) -> str:
        if self.max_batch == 1:
            return "none"
        return f"dynamic (max {self.max_batch}, wait {self.max_wait_s * 1e3:g} ms)"


def _worker_main(idx: int, core: Optional[int], model: str, threads: int, conn,
                 warmup_s: float, malloc: str, max_batch: int,
                 stand_in_s: Optional[float] = None) -> None:
    """One serving process: pin, build the model, warm up, then serve batches until None.

    ``stand_in_s``: no model, no torch; a call sleeps ``stand_in_s * (1 + (b - 1) / 2)`` (the
    dispatcher's tests use it: a sleeping worker needs no core, so its times are exact).
    """
    try:
        if core is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {core})
        if stand_in_s is None:
            from edgesim.calibration.profiler import configure_malloc
            configure_malloc(malloc)
            import torch
            torch.set_num_threads(threads)
            from edgesim.calibration import zoo
            net = zoo.build(model).eval()
            make = lambda b: zoo.example_input(model, b)  # noqa: E731
            mode = torch.inference_mode
        else:
            import contextlib
            net = lambda x: time.sleep(x)  # noqa: E731
            make = lambda b: stand_in_s * (1 + (b - 1) / 2)  # noqa: E731
            mode = contextlib.nullcontext
        xs = {b: make(b) for b in range(1, max_batch + 1)}
        with mode():
            for b in range(2, max_batch + 1):       # first calls at a size build its kernels
                for _ in range(3):
                    net(xs[b])
            t_end = time.perf_counter() + warmup_s
            n = 0
            while n < 5 or time.perf_counter() < t_end:
                net(xs[1])
                n += 1
        conn.send(("ready", idx, os.getpid(), sorted(os.sched_getaffinity(0))
                   if hasattr(os, "sched_getaffinity") else None))
    except BaseException as exc:  # report, do not hang the parent
        conn.send(("error", idx, f"{type(exc).__name__}: {exc}", None))
        return
    perf = time.perf_counter
    with mode():
        while True:
            try:
                ids = conn.recv()
            except EOFError:
                break
            if ids is None:
                break
            x = xs.get(len(ids))
            if x is None:                # larger than announced: build it (slow, but correct)
                x = xs[len(ids)] = make(len(ids))
            t0 = perf()
            net(x)
            t1 = perf()
            conn.send((ids, t0, t1))
    conn.close()


# ============================================================================================
# CPU accounting: how busy the rest of the machine was


def _system_ticks() -> Optional[tuple[int, int]]:
    """(busy, steal) clock ticks of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    steal = f[7] if len(f) > 7 else 0
    return f[0] + f[1] + f[2] + f[5] + f[6] + steal, steal


def _process_ticks(pid: int) -> Optional[int]:
    """utime + stime of a process (all its threads), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None


class _CpuAccount:
    """How many cores other processes (not the testbed's) kept busy while a run lasted."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = [os.getpid(), *pids]
        self.t0 = time.monotonic()
        self.sys0 = _system_ticks()
        self.own0 = [_process_ticks(p) for p in self.pids]

    def other_cores(self) -> dict:
        sys1, own1 = _system_ticks(), [_process_ticks(p) for p in self.pids]
        wall = time.monotonic() - self.t0
        if self.sys0 is None or sys1 is None or None in self.own0 or None in own1 or wall <= 0:
            return {"other_cores": None, "steal_cores": None}
        hz = os.sysconf("SC_CLK_TCK")
        busy = sys1[0] - self.sys0[0]
        own = sum(b - a for a, b in zip(self.own0, own1))
        return {"other_cores": max(busy - own, 0) / hz / wall,
                "steal_cores": (sys1[1] - self.sys0[1]) / hz / wall}


def cpu_account(pids: Sequence[int]) -> _CpuAccount:
    """Start counting the machine's CPU time outside ``pids`` (and this process)."""
    return _CpuAccount(pids)


# ============================================================================================
# arrival sources


class ArrivalSource(Protocol):
    """Where the dispatcher's requests come from."""

    def readables(self) -> list:
        """Objects the loop should wait on (sockets), besides the workers' pipes."""

    def next_due(self) -> float:
        """perf_counter time of the next timed arrival (inf: none known)."""

    def poll(self, now: float) -> list[tuple[int, float]]:
        """Requests that have arrived by ``now``: (request id, when it was created)."""

    def done(self) -> bool:
        """No request will arrive any more."""


class TimedArrivals:
    """Arrivals at ``t_start + offsets``; when they are used up, ``extend(sent)`` may give
    further offsets (after the last one so far) or None to stop. Request ids count from 0."""

    def __init__(self, offsets: np.ndarray, t_start: float,
                 extend: Optional[Callable[[int], Optional[np.ndarray]]] = None) -> None:
        self.due = list(t_start + np.asarray(offsets, dtype=float))
        self.i = 0
        self.extend = extend
        self.finished = False

    def readables(self) -> list:
        return []

    def _more(self) -> None:
        if self.i < len(self.due) or self.finished:
            return
        more = self.extend(self.i) if self.extend else None
        if more is None or len(more) == 0:
            self.finished = True
            return
        self.due.extend((self.due[-1] + np.asarray(more, dtype=float)).tolist())

    def next_due(self) -> float:
        self._more()
        return self.due[self.i] if self.i < len(self.due) else float("inf")

    def poll(self, now: float) -> list[tuple[int, float]]:
        out = []
        while True:
            self._more()
            if self.i >= len(self.due) or self.due[self.i] > now:
                return out
            out.append((self.i, self.due[self.i]))
            self.i += 1

    def done(self) -> bool:
        self._more()
        return self.finished


# ============================================================================================
# the pool


class WorkerPool:
    """W spawned serving processes, one per core, each on its own duplex pipe.

    ``stand_in_s``: workers that sleep instead of running a model (see :func:`_worker_main`).
    """

    def __init__(self, model: str, workers: int, threads: int = 1, warmup_s: float = 1.0,
                 start_timeout_s: float = 180.0, malloc: str = "default",
                 max_batch: int = 1, stand_in_s: Optional[float] = None) -> None:
        import multiprocessing as mp
        if workers < 1 or max_batch < 1:
            raise ValueError("workers and max_batch must be >= 1")
        self.ctx = mp.get_context("spawn")
        self.model, self.workers, self.threads = model, workers, threads
        try:
            cores = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = []
        self.cores = cores
        self.oversubscribed = bool(cores) and workers > len(cores)
        self.conns, self.procs, self.info = [], [], []
        self.current: dict = {}
        for i in range(workers):
            parent, child = self.ctx.Pipe(duplex=True)
            core = cores[i % len(cores)] if cores else None
            p = self.ctx.Process(target=_worker_main, name=f"edgesim-testbed-{i}", daemon=True,
                                 args=(i, core, model, threads, child, warmup_s, malloc,
                                       max_batch, stand_in_s))
            p.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(p)
        self._await_ready(start_timeout_s)

    def _await_ready(self, timeout_s: float) -> None:
        from multiprocessing.connection import wait
        deadline = time.monotonic() + timeout_s
        pending = set(range(self.workers))
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise TimeoutError(f"testbed workers {sorted(pending)} not ready after "
                                   f"{timeout_s:.0f} s")
            for c in wait([self.conns[i] for i in pending], timeout=min(left, 1.0)):
                try:
                    msg = c.recv()
                except EOFError:
                    self.close()
                    raise RuntimeError("a testbed worker died while starting") from None
                if msg[0] == "error":
                    self.close()
                    raise RuntimeError(f"testbed worker {msg[1]} failed to start: {msg[2]}")
                pending.discard(msg[1])
                self.info.append({"worker": msg[1], "pid": msg[2], "cores": msg[3]})
            dead = [i for i in pending if not self.procs[i].is_alive()]
            if dead:
                self.close()
                raise RuntimeError(f"testbed worker(s) {dead} exited while starting")
        self.info.sort(key=lambda d: d["worker"])

    def serve(self, source: ArrivalSource, batching: Batching, capacity: int,
              timeout_s: float, owners: Optional[np.ndarray] = None) -> dict:
        """Serve what ``source`` sends until it is done and every request is answered.

        ``owners``: None for one queue shared by all workers (the testbed); else the worker of
        each request id, each worker serving only its own queue (served-mode profiling: W
        independent one-server queues at once).

        A worker is busy from the moment its batch is sent until its answer is read: that is
        the *occupancy* of a call, what the simulated executor's service time stands for (the
        model's time plus the two pipe messages and process wake-ups around it).

        Per request (index = request id < ``capacity``): ``created`` (the source's time),
        ``arrival`` (when the dispatcher saw it), ``finish`` (when the answer came back),
        ``worker``, ``batch`` (its batch's size), ``svc_start``/``svc_end`` (the worker's own
        stamps around the model call). Per call, ``calls``: arrays ``worker``, ``size``,
        ``sent``, ``done`` (dispatch and answer, parent's stamps), ``start``, ``end`` (the
        worker's), ``gap`` (the worker's idle time before it, from its previous answer to this
        dispatch). Times are perf_counter seconds.
        """
        from multiprocessing.connection import wait
        perf = time.perf_counter
        nan = lambda: np.full(capacity, np.nan)  # noqa: E731
        created, arrival, finish, s0, s1 = nan(), nan(), nan(), nan(), nan()
        worker = np.full(capacity, -1, dtype=np.int64)
        bsize = np.zeros(capacity, dtype=np.int64)
        calls: dict[str, list] = {k: [] for k in ("worker", "size", "sent", "done", "start",
                                                  "end", "gap")}
        # what an arrival source's extend() may read while the run goes on (testbed._extender)
        self.current = {"created": created, "arrival": arrival, "finish": finish}
        free_at = [perf()] * self.workers          # when each worker's last answer came
        sent_at = [0.0] * self.workers
        gap_at = [0.0] * self.workers
        conns = self.conns
        index = {id(c): i for i, c in enumerate(conns)}
        free = deque(range(self.workers))          # longest idle first
        busy: set[int] = set()
        own = owners is not None
        queues = [deque() for _ in range(self.workers if own else 1)]
        mb, mw = batching.max_batch, batching.max_wait_s
        deadline = time.monotonic() + timeout_s
        state = {"timed_out": False, "error": None, "overflow": 0, "sent": 0, "received": 0}
        account = _CpuAccount([p.pid for p in self.procs])

        def ready(q: deque, now: float) -> bool:
            return bool(q) and (len(q) >= mb or mw == 0.0 or now >= arrival[q[0]] + mw)

        def start(w: int, q: deque) -> None:
            ids = [q.popleft() for _ in range(min(mb, len(q)))]
            busy.add(w)
            t = perf()
            conns[w].send(ids)
            gap_at[w] = max(t - free_at[w], 0.0)
            sent_at[w] = t

        while True:
            now = perf()
            for rid, t_created in source.poll(now):
                if rid >= capacity:
                    state["overflow"] += 1
                    continue
                created[rid], arrival[rid] = t_created, now
                queues[int(owners[rid]) if own else 0].append(rid)
                state["sent"] += 1
            if own:
                for w in [w for w in free if ready(queues[w], now)]:
                    free.remove(w)
                    start(w, queues[w])
            else:
                while free and ready(queues[0], now):
                    start(free.popleft(), queues[0])
            if not busy and not any(queues) and source.done():
                break
            if time.monotonic() > deadline:
                state["timed_out"] = True
                break
            nxt = source.next_due()
            if mw > 0.0:
                for w in free if own else ([free[0]] if free else []):
                    q = queues[w if own else 0]
                    if q:
                        nxt = min(nxt, arrival[q[0]] + mw)
            waits = [conns[w] for w in busy] + source.readables()
            dt = nxt - perf()
            # poll() rounds its timeout up to whole milliseconds: wait for whole ms, then the
            # rest in short sleeps, so timed arrivals are not a millisecond late.
            if dt > 0.0015:
                if waits:
                    got = wait(waits, timeout=min(dt - 0.001, 0.2))
                else:
                    time.sleep(min(dt - 0.001, 0.2))
                    got = []
            else:
                got = wait(waits, timeout=0) if waits else []
                if not got and dt > 0:
                    time.sleep(min(dt, 2e-4))
            for c in got:
                w = index.get(id(c))
                if w is None:
                    continue                     # a socket: the source reads it in poll()
                try:
                    ids, t0, t1 = c.recv()
                except EOFError:
                    state["error"] = f"worker {w} exited during the run"
                    busy.discard(w)
                    continue
                t = perf()
                finish[ids], s0[ids], s1[ids] = t, t0, t1
                worker[ids], bsize[ids] = w, len(ids)
                for k, v in (("worker", w), ("size", len(ids)), ("sent", sent_at[w]),
                             ("done", t), ("start", t0), ("end", t1), ("gap", gap_at[w])):
                    calls[k].append(v)
                free_at[w] = t
                state["received"] += len(ids)
                busy.discard(w)
                free.append(w)
        cpu = account.other_cores()
        # After a time-out or an error answers may still be on their way: the caller closes
        # the pool rather than reusing it (run_testbed does).
        return {"created": created, "arrival": arrival, "finish": finish, "worker": worker,
                "batch": bsize, "svc_start": s0, "svc_end": s1,
                "calls": {k: np.asarray(v) for k, v in calls.items()}, **state, **cpu}

    def close(self) -> None:
        for c in self.conns:
            try:
                c.send(None)
            except (OSError, BrokenPipeError, ValueError):
                pass
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        for c in self.conns:
            c.close()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
