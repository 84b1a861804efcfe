"""Compare run directories against a baseline, in the layout of Distream's result tables.

For each run directory the comparison reads ``summary.json``, ``timeseries.parquet`` and
``requests.parquet`` and computes:

* **throughput**: per-window inference throughput (Distream's IPS): for each sampling interval,
  the sum over nodes of ``completed`` divided by the interval's length; its mean ("avg"),
  median, 75th and 99th percentiles over the windows;
* **latency**: the latency of completed requests created after the warm-up; mean, median,
  75th and 99th percentiles;
* **SLO miss rate**: as recorded in ``summary.json`` (``None`` when the scenario has no SLO);
* the **imbalance index** over time (Distream Eq. 1.1): per sampling interval,
  ``v = max_i u_i / mean_i u_i - 1`` over the camera nodes, with ``u_i`` = time-average queue
  plus busy executors of node i (0 when every camera is idle);
* the **accumulated queued work** over time: the sum of ``queue`` over all nodes per interval.

Relative to the baseline run (Distream Tables 1.2 and 1.4): throughput gain = run / baseline
and latency reduction = baseline / run, at each statistic, so the baseline's row is exactly 1.

``timeseries.parquet`` only holds post-warm-up samples (sampling starts at the end of the
warm-up); rows that would start before the warm-up (read from ``scenario.resolved.yaml``) are
dropped all the same, and so is a final partial interval shorter than half the sampling
interval (its rate would be noise: two completions in a millisecond are not 2000 IPS).

Everything here is computation; plots are in :mod:`edgesim.analysis.compare_plots` and the
command line in :mod:`edgesim.cli.compare`.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import pandas as pd

from edgesim.metrics.atomic import write_text_atomic

__all__ = ["CompareError", "RunData", "Comparison", "STATS", "LABEL_MODES", "load_run",
           "assign_labels", "window_ips", "completed_latencies", "camera_nodes",
           "imbalance_index", "queued_work", "describe", "box_stats", "compare",
           "to_markdown", "to_csv", "write_tables"]

#: The statistics of the tables: (column suffix, quantile; None is the mean).
STATS: tuple[tuple[str, Optional[float]], ...] = (
    ("avg", None), ("median", 0.5), ("p75", 0.75), ("p99", 0.99))
_STAT_HEAD = {"avg": "avg", "median": "med", "p75": "75th", "p99": "99th"}

#: What ``--label`` may pick a run's name from.
LABEL_MODES = ("policy", "dir", "scenario")

_TS_COLUMNS = ["time", "node", "queue", "busy", "completed", "interval"]
_REQ_COLUMNS = ["latency", "outcome", "warmup"]


class CompareError(Exception):
    """A user mistake (not a run directory, unknown baseline): reported without a traceback."""


# ------------------------------------------------------------------------------------ loading

@dataclass
class RunData:
    """One run directory, reduced to what the comparison needs."""

    path: Path
    summary: dict
    timeseries: pd.DataFrame          # post-warm-up rows, columns _TS_COLUMNS
    latency: np.ndarray               # completed, measured requests
    warmup: float = 0.0
    interval: Optional[float] = None  # the scenario's metrics.interval, when known
    label: str = ""

    @property
    def policy(self) -> str:
        return str(self.summary.get("policy", ""))

    @property
    def scenario(self) -> str:
        return str(self.summary.get("scenario", ""))


def _read_parquet(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise CompareError(f"{path.parent}: incomplete run directory (no {path.name})")
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception:  # pyarrow raises several types: a missing column, a damaged file
        pass
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise CompareError(f"{path}: cannot read ({exc})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise CompareError(f"{path}: missing column(s) {', '.join(missing)}")
    return df[columns]  # pragma: no cover - the first read would have worked


def _resolved(path: Path) -> dict:
    """The run's resolved scenario, or {} (it is optional: only warm-up and interval are used)."""
    try:
        import yaml
        data = yaml.safe_load((path / "scenario.resolved.yaml").read_text(encoding="utf-8"))
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def _number(x) -> Optional[float]:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def load_run(path: Union[str, Path]) -> RunData:
    """Read a run directory; :class:`CompareError` if it is not one (no ``summary.json``)."""
    p = Path(path)
    if not p.is_dir():
        raise CompareError(f"{path}: not a run directory (no such folder)")
    if not (p / "summary.json").is_file():
        raise CompareError(f"{path}: not a run directory (no summary.json)")
    try:
        summary = json.loads((p / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompareError(f"{path}: unreadable summary.json ({exc})") from None
    if not isinstance(summary, dict):
        raise CompareError(f"{path}: summary.json is not a JSON object")
    resolved = _resolved(p)
    warmup = _number(resolved.get("warmup")) or 0.0
    metrics = resolved.get("metrics") if isinstance(resolved.get("metrics"), dict) else {}
    interval = _number(metrics.get("interval"))

    ts = _read_parquet(p / "timeseries.parquet", _TS_COLUMNS).copy()
    ts["node"] = ts["node"].astype(str)
    for c in ("time", "queue", "busy", "completed", "interval"):
        ts[c] = pd.to_numeric(ts[c], errors="coerce").astype(float)
    ts = ts[np.isfinite(ts["time"]) & np.isfinite(ts["interval"]) & (ts["interval"] > 0)]
    # Post-warm-up rows only: an interval (time - interval, time] must start at or after it.
    tol = 1e-9 * max(1.0, abs(warmup))
    ts = ts[ts["time"] - ts["interval"] >= warmup - tol].reset_index(drop=True)

    req = _read_parquet(p / "requests.parquet", _REQ_COLUMNS)
    return RunData(path=p, summary=summary, timeseries=ts, latency=completed_latencies(req),
                   warmup=warmup, interval=interval)


def completed_latencies(requests: pd.DataFrame) -> np.ndarray:
    """Latencies of completed requests created after the warm-up (unsorted, finite)."""
    mask = (requests["outcome"].astype(str) == "completed").to_numpy() & \
        ~requests["warmup"].fillna(False).astype(bool).to_numpy()
    lat = pd.to_numeric(requests["latency"], errors="coerce").to_numpy(dtype=float)[mask]
    return lat[np.isfinite(lat)]


# ------------------------------------------------------------------------------ time series

def window_ips(ts: pd.DataFrame, interval: Optional[float] = None) -> pd.Series:
    """Inference throughput per sampling interval: sum over nodes of ``completed`` / interval.

    Indexed by the interval's end time. A final interval shorter than half the sampling interval
    (``interval``, else the median interval length) is left out.
    """
    if ts.empty:
        return pd.Series(dtype=float, name="ips")
    g = ts.groupby("time", sort=True)
    done = g["completed"].sum()
    length = g["interval"].max()
    nominal = interval if interval else float(length.median())
    keep = length >= 0.5 * nominal - 1e-12
    ips = (done[keep] / length[keep]).astype(float)
    ips.name = "ips"
    return ips


def camera_nodes(nodes: Iterable[str], cameras: str) -> list[str]:
    """The members of the camera group: names ``<cameras><number>`` (``cam0``, ``cam1``...).

    When no node is named so, every node whose name starts with ``cameras`` is taken instead,
    so a prefix of several groups (``--cameras tx`` for ``tx1a``, ``tx2b``) also works.
    """
    names = sorted({str(n) for n in nodes}, key=lambda s: [int(t) if t.isdigit() else t
                                                        for t in re.split(r"(\d+)", s)])
    exact = re.compile(re.escape(cameras) + r"\d+")
    found = [n for n in names if exact.fullmatch(n)]
    return found or [n for n in names if n.startswith(cameras)]


def imbalance_index(ts: pd.DataFrame, cameras: Union[str, Sequence[str]]) -> pd.Series:
    """Distream's workload imbalance index over the camera nodes, per sampling interval.

    ``v = max_i u_i / mean_i u_i - 1`` with ``u_i = queue + busy`` (time averages over the
    interval); 0 when every camera is idle. ``cameras`` is a group name (see
    :func:`camera_nodes`) or the node names themselves. Empty when there are no camera nodes.
    """
    names = camera_nodes(ts["node"].unique(), cameras) if isinstance(cameras, str) else \
        list(cameras)
    if ts.empty or not names:
        return pd.Series(dtype=float, name="imbalance")
    cam = ts[ts["node"].isin(names)]
    u = (cam["queue"] + cam["busy"]).groupby([cam["time"], cam["node"]]).mean().unstack("node")
    u = u.sort_index()
    mx, mean = u.max(axis=1), u.mean(axis=1)
    v = (mx / mean.where(mean > 0) - 1.0).where(mean > 0, 0.0)
    v.name = "imbalance"
    return v.astype(float)


def queued_work(ts: pd.DataFrame) -> pd.Series:
    """Accumulated queued work: the sum of ``queue`` over all nodes, per sampling interval."""
    if ts.empty:
        return pd.Series(dtype=float, name="queued")
    q = ts.groupby("time", sort=True)["queue"].sum().astype(float)
    q.name = "queued"
    return q


# ------------------------------------------------------------------------------- statistics

def describe(values) -> dict[str, float]:
    """avg (mean), median, p75 and p99 of ``values`` (NaN for each when empty)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {k: math.nan for k, _ in STATS}
    return {k: float(v.mean()) if q is None else float(np.quantile(v, q)) for k, q in STATS}


def box_stats(values, label: str) -> Optional[dict]:
    """Statistics for matplotlib's ``bxp``: box p25/p50/p75, whiskers p1/p99, mean, no fliers
    (Distream Figures 1.10 and 1.11). None when there are no values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    p1, q1, med, q3, p99 = np.quantile(v, [0.01, 0.25, 0.5, 0.75, 0.99])
    return {"label": label, "whislo": float(p1), "q1": float(q1), "med": float(med),
            "q3": float(q3), "whishi": float(p99), "mean": float(v.mean()), "fliers": []}


def _ratio(num: float, den: float) -> float:
    if not (math.isfinite(num) and math.isfinite(den)) or den == 0:
        return math.nan
    return num / den


# ----------------------------------------------------------------------------------- labels

def assign_labels(runs: Sequence[RunData], mode: str = "policy") -> list[str]:
    """A unique label per run.

    ``policy`` (default) and ``scenario`` use that field of ``summary.json``; a run whose value
    is shared with another run is named by its directory instead. ``dir`` uses the directory
    name. Labels that still collide become the path as given, then get ``#2``, ``#3``...
    """
    if mode not in LABEL_MODES:
        raise CompareError(f"--label must be one of {', '.join(LABEL_MODES)}, not {mode!r}")
    dirs = [r.path.name or str(r.path) for r in runs]
    if mode == "dir":
        labels = list(dirs)
    else:
        values = [r.policy if mode == "policy" else r.scenario for r in runs]
        labels = [v if v and values.count(v) == 1 else d for v, d in zip(values, dirs)]
    labels = [str(r.path) if labels.count(lab) > 1 else lab for r, lab in zip(runs, labels)]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab}#{seen[lab]}")
    return out


# ------------------------------------------------------------------------------- comparison

@dataclass
class Comparison:
    """The comparison of runs against a baseline: the table and the per-run series for plots."""

    runs: list[RunData]
    baseline: str
    cameras: str
    label_mode: str
    table: pd.DataFrame                                   # one row per run, CSV columns
    ips: dict[str, pd.Series] = field(default_factory=dict)
    imbalance: dict[str, pd.Series] = field(default_factory=dict)
    queued: dict[str, pd.Series] = field(default_factory=dict)
    camera_names: dict[str, list[str]] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]


def compare(paths: Sequence[Union[str, Path]], baseline: str, *, label: str = "policy",
            cameras: str = "cam") -> Comparison:
    """Load the run directories and compare each with the one labelled ``baseline``."""
    if not paths:
        raise CompareError("no run directories given")
    runs = [load_run(p) for p in paths]
    for run, lab in zip(runs, assign_labels(runs, label)):
        run.label = lab
    labels = [r.label for r in runs]
    if baseline not in labels:
        raise CompareError(f"unknown baseline {baseline!r}; the runs are labelled: "
                           + ", ".join(labels) + f" (labels by {label}; see --label)")

    ips, imb, queued, cams, rows = {}, {}, {}, {}, []
    for r in runs:
        ips[r.label] = window_ips(r.timeseries, r.interval)
        cams[r.label] = camera_nodes(r.timeseries["node"].unique(), cameras)
        imb[r.label] = imbalance_index(r.timeseries, cams[r.label])
        queued[r.label] = queued_work(r.timeseries)
        s = r.summary
        row = {"label": r.label, "baseline": r.label == baseline, "run_dir": str(r.path),
               "scenario": s.get("scenario"), "policy": s.get("policy"), "seed": s.get("seed")}
        row.update({f"throughput_{k}_ips": v for k, v in describe(ips[r.label]).items()})
        row.update({f"latency_{k}_s": v for k, v in describe(r.latency).items()})
        row["slo_s"] = _number(s.get("slo_s"))
        row["slo_miss_rate"] = _number(s.get("slo_miss_rate"))
        row["windows"] = int(len(ips[r.label]))
        row["completed"] = int(r.latency.size)
        row["imbalance_mean"] = float(imb[r.label].mean()) if len(imb[r.label]) else math.nan
        row["queued_mean"] = float(queued[r.label].mean()) if len(queued[r.label]) else math.nan
        rows.append(row)

    base = next(row for row in rows if row["baseline"])
    for row in rows:
        for k, _ in STATS:
            row[f"throughput_gain_{k}"] = _ratio(row[f"throughput_{k}_ips"],
                                                 base[f"throughput_{k}_ips"])
            row[f"latency_reduction_{k}"] = _ratio(base[f"latency_{k}_s"], row[f"latency_{k}_s"])
        if row["baseline"]:  # exactly 1 by definition, even where 0/0 or NaN would be computed
            for k, _ in STATS:
                row[f"throughput_gain_{k}"] = 1.0
                row[f"latency_reduction_{k}"] = 1.0

    columns = (["label", "baseline", "run_dir", "scenario", "policy", "seed"]
               + [f"throughput_gain_{k}" for k, _ in STATS]
               + [f"latency_reduction_{k}" for k, _ in STATS]
               + [f"throughput_{k}_ips" for k, _ in STATS]
               + [f"latency_{k}_s" for k, _ in STATS]
               + ["slo_s", "slo_miss_rate", "windows", "completed", "imbalance_mean",
                  "queued_mean"])
    table = pd.DataFrame(rows, columns=columns)
    return Comparison(runs=runs, baseline=baseline, cameras=cameras, label_mode=label,
                      table=table, ips=ips, imbalance=imb, queued=queued, camera_names=cams)


# ---------------------------------------------------------------------------------- output

def _factor(x) -> str:
    v = _number(x)
    if v is None:
        return "n/a"
    if v >= 100:
        return f"{v:.0f}x"
    return f"{v:.1f}x" if v >= 10 else f"{v:.2f}x"


def _value(x, digits: int = 4) -> str:
    v = _number(x)
    return "n/a" if v is None else f"{v:.{digits}g}"


def _percent(x) -> str:
    v = _number(x)
    return "n/a" if v is None else f"{100 * v:.1f} %"


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    out = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
           "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


def to_markdown(cmp: Comparison) -> str:
    """The tables as Markdown: gains over the baseline (Distream Table 1.2/1.4), absolute
    values (Table 1.5) with the SLO miss rate, and where each run came from.

    Written out rather than ``DataFrame.to_markdown``: that needs ``tabulate``, a dependency
    for a few lines, and these tables mix formats per column (1.50x, 67.3 ms, 2.4 %)."""
    t = cmp.table
    stats = [k for k, _ in STATS]
    heads = [_STAT_HEAD[k] for k in stats]

    def name(row) -> str:
        return f"{row['label']} (baseline)" if row["baseline"] else str(row["label"])

    lines = [f"# Comparison with baseline `{cmp.baseline}`", ""]
    lines += [f"## Performance gain over {cmp.baseline}", ""]
    header = ([""] + [f"Throughput {heads[0]}"] + heads[1:] + [f"Latency {heads[0]}"]
              + heads[1:])
    rows = [[name(r)] + [_factor(r[f"throughput_gain_{k}"]) for k in stats]
            + [_factor(r[f"latency_reduction_{k}"]) for k in stats] for _, r in t.iterrows()]
    lines += _md_table(header, rows, "l" + "r" * 8)
    lines += ["", "Throughput gain = run / baseline, latency reduction = baseline / run, at each "
              "statistic: the mean (avg), median, 75th and 99th percentile of per-window "
              "inference throughput (IPS: completions summed over nodes per sampling interval, "
              "divided by the interval) and of the latency of completed requests created after "
              "the warm-up.", ""]

    lines += ["## Absolute performance", ""]
    header = ([""] + [f"Throughput (IPS) {heads[0]}"] + heads[1:] + [f"Latency (s) {heads[0]}"]
              + heads[1:] + ["SLO miss rate"])
    rows = [[name(r)] + [_value(r[f"throughput_{k}_ips"]) for k in stats]
            + [_value(r[f"latency_{k}_s"]) for k in stats] + [_percent(r["slo_miss_rate"])]
            for _, r in t.iterrows()]
    lines += _md_table(header, rows, "l" + "r" * 9)
    lines += [""]

    lines += ["## Runs", ""]
    header = ["", "run directory", "scenario", "policy", "seed", "SLO (s)", "windows",
              "completed", "mean imbalance", "mean queued"]
    rows = [[str(r["label"]), f"`{r['run_dir']}`", str(r["scenario"]), str(r["policy"]),
             str(r["seed"]), _value(r["slo_s"]), str(r["windows"]), f"{r['completed']:,}",
             _value(r["imbalance_mean"], 3), _value(r["queued_mean"], 3)]
            for _, r in t.iterrows()]
    lines += _md_table(header, rows, "lllllrrrrr")
    lines += ["", f"Imbalance index v = max_i u_i / mean_i u_i - 1 over the camera nodes (names "
              f"`{cmp.cameras}<n>`), u_i = time-average queue + busy executors; queued work = "
              "sum of the time-average queue over all nodes; both averaged over the sampling "
              "intervals.", ""]
    return "\n".join(lines)


def to_csv(cmp: Comparison) -> str:
    """One row per run, relative and absolute columns, floats at full (round-trip) precision;
    NaN/None as empty fields."""
    t = cmp.table.copy()
    t["baseline"] = t["baseline"].map({True: "true", False: "false"})
    return t.to_csv(index=False, lineterminator="\n")


def write_tables(cmp: Comparison, out_dir: Union[str, Path]) -> list[Path]:
    """Write ``comparison.md`` and ``comparison.csv`` (atomically) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, csv = out / "comparison.md", out / "comparison.csv"
    write_text_atomic(md, to_markdown(cmp))
    write_text_atomic(csv, to_csv(cmp))
    return [md, csv]
