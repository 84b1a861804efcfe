"""A bandwidth trace as a step plot."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesim.metrics.atomic import atomic_path


def plot_trace(trace, path: Path, title: str = "") -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8, 3.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    t = np.append(trace.times, trace.duration)
    v = np.append(trace.bps, trace.bps[-1]) * trace.scale / 1e6 if len(trace.bps) else t * 0
    ax.step(t, v, where="post", lw=0.9)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("bandwidth (Mbit/s)")
    ax.set_title(f"{title}\nmean {trace.mean_bps() / 1e6:.2f} Mbit/s, after the end: {trace.end}",
                 fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    return path
