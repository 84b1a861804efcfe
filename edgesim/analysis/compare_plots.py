"""Figures of a comparison of runs (Distream Figures 1.10 to 1.13).

* ``throughput_box.png`` and ``latency_box.png``: one box per run, box at p25/p50/p75, whiskers
  at p1/p99 (custom ``bxp`` statistics, not matplotlib's 1.5 IQR rule), the mean as a dot;
* ``slo_miss.png``: SLO miss rate per run;
* ``imbalance.png``: the cross-camera imbalance index over time and its distribution over time;
* ``queued_work.png``: the queued work summed over all nodes, over time and its distribution.

Same style as :mod:`edgesim.metrics.plots`: matplotlib Figure objects on an Agg canvas (no
pyplot), every PNG written atomically.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

from edgesim.analysis.compare import Comparison, box_stats
from edgesim.metrics.plots import _new_figure, _placeholder, _save, _with_first_interval

__all__ = ["write_compare_plots", "PLOT_NAMES"]

PLOT_NAMES = ("throughput_box.png", "latency_box.png", "slo_miss.png", "imbalance.png",
              "queued_work.png")
_BASELINE_COLOUR = "0.45"


def _colours(cmp: Comparison) -> dict[str, str]:
    """One colour per run, the same in every figure; the baseline grey."""
    out, i = {}, 0
    for lab in cmp.labels:
        if lab == cmp.baseline:
            out[lab] = _BASELINE_COLOUR
        else:
            out[lab] = f"C{i % 10}"
            i += 1
    return out


def _tick(cmp: Comparison, label: str) -> str:
    return f"{label}\n(baseline)" if label == cmp.baseline else label


def _set_ticks(ax, positions, labels) -> None:
    n = len(labels)
    widest = max((len(line) for s in labels for line in s.split("\n")), default=0)
    rotate = n > 5 or widest > 14
    ax.set_xticks(positions, labels, rotation=30 if rotate else 0,
                  ha="right" if rotate else "center", fontsize=8 if n > 8 else 9)


def _boxes(cmp: Comparison, data: dict, title: str, ylabel: str, path: Path,
           log_if_wide: bool) -> Path:
    labels = cmp.labels
    fig = _new_figure(max(5.5, min(1.1 * len(labels) + 3.0, 14.0)), 4.6)
    ax = fig.add_subplot()
    ax.set_title(f"{title}\nbox p25\u2013p50\u2013p75, whiskers p1\u2013p99, dot = mean",
                 fontsize=10)
    stats, pos, colours = [], [], _colours(cmp)
    for i, lab in enumerate(labels):
        st = box_stats(data[lab], lab)
        if st is not None:
            stats.append(st)
            pos.append(i)
    if not stats:
        _placeholder(ax, "no data")
        return _save(fig, path)
    art = ax.bxp(stats, positions=pos, widths=0.55, showmeans=True, showfliers=False,
                 patch_artist=True, meanprops={"marker": "o", "markerfacecolor": "k",
                                               "markeredgecolor": "k", "markersize": 4},
                 medianprops={"color": "k", "lw": 1.6})
    for box, st in zip(art["boxes"], stats):
        box.set_facecolor(colours[st["label"]])
        box.set_alpha(0.75)
    lo = min(s["whislo"] for s in stats)
    hi = max(s["whishi"] for s in stats)
    positive = [s["whislo"] for s in stats if s["whislo"] > 0]
    if log_if_wide and positive and hi / min(positive) > 100.0:
        ax.set_yscale("log")
        ylabel += " (log scale)"
    elif lo >= 0:
        ax.set_ylim(bottom=0.0)
    missing = [i for i in range(len(labels)) if i not in pos]
    for i in missing:
        ax.text(i, 0.5, "no data", ha="center", va="center", color="0.35", fontsize=8,
                transform=ax.get_xaxis_transform())
    ax.set_xlim(-0.6, len(labels) - 0.4)
    _set_ticks(ax, range(len(labels)), [_tick(cmp, lab) for lab in labels])
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    return _save(fig, path)


def _plot_slo(cmp: Comparison, path: Path) -> Path:
    t = cmp.table
    labels = cmp.labels
    fig = _new_figure(max(5.0, min(0.9 * len(labels) + 3.0, 14.0)), 4.4)
    ax = fig.add_subplot()
    slos = sorted({float(s) for s in t["slo_s"] if s is not None and np.isfinite(s)})
    which = (f"SLO = {slos[0]:.4g} s" if len(slos) == 1 else
             "SLO per run" if slos else "no SLO set")
    ax.set_title(f"Latency SLO miss rate ({which})\nslower than the SLO or not completed, "
                 "requests created after the warm-up", fontsize=10)
    rates = pd.to_numeric(t["slo_miss_rate"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(rates).any():
        _placeholder(ax, "no SLO miss rates (the scenarios set no metrics.slo)")
        return _save(fig, path)
    colours = _colours(cmp)
    heights = np.where(np.isfinite(rates), rates * 100.0, 0.0)
    pos = np.arange(len(labels))
    ax.bar(pos, heights, width=0.6, color=[colours[lab] for lab in labels], alpha=0.85)
    top = max(float(heights.max()), 1.0)
    for x, h, r in zip(pos, heights, rates):
        ax.text(x, h + 0.015 * top, "n/a" if not math.isfinite(r) else f"{h:.1f} %",
                ha="center", va="bottom", fontsize=8)
    ticks = [_tick(cmp, lab) for lab in labels]
    if len(slos) > 1:
        ticks = [f"{tk}\nSLO {s:.3g} s" if s is not None and np.isfinite(s) else tk
                 for tk, s in zip(ticks, t["slo_s"])]
    _set_ticks(ax, pos, ticks)
    ax.set_ylim(0.0, min(100.0, top * 1.15) if top < 100 else 105.0)
    ax.set_ylabel("SLO miss rate (%)")
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def _over_time(cmp: Comparison, series: dict, title: str, subtitle: str, ylabel: str,
               empty: str, path: Path) -> Path:
    """Left: the series over simulated time per run; right: its distribution over time (CDF)."""
    fig = _new_figure(11.0, 4.4)
    fig.suptitle(f"{title}\n{subtitle}", fontsize=9)
    ax, cdf = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    colours = _colours(cmp)
    drawn = False
    for lab in cmp.labels:
        s = series.get(lab)
        if s is None or len(s) == 0:
            continue
        t0 = s.index.to_numpy(dtype=float)
        v = s.to_numpy(dtype=float)
        name = f"{lab} (baseline)" if lab == cmp.baseline else lab
        lw = 1.8 if lab == cmp.baseline else 1.3
        ax.plot(*_with_first_interval(t0, v), drawstyle="steps-pre", lw=lw,
                color=colours[lab], label=name)
        finite = np.sort(v[np.isfinite(v)])
        if finite.size:
            frac = np.arange(1, finite.size + 1) / finite.size
            cdf.step(finite, frac, where="post", lw=lw, color=colours[lab], label=name)
        drawn = True
    if not drawn:
        _placeholder(ax, empty)
        _placeholder(cdf, empty)
        return _save(fig, path)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0.0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    cdf.set_xlabel(ylabel)
    cdf.set_ylabel("fraction of time \u2264 value")
    cdf.set_xlim(left=0.0)
    cdf.set_ylim(0.0, 1.02)
    cdf.grid(True, alpha=0.3)
    return _save(fig, path)


def _cameras_text(cmp: Comparison) -> str:
    names = sorted({n for ns in cmp.camera_names.values() for n in ns})
    if not names:
        return f"no camera nodes named {cmp.cameras}<n>"
    shown = ", ".join(names[:6]) + (f", \u2026 ({len(names)} nodes)" if len(names) > 6 else "")
    return f"camera nodes {shown}"


def write_compare_plots(cmp: Comparison, out_dir: Union[str, Path]) -> list[Path]:
    """Write the five comparison PNGs (``PLOT_NAMES``) into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    latency = {r.label: r.latency for r in cmp.runs}
    return [
        _boxes(cmp, {k: v.to_numpy(dtype=float) for k, v in cmp.ips.items()},
               "Throughput per sampling interval", "inference throughput (IPS)",
               out / PLOT_NAMES[0], log_if_wide=False),
        _boxes(cmp, latency, "Latency of completed requests", "latency (s)",
               out / PLOT_NAMES[1], log_if_wide=True),
        _plot_slo(cmp, out / PLOT_NAMES[2]),
        _over_time(cmp, cmp.imbalance, "Cross-camera workload imbalance",
                   r"$v = \mathrm{max}_i\, u_i \,/\, \mathrm{mean}_i\, u_i - 1$ per sampling interval, "
                   "\n"
                   r"$u_i$ = time-average queue + busy executors of camera $i$ "
                   f"({_cameras_text(cmp)}); 0 = balanced",
                   "imbalance index v", f"no camera nodes named {cmp.cameras}<n>",
                   out / PLOT_NAMES[3]),
        _over_time(cmp, cmp.queued, "Accumulated queued work",
                   "sum over all nodes of the time-average queue length per sampling interval",
                   "queued requests (all nodes)", "no queue samples", out / PLOT_NAMES[4]),
    ]
