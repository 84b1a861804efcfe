"""Columnar recording: one flat row per finished request, one row per node per sample.

Columns are typed arrays (8 bytes a float, not a 32-byte Python float plus a list slot), and
strings (sources, node paths) are interned to small integer codes, so a 200,000-request run
keeps its records in a few tens of megabytes.
"""
from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..engine.request import OUTCOMES, Request

if TYPE_CHECKING:  # pragma: no cover - pandas is imported when a table is built (frame())
    import pandas as pd


class RequestRecorder:
    def __init__(self, source_names: Sequence[str], job_names: Sequence[str],
                 node_names: Sequence[str], answers: bool = False) -> None:
        self.source_names = list(source_names)
        self.job_names = list(job_names)
        self.node_names = list(node_names)
        self._paths: dict[tuple, int] = {}
        self.id = array("q")
        self.src = array("i")
        self.job = array("i")
        self.created = array("d")
        self.started = array("d")
        self.finished = array("d")
        self.wait = array("d")
        self.service = array("d")
        self.path = array("i")
        self.batch = array("i")
        self.nbytes = array("d")
        self.outcome = array("b")
        self.warm = array("b")
        # Accuracy accounting (jobs with an accuracy, ensembles): who answered and how well.
        self.answers = answers
        self._labels: dict[str, int] = {"": 0}
        self.answered_by = array("i")
        self.accuracy = array("d")

    def __len__(self) -> int:
        return len(self.id)

    def record(self, req: Request, now: float, outcome: int) -> None:
        path = tuple(req.path)
        code = self._paths.get(path)
        if code is None:
            code = self._paths[path] = len(self._paths)
        self.id.append(req.id)
        self.src.append(req.src)
        self.job.append(req.plan.index)
        self.created.append(req.created)
        self.started.append(req.started)
        self.finished.append(now)
        self.wait.append(req.wait)
        self.service.append(req.service)
        self.path.append(code)
        self.batch.append(req.batch)
        self.nbytes.append(req.nbytes)
        self.outcome.append(outcome)
        self.warm.append(req.warm)
        if self.answers:
            ans = req.answer
            if ans is not None:
                label, acc = ans
            else:
                acc = req.plan.accuracy if outcome == 0 else None
                label = ""
            code = self._labels.get(label)
            if code is None:
                code = self._labels[label] = len(self._labels)
            self.answered_by.append(code)
            self.accuracy.append(acc if acc is not None else float("nan"))

    def nbytes_used(self) -> int:
        cols = (self.id, self.src, self.job, self.created, self.started, self.finished, self.wait,
                self.service, self.path, self.batch, self.nbytes, self.outcome, self.warm)
        return sum(c.itemsize * len(c) for c in cols)

    def frame(self) -> pd.DataFrame:
        """The requests table, sorted by request id so it does not depend on finishing order."""
        import pandas as pd
        n = len(self.id)
        path_names = [""] * len(self._paths)
        for path, code in self._paths.items():
            path_names[code] = ">".join(self.node_names[i] for i in path)
        outcome = np.frombuffer(self.outcome, dtype=np.int8) if n else np.zeros(0, np.int8)
        finished = np.frombuffer(self.finished, dtype=float) if n else np.zeros(0)
        created = np.frombuffer(self.created, dtype=float) if n else np.zeros(0)
        done = outcome == 0
        started = np.frombuffer(self.started, dtype=float).copy() if n else np.zeros(0)
        started[started < 0] = np.nan
        df = pd.DataFrame({
            "id": np.frombuffer(self.id, dtype=np.int64) if n else np.zeros(0, np.int64),
            "source": pd.Categorical.from_codes(np.frombuffer(self.src, dtype=np.int32) if n else
                                                np.zeros(0, np.int32), self.source_names),
            "job": pd.Categorical.from_codes(np.frombuffer(self.job, dtype=np.int32) if n else
                                             np.zeros(0, np.int32), self.job_names),
            "created": created,
            "started": started,
            "finished": np.where(done, finished, np.nan),
            "latency": np.where(done, finished - created, np.nan),
            "wait": np.frombuffer(self.wait, dtype=float) if n else np.zeros(0),
            "service": np.frombuffer(self.service, dtype=float) if n else np.zeros(0),
            "nodes": pd.Categorical.from_codes(np.frombuffer(self.path, dtype=np.int32) if n else
                                               np.zeros(0, np.int32), path_names or [""]),
            "batch": np.frombuffer(self.batch, dtype=np.int32).astype(np.int64) if n else
            np.zeros(0, np.int64),
            "bytes": np.frombuffer(self.nbytes, dtype=float).astype(np.int64) if n else
            np.zeros(0, np.int64),
            "outcome": pd.Categorical.from_codes(outcome, list(OUTCOMES)),
            "warmup": np.frombuffer(self.warm, dtype=np.int8).astype(bool) if n else
            np.zeros(0, bool),
            "ended": finished,
        })
        if self.answers:
            labels = [""] * len(self._labels)
            for label, code in self._labels.items():
                labels[code] = label
            df["answered_by"] = pd.Categorical.from_codes(
                np.frombuffer(self.answered_by, dtype=np.int32) if n else np.zeros(0, np.int32),
                labels)
            df["accuracy"] = np.frombuffer(self.accuracy, dtype=float) if n else np.zeros(0)
        return df.sort_values("id", kind="stable").reset_index(drop=True)


class SampleRecorder:
    """Per-node time-weighted samples taken every metrics interval."""

    def __init__(self, node_names: Sequence[str]) -> None:
        self.node_names = list(node_names)
        self.time = array("d")
        self.node = array("i")
        self.queue = array("d")
        self.busy = array("d")
        self.execs = array("i")
        self.done = array("q")
        self.length = array("d")

    def add(self, t: float, length: float, node: int, area_q: float, area_busy: float,
            executors: int, done: int) -> None:
        self.time.append(t)
        self.node.append(node)
        self.length.append(length)
        self.queue.append(area_q / length if length > 0 else 0.0)
        self.busy.append(area_busy / length if length > 0 else 0.0)
        self.execs.append(executors)
        self.done.append(done)

    def frame(self) -> pd.DataFrame:
        import pandas as pd
        n = len(self.time)
        f = (lambda a, dt: np.frombuffer(a, dtype=dt) if n else np.zeros(0, dt))
        busy = f(self.busy, float)
        execs = f(self.execs, np.int32).astype(np.int64)
        length = f(self.length, float)
        done = f(self.done, np.int64)
        return pd.DataFrame({
            "time": f(self.time, float),
            "node": pd.Categorical.from_codes(f(self.node, np.int32), self.node_names),
            "queue": f(self.queue, float),
            "busy": busy,
            "executors": execs,
            "utilization": busy / np.maximum(execs, 1),
            "completed": done,
            "throughput": np.divide(done, length, out=np.zeros(n), where=length > 0),
            "interval": length,
        })


class LinkSampler:
    """Per-link bytes carried, utilisation and busy share every sampling interval (links.parquet).

    A scenario link that expands to several members (one per camera) is reported per channel,
    named as the flow network names them; Wi-Fi cells per station airtime channel.
    ``utilization`` is bits carried over the capacity-time integral of the interval; ``busy`` is
    the share of the interval with at least one flow transmitting.
    """

    def __init__(self, flows, link_channels: dict[str, list[str]]) -> None:
        self.flows = flows
        self.channels = [(link, ch) for link, chs in link_channels.items() for ch in chs]
        self.rows: list[tuple] = []
        self.mark(0.0)

    def mark(self, now: float) -> None:
        """Start counting from now (the end of the warm-up)."""
        self._last = {}
        for _l, ch in self.channels:
            st = self.flows.stats(ch)
            self._last[ch] = (st.bytes_carried, st.busy_time, st.capacity_bps, now)
        self.rows.clear()

    def sample(self, now: float, length: float) -> None:
        for link, ch in self.channels:
            st = self.flows.stats(ch)
            b0, busy0, cap0, t0 = self._last[ch]
            self._last[ch] = (st.bytes_carried, st.busy_time, st.capacity_bps, now)
            carried = st.bytes_carried - b0
            # Capacity is piecewise constant between samples except under traces, where the
            # mean of the two ends is the best cheap estimate of its integral.
            cap_time = 0.5 * (cap0 + st.capacity_bps) * length
            self.rows.append((now, link, ch, carried, carried * 8.0 / length if length > 0 else 0.0,
                              carried * 8.0 / cap_time if cap_time > 0 else 0.0,
                              (st.busy_time - busy0) / length if length > 0 else 0.0,
                              st.capacity_bps, st.flows, length))

    def frame(self) -> pd.DataFrame:
        import pandas as pd
        cols = ["time", "link", "channel", "bytes", "throughput_bps", "utilization", "busy",
                "capacity_bps", "flows", "interval"]
        df = pd.DataFrame(self.rows, columns=cols)
        for c in ("link", "channel"):
            df[c] = df[c].astype("category")
        return df

    def summary(self) -> dict:
        """Per scenario link: bytes carried and the utilisation of its busiest channel."""
        out = {}
        df = self.frame()
        for link, g in df.groupby("link", observed=True):
            bits = g.groupby("channel", observed=True).bytes.sum() * 8.0
            cap_time = (g.capacity_bps * g.interval).groupby(g.channel, observed=True).sum()
            util = (bits / cap_time.where(cap_time > 0)).fillna(0.0)
            out[str(link)] = {"bytes": float(g.bytes.sum()),
                              "max_channel_utilization": float(util.max()) if len(util) else 0.0}
        return out
