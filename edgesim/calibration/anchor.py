"""Anchor a bundle to a published throughput: one factor rescales a device's times.

A transferred bundle predicts how a model's time grows with batch size and how the models of a
pipeline compare; it can still be off in absolute terms for a deployed system, whose per-item
cost includes what the kernels do not (pre-processing, the serving stack, a different runtime).
When a paper reports the sustained throughput of a device running a pipeline, the bundle can be
*anchored*: every time of the chosen models is multiplied by the one factor that makes their
mean per-item time at the reported batch size equal to ``1 / throughput``. The shape of the
curves (batch scaling, the ratio between models) is the bundle's; only the scale is the paper's.

The new bundle keeps the source's provenance and records the anchor (source bundle, factor,
throughput, batch, models, where the figure comes from) under ``fingerprint.anchor``.
"""
from __future__ import annotations

import copy
from typing import Sequence

import pandas as pd

from .bundle import Bundle, BundleError

TIME_COLUMNS = ("median_ms", "p10_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms")

__all__ = ["anchor_factor", "anchored", "TIME_COLUMNS"]


def _rows(bundle: Bundle, models: Sequence[str], phase: str, batch: int) -> pd.DataFrame:
    t = bundle.table
    rows = t[(t["phase"] == phase) & (t["batch"] == batch) & t["model"].isin(list(models))]
    missing = sorted(set(models) - set(rows["model"]))
    if missing:
        raise BundleError(f"{bundle.path}: no {phase} row at batch {batch} for "
                          f"{', '.join(missing)} (the anchor batch must be measured or "
                          f"transferred for every model)")
    return rows.drop_duplicates("model")


def anchor_factor(bundle: Bundle, models: Sequence[str], batch: int, throughput: float,
                  phase: str = "infer") -> float:
    """The factor that makes the mean per-item time of ``models`` at ``batch`` equal to
    ``1 / throughput`` (items per second)."""
    if throughput <= 0:
        raise ValueError(f"throughput must be positive, got {throughput}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    rows = _rows(bundle, models, phase, batch)
    per_item_ms = float((rows["median_ms"] / batch).mean())
    return (1000.0 / throughput) / per_item_ms


def anchored(bundle: Bundle, models: Sequence[str], batch: int, throughput: float,
             phase: str = "infer", source: str = "", command: str = "",
             device_id: str | None = None) -> tuple[dict, pd.DataFrame, float]:
    """(meta, table, factor) of the anchored copy: only ``models`` (every phase and batch of
    them) are kept, their times multiplied by the factor."""
    factor = anchor_factor(bundle, models, batch, throughput, phase)
    table = bundle.table[bundle.table["model"].isin(list(models))].copy()
    for col in TIME_COLUMNS:
        if col in table.columns:
            table[col] = table[col] * factor
    meta = copy.deepcopy(bundle.meta)
    meta.pop("created", None)
    meta.pop("edgesim_version", None)
    if device_id:
        meta["device_id"] = device_id
    fp = dict(meta.get("fingerprint", {}))
    fp["anchor"] = {"from_bundle": str(bundle.path), "factor": factor, "throughput_per_s":
                    throughput, "batch": batch, "phase": phase, "models": list(models),
                    "source": source}
    meta["fingerprint"] = fp
    meta["command"] = command
    note = (f"Anchored: times of {', '.join(models)} multiplied by {factor:.4g} so that their "
            f"mean {phase} throughput at batch {batch} is {throughput:g} items/s. {source}")
    meta["notes"] = (note + "\n" + meta.get("notes", "")).strip()
    return meta, table.reset_index(drop=True), factor
