"""CLUE runs side by side (the paper's §7.2): how much faster each adapts to its drifts than
the first run (the isolated baseline), how high the error rose, and what it cost in bytes
(Eq. 3a / 3b), against the run that moved the most (FedAvg's push)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import pandas as pd

from edgesim.training.comparison import Comparison

#: The paper's headline (§7.2.1, §7.2.2): a reference for the guide, never a target.
PAPER_ADAPTATION = {"faster_than_isolated": (2.0, 3.5),
                    "bytes_reduction_per_member_node": (30, 270),
                    "bytes_reduction_aggregator": (120, 1070)}


def load_summary(ref: str, seed: Optional[int] = None, sets: tuple = ()) -> dict:
    """summary.json of a CLUE run directory, or of a CLUE scenario run now."""
    p = Path(ref)
    if p.is_dir() and (p / "summary.json").exists():
        summary = json.loads((p / "summary.json").read_text())
    else:
        from edgesim.api import load_named
        from edgesim.training.simulation import TrainingSimulation
        sf = load_named(ref, sets)
        if sf.spec.training is None or sf.spec.training.clue is None:
            raise ValueError(f"{ref}: not a CLUE scenario (training.clue)")
        summary = TrainingSimulation(sf, seed).check().run().collect().summary
    if "clue" not in summary:
        raise ValueError(f"{ref}: not a CLUE run")
    return summary


def table(summaries: list[dict]) -> pd.DataFrame:
    """One row per run: recovery against runs[0], bytes against the run that moved most.
    Batches to recover average every drift, an unrecovered one counted as the batches it was
    observed (a lower bound)."""
    base = summaries[0]["clue"]["mean_batches_to_recover_censored"]
    most = max(s["clue"]["bytes_total"] for s in summaries)
    rows = []
    for s in summaries:
        c = s["clue"]
        b = c["mean_batches_to_recover_censored"]
        rows.append({
            "run": s["scenario"], "mode": c["mode"], "seed": s["seed"],
            "recovered": f"{c['recovered']}/{c['scheduled_drifts']}",
            "batches_to_recover": b,
            "faster_than_first": base / b if b and base else math.nan,
            "seconds_to_recover": c["mean_seconds_to_recover"],
            "peak_error": c["mean_peak_error"],
            "mean_error": c["mean_error"],
            "helped": c["helped"],
            "bytes_total": c["bytes_total"],
            "bytes_reduction": most / c["bytes_total"] if c["bytes_total"] else math.inf,
            "eq3_matches": c["eq3"]["formula_bytes"] == c["eq3"]["counted_bytes"],
        })
    return pd.DataFrame(rows)


def compare(refs: list, target: Optional[float] = None, seed: Optional[int] = None,
            sets: tuple = ()) -> Comparison:
    """CLUE runs side by side: recovery against refs[0] (the isolated baseline), bytes against
    the run that moved most (``target`` is not used: recovery has its own threshold)."""
    df = table([load_summary(r, seed, sets) for r in refs])
    return Comparison(f"recovery against {df.run.iloc[0]}, bytes against the run that moved "
                      "most", df)
