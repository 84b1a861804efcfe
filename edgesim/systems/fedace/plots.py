"""Accuracy of federated runs against simulated time and against rounds, one line per run."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd


def plot_accuracy(runs: dict[str, pd.DataFrame], path: Path,
                  summary: Optional[dict] = None, target: Optional[float] = None) -> Path:
    """Two panels: held-out accuracy against simulated time, and against rounds."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    path.parent.mkdir(parents=True, exist_ok=True)
    if target is None and summary is not None:
        target = (summary.get("federated") or {}).get("target_accuracy")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for i, (label, df) in enumerate(runs.items()):
        d = df.dropna(subset=["accuracy"])
        left.plot(d["end"], d["accuracy"], color=f"C{i}", label=label)
        right.plot(d["round"] + 1, d["accuracy"], color=f"C{i}", label=label)
    for ax, xlabel in ((left, "simulated time (s)"), (right, "round")):
        if target is not None:
            ax.axhline(target, color="0.5", ls="--", lw=1, label=f"target {target:.0%}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out accuracy")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(0, 1)
    left.legend(fontsize=8, loc="lower right")
    title = "accuracy against simulated time and rounds"
    if summary is not None and len(runs) == 1:
        title = f"{summary['scenario']} · {summary['federated']['scheme']} · seed {summary['seed']}"
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
