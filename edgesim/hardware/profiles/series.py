"""Per-model series: one model's bundle rows on one device and phase, sorted by batch.

Split out of :mod:`edgesim.hardware.profiles.predictor` (which re-imports these names); this module
must not import torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import pandas as pd


# ------------------------------------------------------------------------------ per-model series

@dataclass
class _Series:
    """One model's rows on one device and phase, sorted by batch (times in seconds)."""

    batches: list[int]
    q: dict[str, list[float]]            # "median", "p10", "p90", "p99" -> values (nan: unknown)
    row_prov: list[str]
    path: str
    config: str                          # e.g. "threads=2, input 3x224x224"


_QCOLS = (("median", "median_ms"), ("p10", "p10_ms"), ("p90", "p90_ms"), ("p99", "p99_ms"))


def _config_label(shape: str, threads: Any) -> str:
    parts = []
    if threads is not pd.NA and threads is not None and not (isinstance(threads, float)
                                                             and math.isnan(threads)):
        parts.append(f"threads={int(threads)}")
    if shape:
        parts.append(f"input {shape}")
    return ", ".join(parts)


def _shape_dims(shape: str) -> list[int]:
    return [int(x) for x in shape.split("x")] if shape else []


def _per_input_shapes(rows: pd.DataFrame) -> list[str]:
    """The rows' input shapes without the batch dimension.

    The contract writes per-input shapes (``3x224x224``); a writer that includes the batch
    dimension (``4x3x224x224`` at batch 4) is recognised when every row's first dimension equals
    its batch and either two batch sizes show it or the batch is 1 (where both read the same).
    """
    shapes, batches = list(rows["input_shape"]), [int(b) for b in rows["batch"]]
    dims = [_shape_dims(s) for s in shapes]
    with_batch = all(len(d) >= 2 and d[0] == b for d, b in zip(dims, batches) if d) and any(dims)
    if with_batch and (len(set(batches)) >= 2 or set(batches) == {1}):
        return ["x".join(map(str, d[1:])) if d else "" for d in dims]
    return shapes


def _series_from(rows: pd.DataFrame, path: str, threads: Optional[int]) -> _Series:
    """Pick one configuration (input shape, threads) of a model's rows and build its series."""
    rows = rows.copy()
    rows["_thr"] = rows["threads"].fillna(0).astype("int64")
    rows["_shape"] = _per_input_shapes(rows)
    groups = {k: g for k, g in rows.groupby(["_shape", "_thr"], sort=True)}
    if threads is not None:
        groups = {k: g for k, g in groups.items() if k[1] == threads} or groups
    # most batch sizes first, then most threads, then the shape name (deterministic)
    key = sorted(groups, key=lambda k: (-len(groups[k]), -k[1], k[0]))[0]
    g = groups[key].sort_values("batch")
    q = {name: [v / 1e3 for v in g[col].astype(float)] for name, col in _QCOLS}
    return _Series([int(b) for b in g["batch"]], q, list(g["provenance"]), path,
                   _config_label(key[0], key[1] if key[1] else None))
