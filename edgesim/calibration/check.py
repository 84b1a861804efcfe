"""``edgesim calibrate check``: profile held-out batch sizes and compare with interpolation.

``check_bundle`` profiles batch sizes that a bundle did *not* measure (default: the midpoints
between its measured sizes), with the bundle's own device, threads and minimum run time, predicts
them by interpolating the bundle, and reports each error and the mean absolute percentage error.

Split out of :mod:`edgesim.calibration.testbed.run`, which re-exports these names. This module must
not import torch at import time (the profiler imports it when ``check_bundle`` runs).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from edgesim.hardware.profiles.bundle import as_bundle

# Acceptance target (mean absolute error, percent); was in testbed.py next to TARGETS.
CHECK_TARGET_PCT = 10.0


# ============================================================================================
# bundle helpers (shared with the testbed)


def bundle_malloc(bundle) -> str:
    """The malloc mode a bundle was profiled with ("stable" or "default")."""
    prof = ((bundle.meta.get("fingerprint") or {}).get("profiler") or {})
    return "stable" if str(prof.get("malloc", "default")).startswith("stable") else "default"


# ============================================================================================
# calibrate check: held-out batch sizes


def midpoints(batches: Sequence[int]) -> list:
    """Integer midpoints strictly between consecutive measured sizes (1,2,4,8 -> 3,6)."""
    bs = sorted(set(int(b) for b in batches))
    return [(a + b) // 2 for a, b in zip(bs, bs[1:]) if b - a >= 2]


def interpolate(bundle, model: str, phase: str, batch: int, threads: Optional[int] = None) -> Optional[float]:
    """The predictor's median (ms) at ``batch`` from ``bundle`` alone (None outside its range).

    :class:`edgesim.hardware.profiles.predictor.Predictor` on this one bundle: the measured row, or
    linear interpolation between the two neighbouring measured batch sizes (no extrapolation).
    """
    from edgesim.hardware.profiles.predictor import ExtrapolationError, Predictor
    pred = Predictor({bundle.device_id: [bundle]}, threads=threads)
    try:
        return pred.predict(model, bundle.device_id, int(batch), phase).median_s * 1e3
    except ExtrapolationError:
        return None


def check_bundle(bundle, batches: Optional[Sequence[int]] = None, models: Optional[Sequence[str]] = None,
                 phases: Sequence[str] = ("infer",), min_run_time: Optional[float] = None,
                 target_pct: float = CHECK_TARGET_PCT, progress=None) -> dict:
    """Profile held-out batch sizes with the bundle's settings and compare with interpolation."""
    from edgesim.calibration.profiler import profile
    b = as_bundle(bundle)
    t = b.table
    fp = b.meta.get("fingerprint") or {}
    settings = fp.get("profiler") or {}
    device = settings.get("device") or fp.get("device") or "cpu"
    mrt = float(min_run_time or settings.get("min_run_time") or 0.2)
    have = list(dict.fromkeys(t["model"]))
    models = list(dict.fromkeys(models)) if models else have
    missing = [m for m in models if m not in have]
    if missing:
        raise LookupError(f"{b.path}: no rows for model(s) {', '.join(missing)}; it has {', '.join(have)}")
    rows, notes = [], []
    for m in models:
        for ph in phases:
            sel = t[(t["model"] == m) & (t["phase"] == ph)]
            if sel.empty:
                notes.append(f"{m} {ph}: not in the bundle")
                continue
            thr = sel["threads"].dropna()
            threads = int(thr.iloc[0]) if len(thr) else None
            measured_bs = sorted(set(int(x) for x in sel["batch"]))
            held = sorted(set(int(x) for x in batches)) if batches else midpoints(measured_bs)
            held = [x for x in held if x not in measured_bs]
            if not held:
                notes.append(f"{m} {ph}: no held-out batch size (measured {measured_bs})")
                continue
            table, _ = profile([m], device=device, batches=held, threads=threads, phases=[ph],
                               min_run_time=mrt, progress=progress, malloc=bundle_malloc(b))
            for _, r in table.iterrows():
                pred = interpolate(b, m, ph, int(r["batch"]), threads)
                meas = float(r["median_ms"])
                err = None if pred is None else 100.0 * (pred - meas) / meas
                rows.append({"model": m, "phase": ph, "batch": int(r["batch"]), "threads": threads,
                             "predicted_ms": pred, "measured_ms": meas, "error_pct": err,
                             "measured_p10_ms": float(r["p10_ms"]), "measured_p90_ms": float(r["p90_ms"]),
                             "n": int(r["n"])})
    errs = [abs(r["error_pct"]) for r in rows if r["error_pct"] is not None]
    mape = float(np.mean(errs)) if errs else None
    return {"bundle": str(b.path), "device_id": b.device_id, "device": device,
            "min_run_time": mrt, "rows": rows, "mape_pct": mape, "target_pct": target_pct,
            "pass": mape is not None and mape <= target_pct, "notes": notes,
            "predictor": "Predictor.predict: linear interpolation between measured batch sizes"}
