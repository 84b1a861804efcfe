"""FedAvg against FedAce (or any federated runs) in the layout of the paper's Table 3.2.

For each run against the first (the baseline): the reduction in rounds to the target accuracy,
the per-round time ratio (mean simulated round time up to the target), their product, the
speed-up in time to target, and the reduction in bytes per round; with the final sparsity and
model size. Because time to target = rounds to target x mean round time up to it, the
speed-up equals rounds ratio x per-round ratio exactly (the table checks it does).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import pandas as pd

from edgesim.training.comparison import Comparison


class Compared:
    """One federated run: its label, summary and rounds table."""

    def __init__(self, label: str, summary: dict, rounds: pd.DataFrame) -> None:
        self.label, self.summary, self.rounds = label, summary, rounds
        self.fed = summary["federated"]


def load_run(ref: str, seed: Optional[int] = None, sets: tuple = ()) -> Compared:
    """A run directory (summary.json + rounds.parquet), or a scenario to run now."""
    p = Path(ref)
    if p.is_dir() and (p / "summary.json").exists():
        summary = json.loads((p / "summary.json").read_text())
        if "federated" not in summary:
            raise ValueError(f"{p}: not a federated run")
        return Compared(summary["scenario"], summary, pd.read_parquet(p / "rounds.parquet"))
    from edgesim.api import load_named, simulation_class
    sf = load_named(ref, sets)
    if sf.spec.training is None or sf.spec.training.federated is None:
        raise ValueError(f"{ref}: not a federated scenario (training.federated)")
    result = simulation_class(sf)(sf, seed).build().check().run().collect()
    return Compared(result.summary["scenario"], result.summary, result.rounds)


def _to_target(run: Compared, target: float) -> tuple[Optional[int], Optional[float]]:
    d = run.rounds.dropna(subset=["accuracy"])
    hit = d[d["accuracy"] >= target]
    if hit.empty:
        return None, None
    row = hit.iloc[0]
    return int(row["round"]) + 1, float(row["end"])


def table(runs: list[Compared], target: float) -> pd.DataFrame:
    """One row per run; ratios against runs[0]."""
    base = runs[0]
    rb, tb = _to_target(base, target)
    bpr_b = base.fed["bytes_per_round"]
    rows = []
    for run in runs:
        r, t = _to_target(run, target)
        per_round = t / r if r else math.nan
        rounds_ratio = rb / r if r and rb else math.nan
        round_ratio = (tb / rb) / per_round if r and rb else math.nan
        rows.append({
            "run": run.label,
            "scheme": run.fed["scheme"],
            "rounds_to_target": r,
            "time_to_target_s": t,
            "round_time_s": per_round,
            "rounds_reduction": rounds_ratio,
            "round_time_reduction": round_ratio,
            "speedup": tb / t if t and tb else math.nan,
            "bytes_per_round": run.fed["bytes_per_round"],
            "traffic_reduction": bpr_b / run.fed["bytes_per_round"],
            "final_accuracy": run.fed["final_accuracy"],
            "final_sparsity": run.fed["final_sparsity"],
            "final_size": run.fed["final_model_fraction"],
        })
    return pd.DataFrame(rows)


def compare(refs: list, target: Optional[float] = None, seed: Optional[int] = None,
            sets: tuple = ()) -> Comparison:
    """Federated runs side by side in the layout of Table 3.2, ratios against refs[0] at
    ``target`` held-out accuracy (default: the baseline's target_accuracy)."""
    from edgesim.systems.fedace.plots import plot_accuracy
    loaded = [load_run(r, seed, sets) for r in refs]
    goal = target if target is not None else loaded[0].fed["target_accuracy"]
    if goal is None:
        raise ValueError("the baseline has no target_accuracy; give --target")
    labels = [c.label for c in loaded]
    if len(set(labels)) < len(labels):
        for i, c in enumerate(loaded):
            c.label = f"{c.label} [{i}]"
    curves = {c.label: c.rounds for c in loaded}
    return Comparison(f"ratios against {loaded[0].label} at {goal:.0%} held-out accuracy",
                      table(loaded, goal),
                      [("accuracy.png", lambda path: plot_accuracy(curves, path, target=goal))])


#: The paper's Table 3.2 (FedAce over FedAvg), a reference for the guide, never a target.
PAPER_TABLE_3_2 = pd.DataFrame([
    ("Fed-Cifar10", 2.2, 2.4, 5.28, 0.693),
    ("Femnist", 1.7, 2.76, 4.7, 0.753),
    ("Fed-TSC", 1.9, 3.44, 6.54, 0.828),
    ("StackOverflow", 1.6, 2.03, 3.24, 0.588),
], columns=["dataset", "rounds_reduction", "comm_cost_reduction", "speedup", "final_sparsity"])
