"""DEEPCON's figure of an over-the-air run: the gap estimates from the uploaded samples against
the gap on all items, and the bytes uploaded against a full upload."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from edgesim.metrics.plots import _new_figure, _placeholder, _save
from edgesim.training.gantt import _title_of


def plot_ota(windows: pd.DataFrame, summary: dict, path: Path) -> Path:
    """The gap estimate against the full data's gap, and cumulative bytes uploaded against a
    full upload of every item."""
    fig = _new_figure(8.0, 6.0)
    top, bottom = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    top.set_title(_title_of("Over-the-air loop", summary), fontsize=10)
    if windows is None or len(windows) == 0:
        _placeholder(top, "no window ended")
        return _save(fig, path)
    t = windows["end"]
    top.plot(t, windows["data_gap"], color="k", lw=1.2, label="gap on all items")
    top.plot(t, windows["estimate"], color="C0", lw=1.0, marker=".", label="estimate from sample")
    top.plot(t, windows["true_gap"], color="0.6", ls="--", lw=1.0, label="input gap")
    for x in t[windows["triggered"]]:
        top.axvline(x, color="C3", lw=0.8, alpha=0.7)
    top.set_ylabel("<Acc-CC> gap")
    top.legend(fontsize=8)
    top.grid(True, alpha=0.3)
    bottom.plot(t, windows["full_bytes"].cumsum() / 1e6, color="k", label="full upload")
    bottom.plot(t, windows["sample_bytes"].cumsum() / 1e6, color="C0", label="sample upload")
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("MB uploaded (cumulative)")
    bottom.legend(fontsize=8)
    bottom.grid(True, alpha=0.3)
    return _save(fig, path)
