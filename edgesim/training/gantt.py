"""The figure every training run has: the schedule as a Gantt chart (DEEPCON's Fig. 5: which
model each worker trains when; for Mercury, each device's compute and network lanes). A
system's own figures come from its ``plots`` (DEEPCON's over-the-air loop, federated accuracy).

Drawn like edgesim's other run plots: plain matplotlib Figures on an Agg canvas, written
atomically.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from edgesim.metrics.plots import _new_figure, _placeholder, _save, _title

_KIND_COLOURS = {"compute": "C0", "importance": "C2", "aggregate": "C1", "reshard": "C4",
                 "sum": "C5", "pull": "0.55", "push": "0.3", "deploy": "C7", "upload": "C8",
                 "full-upload": "C3", "update": "C9", "validate": "C6"}


def _title_of(what: str, summary: dict) -> str:
    s = dict(summary)
    s["policy"] = (summary.get(summary.get("system")) or {}).get("schedule")
    return _title(what, s)


def plot_gantt(schedule: pd.DataFrame, summary: dict, path: Path) -> Path:
    """One row per worker or device; compute work as tall bars (training tasks coloured by
    model and labelled M<i>.<round>), network work as thin bars under them."""
    fig = _new_figure(9.0, 1.2 + 0.55 * max(1, schedule["worker"].nunique() if len(schedule)
                                               else 1))
    ax = fig.add_subplot()
    ax.set_title(_title_of("Schedule", summary), fontsize=10)
    if len(schedule) == 0:
        _placeholder(ax, "no work was scheduled")
        return _save(fig, path)
    workers = [w for w in schedule["worker"].cat.categories if (schedule["worker"] == w).any()]
    row = {w: i for i, w in enumerate(workers)}
    models = list(schedule["model"].cat.categories)
    span = float(schedule["end"].max() - schedule["start"].min()) or 1.0
    df = schedule.assign(width=(schedule["end"] - schedule["start"]).clip(lower=span * 1e-4),
                         label=[str(m) if k == "train" else str(k)
                                for m, k in zip(schedule["model"], schedule["kind"])])
    # One broken_barh per (row, label, lane): thousands of tasks draw in one call each group.
    for (worker, label, resource), part in df.groupby(["worker", "label", "resource"],
                                                      observed=True, sort=False):
        colour = (f"C{models.index(label) % 10}" if label in models
                  else _KIND_COLOURS.get(label, "0.5"))
        tall = resource == "compute"
        y = row[worker]
        bottom, height = (y - 0.35, 0.6) if tall else (y + 0.3, 0.12)
        ax.broken_barh(list(zip(part["start"], part["width"])), (bottom, height),
                       facecolors=colour, edgecolor="k" if tall else "none", linewidth=0.3)
    trains = df[df["kind"] == "train"]
    if len(trains) <= 60:
        for rec in trains.itertuples(index=False):
            if rec.width > span / 40:
                ax.text(rec.start + rec.width / 2, row[rec.worker] - 0.05,
                        f"M{models.index(rec.model) + 1}.{rec.round}", ha="center",
                        va="center", fontsize=7)
    from matplotlib.patches import Patch
    labels = list(dict.fromkeys(df["label"]))
    ax.legend(handles=[Patch(facecolor=f"C{models.index(lb) % 10}" if lb in models
                             else _KIND_COLOURS.get(lb, "0.5"), label=lb) for lb in labels],
              loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=6, fontsize=7,
              frameon=False)
    ax.set_yticks(range(len(workers)))
    ax.set_yticklabels(workers)
    ax.invert_yaxis()
    ax.set_xlabel("time (s)")
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path)


def write_training_plots(schedule: pd.DataFrame, summary: dict, out_dir: Path) -> list[Path]:
    """Write ``gantt.png`` into ``out_dir`` (a system's own figures come from its ``plots``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [plot_gantt(schedule, summary, out / "gantt.png")]
