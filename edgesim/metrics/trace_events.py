"""A run as a timeline to scroll through: the Chrome trace-event format that Perfetto
(ui.perfetto.dev) and chrome://tracing open, as Vidur exports its runs.

Built from a run folder's own tables, so any run (serving or training, old or new) converts:

* requests.parquet: each request is a slice from its creation to its end on the track of its
  source, and its service a slice on the track of the node that served it last;
* transfers.parquet (runs with links): each transfer a slice on its link's track;
* schedule.parquet (training runs): each task a slice on its worker's compute or network track.

Times are simulated seconds written as microseconds (the format's unit). Slices are sorted, so
the file is the same bytes for the same run.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["trace_events", "write_trace_events"]

_US = 1e6


def _slice(name: str, start: float, end: float, pid: str, tid: str, args: dict) -> dict:
    return {"name": name, "ph": "X", "ts": round(start * _US, 3),
            "dur": round(max(end - start, 0.0) * _US, 3), "pid": pid, "tid": tid, "args": args}


def _args(record: dict, skip: tuple) -> dict:
    """A row's other columns as slice arguments (NaN, which JSON lacks, as null)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in record.items() if k not in skip}


def _finite(*xs: Any) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in xs)


def trace_events(run_dir: str | Path, limit: int = 200_000) -> dict:
    """The trace-event document of the run in ``run_dir`` (at most ``limit`` slices a table)."""
    from edgesim.metrics.parquet_read import read_parquet
    run = Path(run_dir)
    events: list[dict] = []
    req = run / "requests.parquet"
    if req.is_file():
        df = read_parquet(req).head(limit)
        for r in df.itertuples(index=False):
            if not _finite(r.created, r.ended):
                continue
            args = {"id": int(r.id), "job": str(r.job), "outcome": str(r.outcome),
                    "wait_s": r.wait, "service_s": r.service, "nodes": str(r.nodes)}
            events.append(_slice(f"{r.job} #{r.id}", r.created, r.ended, "requests",
                                 str(r.source), args))
            if _finite(r.started, r.service) and r.service > 0:
                node = str(r.nodes).split(">")[-1].split(",")[-1].strip() or "node"
                events.append(_slice(f"{r.job} #{r.id}", r.started, r.started + r.service,
                                     "nodes", node, {"batch": int(r.batch)}))
    tr = run / "transfers.parquet"
    if tr.is_file():
        for r in read_parquet(tr).head(limit).to_dict("records"):
            if _finite(r.get("start"), r.get("end")):
                events.append(_slice(f"{r.get('src')} -> {r.get('dst')}", r["start"], r["end"],
                                     "network", f"{r.get('src')} -> {r.get('dst')}",
                                     _args(r, ("start", "end"))))
    sched = run / "schedule.parquet"
    if sched.is_file():
        df = read_parquet(sched).head(limit)
        for r in df.to_dict("records"):
            if _finite(r.get("start"), r.get("end")):
                name = str(r.get("kind", "task"))
                if r.get("model") is not None:
                    name += f" {r['model']}"
                events.append(_slice(name, r["start"], r["end"], str(r.get("worker", "worker")),
                                     str(r.get("resource", "compute")),
                                     _args(r, ("start", "end"))))
    events.sort(key=lambda e: (e["ts"], e["pid"], e["tid"], e["name"]))
    meta = {}
    summary = run / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text(encoding="utf-8"))
        meta = {k: s[k] for k in ("scenario", "seed", "policy", "system", "edgesim_version")
                if s.get(k) is not None}
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": meta}


def write_trace_events(run_dir: str | Path, out: str | Path | None = None,
                       limit: int = 200_000) -> Path:
    """Write ``trace.json`` (or ``out``) for the run in ``run_dir``, atomically."""
    from edgesim.metrics.atomic import write_text_atomic
    target = Path(out) if out else Path(run_dir) / "trace.json"
    doc = trace_events(run_dir, limit)
    write_text_atomic(target, json.dumps(doc, default=str, separators=(",", ":")) + "\n")
    return target
