"""Tables over parameter grids of a training scenario: one run per combination of values (and
seed), one row per run with the varied keys and the system's headline figures. Fig. 2.11 of
the Mercury chapter (speedup versus bandwidth) is such a table over `links.wifi.bandwidth`
and `training.mercury.schedule`; Fig. 8 of DEEPCON over the worker count and the schedule;
Fig. 7(b) over the sample fraction. Which figures make a row is the system's (its registry
record's ``headline``)."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import pandas as pd

def pick(summary: dict, section: str, key) -> object:
    """``summary[section][key]`` (a tuple key walks nested sections); None where missing."""
    node = summary.get(section) or {}
    for k in (key if isinstance(key, tuple) else (key,)):
        node = node.get(k) if isinstance(node, dict) else None
    return node


def row_of(summary: dict) -> dict:
    """The headline figures of one run's summary: its system's ``headline`` (in the
    registry), else every number and string of its summary section."""
    from edgesim.registry import get
    system = get(summary["system"])
    fn = system.load("headline")
    if fn is not None:
        return fn(summary)
    body = summary.get(summary["system"]) or {}
    return {k: v for k, v in body.items() if isinstance(v, (int, float, str, bool))
            or v is None}


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
