"""Standard per-run figures: latency CDF, throughput, queue lengths and utilization.

matplotlib is imported inside :func:`write_run_plots`, never at module import, and pyplot is not
used at all: figures are plain :class:`matplotlib.figure.Figure` objects drawn on an Agg canvas,
so plotting neither touches global backend state nor leaks figures into pyplot's registry.
Every PNG is written through :func:`edgesim.metrics.atomic.atomic_path`.
"""
from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgesim.metrics.atomic import atomic_path

__all__ = ["write_run_plots", "MAX_NODE_LINES"]

#: Above this many nodes, per-node lines are replaced by aggregates (mean with min-max band).
MAX_NODE_LINES = 12
_DPI = 110


def _node_key(name: Any) -> list:
    """Natural sort key, so edge2 sorts before edge10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def _sorted_nodes(nodes) -> list:
    return sorted({n for n in nodes if not (isinstance(n, float) and math.isnan(n))}, key=_node_key)


def _title(what: str, summary: dict) -> str:
    parts = [str(summary.get(k)) for k in ("scenario", "policy") if summary.get(k) is not None]
    if summary.get("seed") is not None:
        parts.append(f"seed {summary['seed']}")
    return f"{what} \u2014 " + " \u00b7 ".join(parts) if parts else what


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _new_figure(width: float = 7.0, height: float = 4.2):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _placeholder(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes,
            fontsize=12, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig, path: Path) -> Path:
    try:
        fig.tight_layout()
    except Exception:  # layout is cosmetic; never fail a run over it
        pass
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=_DPI)
    finally:
        fig.clear()  # Figures never enter pyplot's registry; clearing frees artists promptly
    return path


# --------------------------------------------------------------------------------------- figures

def _completed_latencies(requests: pd.DataFrame) -> np.ndarray:
    if requests is None or len(requests) == 0:
        return np.empty(0)
    mask = pd.Series(True, index=requests.index)
    if "outcome" in requests:
        mask &= requests["outcome"].astype(str) == "completed"
    if "warmup" in requests:
        mask &= ~requests["warmup"].fillna(False).astype(bool)
    if "latency" in requests:
        lat = pd.to_numeric(requests["latency"], errors="coerce")
    elif "finished" in requests and "created" in requests:
        lat = (pd.to_numeric(requests["finished"], errors="coerce")
               - pd.to_numeric(requests["created"], errors="coerce"))
    else:
        return np.empty(0)
    lat = lat[mask].to_numpy(dtype=float)
    return np.sort(lat[np.isfinite(lat)])


def _plot_latency_cdf(requests: pd.DataFrame, summary: dict, path: Path) -> Path:
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.set_title(_title("Latency CDF", summary), fontsize=10)
    lat = _completed_latencies(requests)
    if lat.size == 0:
        _placeholder(ax, "no completed requests")
        return _save(fig, path)

    n = lat.size
    ax.step(lat, np.arange(1, n + 1) / n, where="post", color="C0", lw=1.6,
            label=f"completed requests (n={n:,})")
    positive = lat[lat > 0]
    if positive.size and positive.max() / positive.min() > 100.0:
        ax.set_xscale("log")

    given = summary.get("latency_s") or {}
    for q, key, colour in ((0.50, "p50", "C2"), (0.95, "p95", "C1"), (0.99, "p99", "C3")):
        v = _finite(given.get(key)) if isinstance(given, dict) else None
        if v is None:
            v = float(np.quantile(lat, q))
        ax.plot([v], [q], marker="o", ms=6, color=colour, zorder=3, ls="none",
                label=f"{key} = {v:.4g} s")
        ax.axhline(q, color=colour, lw=0.6, ls=":", alpha=0.6)

    slo = _finite(summary.get("slo_s"))
    if slo is not None and slo > 0:
        met = float(np.mean(lat <= slo))
        ax.axvline(slo, color="k", ls="--", lw=1.2, label=f"SLO = {slo:.4g} s ({met:.1%} met)")

    ax.set_xlabel("latency (s)")
    ax.set_ylabel("fraction of requests \u2264 latency")
    ax.set_ylim(0.0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def _pivot(timeseries: pd.DataFrame, column: str) -> pd.DataFrame:
    """time x node table of ``column`` (NaN where a node has no sample), nodes naturally sorted."""
    if (timeseries is None or len(timeseries) == 0
            or not {"time", "node", column} <= set(timeseries.columns)):
        return pd.DataFrame()
    ts = timeseries[["time", "node", column]].copy()
    ts["time"] = pd.to_numeric(ts["time"], errors="coerce")
    ts[column] = pd.to_numeric(ts[column], errors="coerce")
    ts = ts[np.isfinite(ts["time"].to_numpy(dtype=float))]
    if ts.empty:
        return pd.DataFrame()
    table = ts.pivot_table(index="time", columns="node", values=column, aggfunc="mean", dropna=False)
    return table.reindex(columns=_sorted_nodes(table.columns)).sort_index()


def _with_first_interval(t: np.ndarray, *series: np.ndarray):
    """Prepend the start of the first sampling interval so ``steps-pre`` draws it too.

    Samples are stamped at the *end* of their interval; with ``drawstyle="steps-pre"`` the value
    at t[i] covers (t[i-1], t[i]], which leaves the first interval undrawn unless its start is
    added (inferred from the sampling period, or 0 for a lone sample).
    """
    if t.size == 0:
        return (t, *series)
    if t.size > 1:
        start = t[0] - (t[1] - t[0])
    else:
        start = 0.0 if t[0] > 0 else t[0] - 1.0
    return (np.r_[start, t], *(np.r_[s[0], s] for s in series))


def _plot_throughput(timeseries: pd.DataFrame, summary: dict, path: Path) -> Path:
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.set_title(_title("Throughput", summary), fontsize=10)
    table = _pivot(timeseries, "throughput")
    if table.empty or not np.isfinite(table.to_numpy(dtype=float)).any():
        _placeholder(ax, "no throughput samples")
        return _save(fig, path)

    t0 = table.index.to_numpy(dtype=float)
    t, total = _with_first_interval(t0, table.sum(axis=1, min_count=1).to_numpy(dtype=float))
    ax.plot(t, total, drawstyle="steps-pre", color="k", lw=2.0, label="system (sum over nodes)")
    if 1 < table.shape[1] <= MAX_NODE_LINES:  # one node: its line is the total
        for i, node in enumerate(table.columns):
            ax.plot(*_with_first_interval(t0, table[node].to_numpy(dtype=float)), drawstyle="steps-pre",
                    lw=1.0, alpha=0.8, color=f"C{i % 10}", label=str(node))
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("completions / s")
    ax.set_ylim(bottom=0.0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=7, ncol=2 if table.shape[1] > 5 else 1)
    return _save(fig, path)


def _plot_queues(timeseries: pd.DataFrame, summary: dict, path: Path) -> Path:
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.set_title(_title("Queue length", summary), fontsize=10)
    table = _pivot(timeseries, "queue")
    if table.empty or not np.isfinite(table.to_numpy(dtype=float)).any():
        _placeholder(ax, "no queue samples")
        return _save(fig, path)

    t0 = table.index.to_numpy(dtype=float)
    n_nodes = table.shape[1]
    if n_nodes <= MAX_NODE_LINES:
        for i, node in enumerate(table.columns):
            ax.plot(*_with_first_interval(t0, table[node].to_numpy(dtype=float)), drawstyle="steps-pre",
                    lw=1.2, color=f"C{i % 10}", label=str(node))
    else:
        values = table.to_numpy(dtype=float)
        with warnings.catch_warnings():  # all-NaN rows give NaN, which is what we want
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, mean, hi = np.nanmin(values, 1), np.nanmean(values, 1), np.nanmax(values, 1)
        t, lo, mean, hi = _with_first_interval(t0, lo, mean, hi)
        ax.fill_between(t, lo, hi, step="pre", color="C0", alpha=0.25,
                        label=f"min\u2013max over {n_nodes} nodes")
        ax.plot(t, mean, drawstyle="steps-pre", color="C0", lw=1.6,
                label=f"mean over {n_nodes} nodes")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("time-average queue length")
    ax.set_ylim(bottom=0.0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=7, ncol=2 if n_nodes > 5 and n_nodes <= MAX_NODE_LINES else 1)
    return _save(fig, path)


def _utilization_values(summary: dict, timeseries: pd.DataFrame) -> dict:
    util = summary.get("utilization")
    if isinstance(util, dict) and util:
        return {str(k): util[k] for k in util}
    table = _pivot(timeseries, "utilization")  # fallback: mean of the sampled series
    return {} if table.empty else {str(k): v for k, v in table.mean(axis=0).items()}


def _plot_utilization(summary: dict, timeseries: pd.DataFrame, path: Path) -> Path:
    values = _utilization_values(summary, timeseries)
    nodes = _sorted_nodes(values)
    n = len(nodes)
    horizontal = n > MAX_NODE_LINES
    if horizontal:
        fig = _new_figure(7.0, min(max(0.2 * n + 1.5, 4.2), 30.0))
    else:
        fig = _new_figure(max(5.0, min(0.6 * n + 3.0, 12.0)), 4.2)
    ax = fig.add_subplot()
    ax.set_title(_title("Utilization", summary), fontsize=10)
    if n == 0:
        _placeholder(ax, "no utilization data")
        return _save(fig, path)

    raw = np.array([_finite(values[k]) if _finite(values[k]) is not None else np.nan for k in nodes])
    missing = ~np.isfinite(raw)
    heights = np.clip(np.where(missing, 0.0, raw), 0.0, 1.0)
    pos = np.arange(n)
    colours = ["C3" if h >= 0.9 else "C0" for h in heights]
    label_size = 9 if n <= 20 else max(4.0, 9 - n / 25)
    if horizontal:
        ax.barh(pos, heights, color=colours, height=0.8)
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("utilization (busy / executors)")
        ax.set_ylim(n - 0.5, -0.5)  # first node at the top
        if n <= 150:
            ax.set_yticks(pos, [str(k) for k in nodes], fontsize=label_size)
        else:
            ax.set_ylabel(f"{n} nodes")
            ax.set_yticks([])
        ax.grid(True, axis="x", alpha=0.3)
    else:
        ax.bar(pos, heights, color=colours, width=0.7)
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("utilization (busy / executors)")
        ax.set_xticks(pos, [str(k) for k in nodes], rotation=30 if n > 4 else 0,
                      ha="right" if n > 4 else "center", fontsize=label_size)
        ax.grid(True, axis="y", alpha=0.3)
        for x, h, miss in zip(pos, heights, missing):
            ax.text(x, min(h, 0.92) + 0.02, "n/a" if miss else f"{h:.0%}", ha="center",
                    va="bottom", fontsize=8)
    if horizontal and missing.any() and n <= 150:
        for y in pos[missing]:
            ax.text(0.01, y, "n/a", va="center", fontsize=label_size)
    return _save(fig, path)


# ------------------------------------------------------------------------------------------ API

def write_run_plots(requests: pd.DataFrame, timeseries: pd.DataFrame, summary: dict,
                    out_dir: Path) -> list[Path]:
    """Write ``latency_cdf.png``, ``throughput.png``, ``queues.png`` and ``utilization.png``.

    ``out_dir`` is created if missing.  Each file is written atomically, so an interrupted run
    never leaves a truncated PNG.  Empty inputs produce a figure that says so rather than an
    error.  Returns the paths written, in the order above.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summary or {}
    if requests is None:
        requests = pd.DataFrame()
    if timeseries is None:
        timeseries = pd.DataFrame()
    return [
        _plot_latency_cdf(requests, summary, out / "latency_cdf.png"),
        _plot_throughput(timeseries, summary, out / "throughput.png"),
        _plot_queues(timeseries, summary, out / "queues.png"),
        _plot_utilization(summary, timeseries, out / "utilization.png"),
    ]
