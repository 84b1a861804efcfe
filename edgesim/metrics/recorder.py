"""Columnar recording: one flat row per finished request, one row per node per sample.

Columns are typed arrays (8 bytes a float, not a 32-byte Python float plus a list slot), and
strings (sources, node paths) are interned to small integer codes, so a 200,000-request run
keeps its records in a few tens of megabytes.
"""
from __future__ import annotations

from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from edgesim.engine.request import OUTCOMES, Request

if TYPE_CHECKING:  # pragma: no cover - pandas is imported when a table is built (frame())
    import pandas as pd


class RequestRecorder:
    def __init__(self, source_names: Sequence[str], job_names: Sequence[str],
                 node_names: Sequence[str], answers: bool = False, units: bool = False) -> None:
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
        # Arrivals each request carries, when a source aggregates them (workload 'aggregate').
        self.has_units = units
        self.units = array("i")

    # Kept for the whole run even when streaming: the summary needs them (26 bytes a request,
    # and 4 more for `units` when a source aggregates).
    _SUMMARY = ("created", "finished", "wait", "outcome", "warm", "units")

    def __len__(self) -> int:
        return len(self.outcome)

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
        if self.has_units:
            self.units.append(req.units)
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
        if self._stream_rows and len(self.id) >= self._stream_rows:
            self._flush()

    def nbytes_used(self) -> int:
        cols = (self.id, self.src, self.job, self.created, self.started, self.finished, self.wait,
                self.service, self.path, self.batch, self.nbytes, self.outcome, self.warm)
        return sum(c.itemsize * len(c) for c in cols)

    # ---------------------------------------------------------------- streaming (row groups)
    _stream_rows = 0
    _writer = None
    _file = None

    @property
    def streamed(self) -> bool:
        return self._file is not None

    def stream(self, rows: int, provenance: Optional[dict] = None) -> None:
        """Write finished requests to a Parquet file in row groups of ``rows`` while the run
        goes (metrics.stream_rows), instead of holding every column: only the summary's
        columns stay in memory. The file lives in a temporary directory until `Result.save`
        copies it into the run directory; rows are in finishing order."""
        import tempfile
        import weakref
        from pathlib import Path
        self._stream_rows = rows
        self._provenance = provenance   # into the file's metadata, as every saved table has it
        self._dir = tempfile.mkdtemp(prefix="edgesim-requests-")
        self._file = Path(self._dir) / "requests.parquet"
        self._base = 0                  # rows of the summary columns already written
        self._closed = False
        weakref.finalize(self, _remove_tree, self._dir)

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        if not len(self.id):
            return
        table = pa.Table.from_pandas(self._table(self._base, copy=True), preserve_index=False)
        if self._writer is None:
            # One schema for every row group: dictionary (categorical) columns get int32
            # indices, whatever number of categories the first chunk happened to have.
            fields = [pa.field(f.name, pa.dictionary(pa.int32(), f.type.value_type))
                      if pa.types.is_dictionary(f.type) else f for f in table.schema]
            meta = dict(table.schema.metadata or {})
            if self._provenance:
                import json
                meta[b"edgesim"] = json.dumps(self._provenance, sort_keys=True,
                                              default=str).encode()
            self._schema = pa.schema(fields, metadata=meta)
            self._writer = pq.ParquetWriter(self._file, self._schema)
        self._writer.write_table(table.cast(self._schema), row_group_size=len(table))
        del table
        self._base = len(self.outcome)
        for name in ("id", "src", "job", "started", "service", "path", "batch", "nbytes",
                     "answered_by", "accuracy"):
            del getattr(self, name)[:]

    def close(self) -> Path:
        """Write the last row group and close the streamed file (idempotent); its path."""
        if not self._closed:
            self._flush()
            if self._writer is None:        # nothing finished: an empty file, same columns
                self._table(0).to_parquet(self._file, engine="pyarrow", index=False)
            else:
                self._writer.close()
            self._closed = True
        return self._file

    def frame(self) -> pd.DataFrame:
        """The requests table, sorted by request id so it does not depend on finishing order."""
        if self.streamed:
            import pandas as pd
            df = pd.read_parquet(self.close(), engine="pyarrow")
        else:
            df = self._table(0)
        return df.sort_values("id", kind="stable").reset_index(drop=True)

    def _table(self, base: int, copy: bool = False) -> pd.DataFrame:
        """Rows ``base`` onward (in finishing order) of the columns held now."""
        import pandas as pd
        n = len(self.id)

        def col(a, dt, start=0):
            if not n:
                return np.zeros(0, dt)
            v = np.frombuffer(a, dtype=dt)[start:]
            return v.copy() if copy else v

        path_names = [""] * len(self._paths)
        for path, code in self._paths.items():
            path_names[code] = ">".join(self.node_names[i] for i in path)
        outcome = col(self.outcome, np.int8, base)
        finished = col(self.finished, float, base)
        created = col(self.created, float, base)
        done = outcome == 0
        started = col(self.started, float).copy()
        started[started < 0] = np.nan
        df = pd.DataFrame({
            "id": col(self.id, np.int64),
            "source": pd.Categorical.from_codes(col(self.src, np.int32), self.source_names),
            "job": pd.Categorical.from_codes(col(self.job, np.int32), self.job_names),
            "created": created,
            "started": started,
            "finished": np.where(done, finished, np.nan),
            "latency": np.where(done, finished - created, np.nan),
            "wait": col(self.wait, float, base),
            "service": col(self.service, float),
            "nodes": pd.Categorical.from_codes(col(self.path, np.int32), path_names or [""]),
            "batch": col(self.batch, np.int32).astype(np.int64),
            "bytes": col(self.nbytes, float).astype(np.int64),
            "outcome": pd.Categorical.from_codes(outcome, list(OUTCOMES)),
            "warmup": col(self.warm, np.int8, base).astype(bool),
            "ended": finished,
        })
        if self.has_units:
            df["units"] = col(self.units, np.int32, base).astype(np.int64)
        if self.answers:
            labels = [""] * len(self._labels)
            for label, code in self._labels.items():
                labels[code] = label
            df["answered_by"] = pd.Categorical.from_codes(col(self.answered_by, np.int32),
                                                          labels)
            df["accuracy"] = col(self.accuracy, float)
        return df


def _remove_tree(path: str) -> None:
    import shutil
    shutil.rmtree(path, ignore_errors=True)


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

    _COLS = ("time", "bytes", "throughput_bps", "utilization", "busy", "capacity_bps",
             "interval")

    def __init__(self, flows, link_channels: dict[str, list[str]]) -> None:
        self.flows = flows
        self.channels = [(link, ch) for link, chs in link_channels.items() for ch in chs]
        # Columns as typed arrays, one entry per channel per sample (a 1000-camera fleet has
        # ~1,200 channels: an hour at 1 s is 4 million rows, ~1.2 GB as tuples, ~270 MB here).
        self._cols = {c: array("d") for c in self._COLS}
        self._chan = array("i")
        self._nflows = array("q")
        self.mark(0.0)

    def __len__(self) -> int:
        return len(self._chan)

    def mark(self, now: float) -> None:
        """Start counting from now (the end of the warm-up)."""
        self._last = {}
        for _l, ch in self.channels:
            st = self.flows.stats(ch)
            self._last[ch] = (st.bytes_carried, st.busy_time, st.capacity_bps, now)
        for a in self._cols.values():
            del a[:]
        del self._chan[:]
        del self._nflows[:]

    def sample(self, now: float, length: float) -> None:
        c = self._cols
        t_, by, th, ut, bu, ca, iv = (c[k].append for k in self._COLS)
        chan, nflows = self._chan.append, self._nflows.append
        for i, (link, ch) in enumerate(self.channels):
            st = self.flows.stats(ch)
            b0, busy0, cap0, t0 = self._last[ch]
            self._last[ch] = (st.bytes_carried, st.busy_time, st.capacity_bps, now)
            carried = st.bytes_carried - b0
            # Capacity is piecewise constant between samples except under traces, where the
            # mean of the two ends is the best cheap estimate of its integral.
            cap_time = 0.5 * (cap0 + st.capacity_bps) * length
            t_(now)
            chan(i)
            by(carried)
            th(carried * 8.0 / length if length > 0 else 0.0)
            ut(carried * 8.0 / cap_time if cap_time > 0 else 0.0)
            bu((st.busy_time - busy0) / length if length > 0 else 0.0)
            ca(st.capacity_bps)
            nflows(st.flows)
            iv(length)

    def frame(self) -> pd.DataFrame:
        import pandas as pd
        n = len(self._chan)
        f = (lambda a, dt: np.frombuffer(a, dtype=dt).copy() if n else np.zeros(0, dt))
        code = f(self._chan, np.int32)
        links = np.array([l for l, _c in self.channels] or [""], dtype=object)
        chans = np.array([c for _l, c in self.channels] or [""], dtype=object)
        c = self._cols
        df = pd.DataFrame({
            "time": f(c["time"], float),
            "link": links[code], "channel": chans[code],
            "bytes": f(c["bytes"], float), "throughput_bps": f(c["throughput_bps"], float),
            "utilization": f(c["utilization"], float), "busy": f(c["busy"], float),
            "capacity_bps": f(c["capacity_bps"], float), "flows": f(self._nflows, np.int64),
            "interval": f(c["interval"], float),
        })
        for col in ("link", "channel"):
            df[col] = df[col].astype("category")
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
