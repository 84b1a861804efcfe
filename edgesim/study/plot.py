"""`edgesim plot`: a metric of a sweep against one of its axes, with confidence bands.

The means and Student-t intervals are recomputed from runs.parquet (at the sweep's confidence
level), so any metric of the runs can be plotted, not only those kept in summary.parquet.
Axes other than ``x`` and ``hue`` that vary are folded into the lines' labels, so no line ever
averages over configurations. matplotlib is imported only here, without pyplot, and the PNG
is written atomically, like the run plots (:mod:`edgesim.metrics.plots`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

import pandas as pd

from edgesim.errors import UserError, did_you_mean
from edgesim.metrics.atomic import atomic_path
from edgesim.metrics.parquet_read import read_parquet
from edgesim.study.tables import metric_columns
from edgesim.study.tstats import mean_ci


def load_sweep_dir(directory: Union[str, Path]) -> tuple[pd.DataFrame, dict]:
    """(runs table, plan) of a sweep's output folder."""
    d = Path(directory)
    try:
        plan = json.loads((d / "sweep.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        plan = None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{d / 'sweep.json'}: not a sweep plan (not valid JSON: {exc})") from None
    if plan is None or not (d / "runs.parquet").is_file():
        raise UserError(f"{d} is not a finished sweep folder (needs sweep.json and "
                        "runs.parquet: run `edgesim sweep` first)")
    return read_parquet(d / "runs.parquet"), plan


def _pick(name: Optional[str], valid: list, option: str) -> Optional[str]:
    if name is None or name in valid:
        return name
    hint = did_you_mean(name, valid)
    raise UserError(f"{option} {name!r} is not one of this sweep's "
                    f"{'axes' if option != '--y' else 'metrics'}"
                    + (f" (did you mean {hint!r}?)" if hint else "")
                    + f"; valid: {', '.join(valid) if valid else '(none)'}")


#: Units of the summary's metrics and of common scenario keys, by the name's last part.
_UNITS = {"wait_s": "s", "latency_s": "s", "sim_time_s": "s", "throughput_ips": "requests/s",
          "inference_ips": "inferences/s", "rate": "per s", "bandwidth": "bit/s",
          "duration": "s", "interval": "s", "deadline": "s", "max_wait": "s", "latency": "s"}
#: Metrics that are fractions: their intervals are clipped to [0, 1].
_FRACTIONS = ("slo_miss_rate", "utilization", "availability", "accuracy", "drop_rate",
              "miss_rate")


def axis_label(key: str) -> str:
    """A readable axis label: the key's last parts and their unit, the full key below it."""
    parts = key.split(".")
    head = parts[0] if parts[0] in _UNITS or parts[0] in _FRACTIONS else parts[-1]
    unit = _UNITS.get(head) or _UNITS.get(parts[-1])
    if any(key.startswith(f) or f".{f}" in key for f in _FRACTIONS):
        unit = "fraction"
    short = ".".join(parts[-2:]) if head == parts[0] and len(parts) > 1 else parts[-1]
    text = short + (f" ({unit})" if unit else "")
    return text if short == key else f"{text}\n{key}"


_NON_NEGATIVE = ("wait_s", "latency_s", "throughput_ips", "inference_ips", "requests",
                 "sim_time_s", "events", "queue", "bytes")


def metric_range(key: str) -> tuple[float, float]:
    """The values a metric can take, to clip its t-interval to: [0, 1] for fractions (an
    availability band once ran from -1.0 to 1.5 with n = 2), [0, inf) for times, throughputs
    and counts, unbounded for anything else."""
    if any(key.startswith(f) or f".{f}" in key for f in _FRACTIONS):
        return 0.0, 1.0
    if key.split(".")[0] in _NON_NEGATIVE:
        return 0.0, float("inf")
    return float("-inf"), float("inf")


def curves(runs: pd.DataFrame, params: list, x: str, y: str, hue: Optional[str],
           confidence: float) -> pd.DataFrame:
    """One row per (line, x): label, x, n, mean and interval bounds of ``y`` over its runs."""
    ok = runs[runs.status == "ok"]
    others = [p for p in params if p not in (x, hue)]
    group_by = ([hue] if hue else []) + [p for p in others if ok[p].nunique() > 1]
    rows = []
    for keys, g in (ok.groupby(group_by, sort=True, dropna=False) if group_by else [((), ok)]):
        keys = keys if isinstance(keys, tuple) else (keys,)
        label = ", ".join(f"{k}={v}" for k, v in zip(group_by, keys))
        for xv, gx in g.groupby(x, sort=True):
            n, mean, _std, half = mean_ci(gx[y].tolist(), confidence)
            rows.append({"label": label, "x": xv, "n": n, "mean": mean,
                         "low": None if half is None else mean - half,
                         "high": None if half is None else mean + half})
    return pd.DataFrame(rows, columns=["label", "x", "n", "mean", "low", "high"])


def plot_sweep(directory: Union[str, Path], x: str, y: str, hue: Optional[str] = None,
               out: Union[str, Path, None] = None, confidence: Optional[float] = None) -> Path:
    """Draw ``y`` (a metric) against ``x`` (an axis), one line per ``hue`` value; return the PNG."""
    runs, plan = load_sweep_dir(directory)
    params = list(plan.get("params", []))
    x = _pick(x, params, "--x")
    hue = _pick(hue, [p for p in params if p != x], "--hue")
    y = _pick(y, metric_columns(runs, params), "--y")
    level = confidence or plan.get("confidence", 0.95)
    data = curves(runs, params, x, y, hue, level)
    if data.empty:
        raise UserError(f"no finished run in {directory} has a value of {y}")
    target = Path(out) if out else Path(directory) / "plots" / (
        f"{y}-vs-{x}" + (f"-by-{hue}" if hue else "") + ".png").replace("/", "_")
    target.parent.mkdir(parents=True, exist_ok=True)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    numeric = pd.api.types.is_numeric_dtype(runs[x])
    categories = sorted(data.x.unique(), key=str) if not numeric else None
    lo, hi = metric_range(y)
    data["low"] = data["low"].clip(lower=lo, upper=hi)
    data["high"] = data["high"].clip(lower=lo, upper=hi)
    for label, g in data.groupby("label", sort=True):
        xs = g.x.tolist() if numeric else [categories.index(v) for v in g.x]
        # Categories have no order between them: points, not a line through them.
        line = ax.plot(xs, g["mean"], marker="o", linestyle="-" if numeric else "none",
                       label=label or None)[0]
        band = g.dropna(subset=["low", "high"])
        bx = band.x.tolist() if numeric else [categories.index(v) for v in band.x]
        if numeric and len(band) > 1:
            ax.fill_between(bx, band.low, band.high, color=line.get_color(), alpha=0.2,
                            linewidth=0)
        elif len(band):
            ax.errorbar(bx, band["mean"], yerr=[band["mean"] - band.low, band.high - band["mean"]],
                        fmt="none", ecolor=line.get_color(), capsize=4)
    if categories is not None:
        ax.set_xticks(range(len(categories)), [str(c) for c in categories])
    elif all(float(v).is_integer() for v in data.x):
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # no tick at 4.2 servers
    ax.set_xlabel(axis_label(x), fontsize=9)
    ax.set_ylabel(axis_label(y), fontsize=9)
    n_min = int(data.n.min())
    few = f"; n = {n_min}: t-intervals are wide" if n_min < 3 else ""
    ax.set_title(f"{plan.get('name', 'sweep')}: mean and {level:.0%} CI "
                 f"({plan.get('replications', '?')} replications{few})", fontsize=10)
    ax.grid(True, alpha=0.3)
    if data.label.nunique() > 1 or (data.label != "").any():
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=110)
    return target
