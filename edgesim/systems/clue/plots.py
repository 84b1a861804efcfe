"""Figures of a CLUE run: each node's rolling error against simulated time with its drifts
marked (scheduled, detected, helper model created), and the bytes each node moved by
operation."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

OP_COLOURS = {"MU_out": "C0", "MU_in": "C1", "MdS_out": "C2", "KT_in": "C3", "control": "0.6"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    return plt


def plot_errors(batches: pd.DataFrame, detections: pd.DataFrame, recovery: pd.DataFrame,
                path: Path, summary: dict) -> Path:
    """One panel per node: rolling error (the drift detector's input) and each batch's error
    against simulated time; dashed lines at scheduled drifts, dotted at detections, green at
    the arrival of help."""
    plt = _plt()
    path.parent.mkdir(parents=True, exist_ok=True)
    nodes = list(dict.fromkeys(batches["node"].astype(str))) or ["-"]
    fig, axes = plt.subplots(len(nodes), 1, figsize=(10, 1.7 + 1.6 * len(nodes)),
                             sharex=True, squeeze=False, constrained_layout=True)
    for ax, name in zip(axes[:, 0], nodes):
        b = batches[batches["node"].astype(str) == name]
        ax.plot(b["end"], b["error"], color="0.75", lw=0.8, label="batch error")
        ax.plot(b["end"], b["rolling_error"], color="C0", lw=1.4, label="rolling error")
        when = dict(zip(b["batch"], b["arrival"]))
        for r in recovery[recovery["node"] == name].itertuples():
            ax.axvline(when.get(r.batch, float("nan")), color="C3", ls="--", lw=1)
        for d in detections[detections["node"] == name].itertuples():
            ax.axvline(d.time, color="C1", ls=":", lw=1.2)
            if d.helped == d.helped:          # not NaN
                ax.axvline(d.helped, color="C2", lw=1.2)
        ax.set_ylabel(name, fontsize=8)
        ax.set_ylim(0, 1)
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("simulated time (s)")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color="C0", label="rolling error"),
               Line2D([], [], color="0.75", label="batch error"),
               Line2D([], [], color="C3", ls="--", label="scheduled drift"),
               Line2D([], [], color="C1", ls=":", label="drift detected"),
               Line2D([], [], color="C2", label="helper model created")]
    axes[0, 0].legend(handles=handles, fontsize=7, loc="upper right", ncol=5)
    fig.suptitle(f"{summary['scenario']} · mode {summary['clue']['mode']} · seed "
                 f"{summary['seed']}")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_bytes(transfers: pd.DataFrame, path: Path, summary: dict) -> Path:
    """Bytes each node moved (sent or received), stacked by operation, on a log axis: CLUE's
    pull moves orders of magnitude less than FedAvg's push."""
    plt = _plt()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 3.5), constrained_layout=True)
    if len(transfers):
        t = transfers.assign(node=transfers["node"].astype(str), op=transfers["op"].astype(str))
        table = t.pivot_table(index="node", columns="op", values="bytes", aggfunc="sum",
                              fill_value=0.0, observed=True)
        bottom = None
        for op in [o for o in OP_COLOURS if o in table.columns]:
            ax.bar(table.index, table[op], bottom=bottom, color=OP_COLOURS[op], label=op)
            bottom = table[op] if bottom is None else bottom + table[op]
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no bytes moved (isolated learning)", ha="center",
                transform=ax.transAxes)
    ax.set_ylabel("bytes")
    ax.set_title(f"{summary['scenario']} · bytes per node by operation", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
