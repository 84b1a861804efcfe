"""Tables over parameter grids of a training scenario: one run per combination of values (and
seed), one row per run with the varied keys and the system's headline figures. Fig. 2.11 of
the Mercury chapter (speedup versus bandwidth) is such a table over `links.wifi.bandwidth`
and `training.mercury.schedule`; Fig. 8 of DEEPCON over the worker count and the schedule;
Fig. 7(b) over the sample fraction."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import pandas as pd

#: Summary figures reported per system: (column, section, key).
COLUMNS = {
    "mercury": [("schedule", "mercury", "schedule"), ("devices", "mercury", "devices"),
                ("t_cp_s", "mercury", "t_cp_s"), ("t_cm_s", "mercury", "t_cm_s"),
                ("group", "mercury", "group_mean"), ("t_is_s", "mercury", "t_is_s"),
                ("iteration_s", "mercury", "mean_iteration_s"),
                ("sgd_iteration_s", "mercury", "reference_sgd_iteration_s"),
                ("time_ratio", "mercury", "time_ratio"),
                ("e_ratio", "mercury", ("convergence", "ratio")),
                ("speedup_vs_sgd", "mercury", "speedup_vs_sgd")],
    "deepcon": [("schedule", "deepcon", "schedule"), ("workers", "deepcon", "workers"),
                ("time_to_rounds_s", "deepcon", "time_to_rounds_s"),
                ("mean_utilisation", "deepcon", "mean_utilisation"),
                ("parallel_speedup", "deepcon", "parallel_speedup")],
    "ota": [("sampler", "ota", "sampler"), ("sample_fraction", "ota", "sample_fraction"),
            ("items", "ota", "items"), ("sampled", "ota", "sampled"),
            ("sample_mb", "ota", "sample_bytes"), ("full_mb", "ota", "full_stream_bytes"),
            ("saved_by_sampling", "ota", "saved_by_sampling"),
            ("mean_gap_shift", "ota", "mean_gap_shift"), ("triggers", "ota", "triggers")],
}
# OTA runs with real models (`ota.learning`) add what the models learned and, with `compare`,
# the other sampler's run of the same seed.
COLUMNS["ota-learning"] = COLUMNS["ota"] + [
    ("updates", "ota", ("learning", "updates_installed")),
    ("final_accuracy", "ota", ("learning", "final_heldout_accuracy")),
    ("mean_accuracy", "ota", ("learning", "mean_heldout_accuracy")),
    ("served_accuracy", "ota", ("learning", "served_accuracy")),
    ("final_gap", "ota", ("learning", "final_heldout_gap")),
    ("asrs_minus_random_final", "ota", ("sampler_comparison", "asrs_minus_random",
                                        "final_heldout_accuracy")),
    ("asrs_minus_random_mean", "ota", ("sampler_comparison", "asrs_minus_random",
                                       "mean_heldout_accuracy")),
    ("shift_random_over_asrs", "ota", ("sampler_comparison", "gap_shift_random_over_asrs"))]


def _pick(summary: dict, section: str, key) -> object:
    node = summary.get(section) or {}
    for k in (key if isinstance(key, tuple) else (key,)):
        node = node.get(k) if isinstance(node, dict) else None
    if isinstance(node, float) and key in ("sample_bytes", "full_stream_bytes"):
        return node / 1e6
    return node


def row_of(summary: dict) -> dict:
    """The headline figures of one run's summary."""
    kind = "ota" if "ota" in summary else summary["system"]
    if kind == "ota" and "learning" in summary["ota"]:
        kind = "ota-learning"
    return {col: _pick(summary, section, key) for col, section, key in COLUMNS[kind]}


def sweep(scenario: Union[str, Path], grid: Sequence[tuple[str, Sequence[str]]],
          seeds: Iterable[Optional[int]] = (None,), base: Sequence[str] = ()) -> pd.DataFrame:
    """Run every combination of ``grid`` (key path, values as `--set` would give them) for
    every seed; ``base`` overrides apply to all runs. Raises ScenarioError on a bad value."""
    from edgesim import api
    rows = []
    keys = [k for k, _v in grid]
    for combo in itertools.product(*[list(v) for _k, v in grid]):
        overrides = list(base) + [f"{k}={v}" for k, v in zip(keys, combo)]
        sf = api.load(scenario, overrides)
        for seed in seeds:
            summary = api.run(sf, seed=seed).summary
            row = dict(zip(keys, combo))
            row["seed"] = summary["seed"]
            row.update(row_of(summary))
            rows.append(row)
    return pd.DataFrame(rows)
