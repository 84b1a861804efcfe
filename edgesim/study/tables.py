"""A study's tables: one row per run (runs.parquet) and mean +- confidence interval per
configuration and metric (summary.parquet, summary.csv).

Rows follow the plan's order (configuration, then replication), never the order runs finished
in, so the tables do not depend on the executor or on how many workers raced.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping, Optional, Sequence

import pandas as pd

from edgesim.study.tstats import mean_ci

#: Summary values that measure the machine, not the simulated system: they stay in runs.parquet
#: (the benchmark reads them) but are not metrics, and they differ between two identical runs.
TIMING = ("wall_time_s", "speedup")
#: Numeric summary entries that are columns of their own rather than metrics.
NOT_METRICS = ("seed",) + TIMING
RUN_COLUMNS = ("config", "replication", "seed", "key", "status", "error")
STAT_COLUMNS = ("n", "mean", "std", "ci_half", "ci_low", "ci_high", "failed")


def flatten(summary: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Numeric leaves of a run summary as {'latency_s.p99': 0.8, ...}; None stays None.

    Strings, lists and booleans are left out: they are labels, not measurements.
    """
    out: dict[str, Any] = {}
    for k, v in summary.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, name + "."))
        elif v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
            out[name] = v
    return out


def param_value(values: Sequence[Any]) -> list:
    """A parameter column Parquet can store: numbers stay numbers, anything mixed becomes text."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return list(values)
    if all(isinstance(v, bool) for v in values):
        return list(values)
    return [v if isinstance(v, str) else json.dumps(v) for v in values]


def metric_column(name: str, params: Iterable[str]) -> str:
    """A metric's column name; prefixed only where an axis has the same dotted name."""
    return f"summary:{name}" if name in set(params) or name in RUN_COLUMNS else name


def runs_table(plan, outcomes: Mapping[str, dict]) -> pd.DataFrame:
    """One row per planned run: its config, replication, seed, key, status, parameters and
    every numeric summary value (a run not executed has status 'missing')."""
    configs = {c.index: c for c in plan.configs}
    rows, metric_order = [], {}
    for ref in plan.runs:
        got = outcomes.get(ref.key)
        row: dict[str, Any] = {"config": ref.config, "replication": ref.replication,
                               "seed": ref.seed, "key": ref.key,
                               "status": got["status"] if got else "missing",
                               "error": (got or {}).get("error")}
        metrics = {}
        if got and got.get("summary"):
            for name, v in flatten(got["summary"]).items():
                if name == "seed":
                    continue
                col = metric_column(name, plan.params)
                metrics[col] = v
                metric_order.setdefault(col, len(metric_order))
        rows.append((row, configs[ref.config].params, metrics))
    columns = list(RUN_COLUMNS) + list(plan.params) + sorted(metric_order, key=metric_order.get)
    data: dict[str, list] = {c: [] for c in columns}
    for row, params, metrics in rows:
        for c in RUN_COLUMNS:
            data[c].append(row[c])
        for p in plan.params:
            data[p].append(params.get(p))
        for c in columns[len(RUN_COLUMNS) + len(plan.params):]:
            v = metrics.get(c)
            data[c].append(math.nan if v is None else v)
    for p in plan.params:
        data[p] = param_value(data[p])
    df = pd.DataFrame(data, columns=columns)
    df["error"] = df["error"].astype("object")
    for c in ("config", "replication", "seed"):
        df[c] = df[c].astype("int64")
    return df


def metric_columns(runs: pd.DataFrame, params: Iterable[str]) -> list[str]:
    """The metric columns of a runs table (everything but run columns, axes and timing)."""
    skip = set(RUN_COLUMNS) | set(params) | set(NOT_METRICS)
    return [c for c in runs.columns if c not in skip]


def summary_table(runs: pd.DataFrame, params: Sequence[str], metrics: Optional[Sequence[str]],
                  confidence: float) -> pd.DataFrame:
    """Long format: one row per configuration and metric with n, mean, std and the Student-t
    interval at ``confidence``; `failed` counts the configuration's runs that did not finish."""
    metrics = list(metrics) if metrics else metric_columns(runs, params)
    rows = []
    for config, group in runs.groupby("config", sort=True):
        ok = group[group.status == "ok"]
        failed = int((group.status != "ok").sum())
        first = group.iloc[0]
        for m in metrics:
            n, mean, std, half = mean_ci(ok[m].tolist() if m in ok else [], confidence)
            row = {"config": int(config)}
            row.update({p: first[p] for p in params})
            row.update({"metric": m, "n": n, "mean": mean, "std": std, "ci_half": half,
                        "ci_low": None if half is None else mean - half,
                        "ci_high": None if half is None else mean + half, "failed": failed})
            rows.append(row)
    columns = ["config", *params, "metric", *STAT_COLUMNS]
    df = pd.DataFrame(rows, columns=columns)
    for c in ("mean", "std", "ci_half", "ci_low", "ci_high"):
        df[c] = df[c].astype("float64")
    for c in ("config", "n", "failed"):
        df[c] = df[c].astype("int64")
    return df
