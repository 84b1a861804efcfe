"""Anchor a bundle to a published throughput: one factor rescales a device's times.

A transferred bundle predicts how a model's time grows with batch size and how the models of a
pipeline compare; it can still be off in absolute terms for a deployed system, whose per-item
cost includes what the kernels do not (pre-processing, the serving stack, a different runtime).
When a paper reports the sustained throughput of a device running a pipeline, the bundle can be
*anchored*: every time of the chosen models is multiplied by the one factor that makes their
mean per-item time at the reported batch size equal to ``1 / throughput``. The shape of the
curves (batch scaling, the ratio between models) is the bundle's; only the scale is the paper's.

Two ways to apply the factor (``scale``):

* ``all``: every time is multiplied by it; the curves keep their shape exactly.
* ``work``: only the roofline part of a transferred time (``median_ms - overhead_ms``: the
  compute- or memory-bound work) is multiplied; the per-call overhead (kernel launches, which a
  transferred bundle records in ``overhead_ms``) stays the device's. This reads the published
  figure as "the deployed models do more work per item than the bundle's", which is what an
  anchor to a heavier pipeline on the same runtime means. The batch curves then steepen: an
  overhead-dominated bundle scaled by ``all`` stays flat in the batch size (one item costs as
  much as 32), scaled by ``work`` its per-item cost falls with the batch until the work
  dominates, and then stops falling.

The new bundle keeps the source's provenance and records the anchor (source bundle, factor,
scale, throughput, batch, models, where the figure comes from) under ``fingerprint.anchor``.
"""
from __future__ import annotations

import copy
from typing import Sequence

import pandas as pd

from edgesim.hardware.profiles.bundle import Bundle, BundleError

TIME_COLUMNS = ("median_ms", "p10_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms")
WORK_COLUMNS = ("compute_ms", "memory_ms")     # the roofline terms, scaled with the work
SCALES = ("all", "work")

__all__ = ["anchor_factor", "anchored", "TIME_COLUMNS", "SCALES"]


def _rows(bundle: Bundle, models: Sequence[str], phase: str, batch: int) -> pd.DataFrame:
    t = bundle.table
    rows = t[(t["phase"] == phase) & (t["batch"] == batch) & t["model"].isin(list(models))]
    missing = sorted(set(models) - set(rows["model"]))
    if missing:
        raise BundleError(f"{bundle.path}: no {phase} row at batch {batch} for "
                          f"{', '.join(missing)} (the anchor batch must be measured or "
                          f"transferred for every model)")
    return rows.drop_duplicates("model")


def _overhead(bundle: Bundle, rows: pd.DataFrame) -> pd.Series:
    over = pd.to_numeric(rows["overhead_ms"], errors="coerce") \
        if "overhead_ms" in rows.columns else pd.Series([float("nan")])
    if over.isna().any():
        raise BundleError(f"{bundle.path}: scale 'work' needs the overhead_ms column of a "
                          f"transferred bundle (this one has none); use scale 'all'")
    return over.astype(float)


def anchor_factor(bundle: Bundle, models: Sequence[str], batch: int, throughput: float,
                  phase: str = "infer", scale: str = "all") -> float:
    """The factor that makes the mean per-item time of ``models`` at ``batch`` equal to
    ``1 / throughput`` (items per second), applied to whole times (``all``) or to their
    roofline part only (``work``)."""
    if throughput <= 0:
        raise ValueError(f"throughput must be positive, got {throughput}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    rows = _rows(bundle, models, phase, batch)
    target_ms = 1000.0 / throughput
    if scale == "all":
        return target_ms / float((rows["median_ms"] / batch).mean())
    over = _overhead(bundle, rows)
    over_ms = float((over / batch).mean())
    work_ms = float(((rows["median_ms"] - over) / batch).mean())
    if target_ms <= over_ms or work_ms <= 0:
        raise ValueError(f"scale 'work' cannot reach {throughput:g} items/s at batch {batch}: "
                         f"the overhead alone is {over_ms:.4g} ms per item (target "
                         f"{target_ms:.4g} ms); use scale 'all'")
    return (target_ms - over_ms) / work_ms


def anchored(bundle: Bundle, models: Sequence[str], batch: int, throughput: float,
             phase: str = "infer", source: str = "", command: str = "",
             device_id: str | None = None, scale: str = "all") -> tuple[dict, pd.DataFrame, float]:
    """(meta, table, factor) of the anchored copy: only ``models`` (every phase and batch of
    them) are kept, their times scaled by the factor (see the module docstring for ``scale``)."""
    factor = anchor_factor(bundle, models, batch, throughput, phase, scale)
    table = bundle.table[bundle.table["model"].isin(list(models))].copy()
    over = _overhead(bundle, table) if scale == "work" else 0.0
    for col in TIME_COLUMNS:
        if col not in table.columns:
            continue
        if scale == "work" and col != "std_ms":
            table[col] = over + (table[col] - over) * factor
        else:
            table[col] = table[col] * factor
    if scale == "work":
        for col in WORK_COLUMNS:
            if col in table.columns:
                table[col] = pd.to_numeric(table[col], errors="coerce") * factor
    meta = copy.deepcopy(bundle.meta)
    meta.pop("created", None)
    meta.pop("edgesim_version", None)
    if device_id:
        meta["device_id"] = device_id
    fp = dict(meta.get("fingerprint", {}))
    fp["anchor"] = {"from_bundle": str(bundle.path), "factor": factor, "scale": scale,
                    "throughput_per_s": throughput, "batch": batch, "phase": phase,
                    "models": list(models), "source": source}
    meta["fingerprint"] = fp
    meta["command"] = command
    what = "times" if scale == "all" else "roofline (work) part of the times"
    note = (f"Anchored: {what} of {', '.join(models)} multiplied by {factor:.4g} so that their "
            f"mean {phase} throughput at batch {batch} is {throughput:g} items/s. {source}")
    meta["notes"] = (note + "\n" + meta.get("notes", "")).strip()
    return meta, table.reset_index(drop=True), factor
