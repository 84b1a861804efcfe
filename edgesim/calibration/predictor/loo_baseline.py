"""The "before" figures: the roofline transfer of :class:`~edgesim.hardware.profiles.predictor.Predictor`
(``efficiency_from``) on the same anchors and folds as
:func:`~edgesim.calibration.predictor.device_predictor.leave_one_device_out`.

For each held-out device D, the anchors of every other device become literature bundles (model
keys ``<model>`` for PyTorch, ``<model>+<runtime>`` otherwise, as the importer writes them; the
roofline has no precision key, so an fp32 and an fp16 row of one model share a prediction), D
borrows the fit of the nearest device of its kind that has anchors for the row's runtime
(nearest in FP32 peak), and the hardware catalogue supplies D's peaks, as a user of that predictor
would do. Model FLOPs, parameters, bytes and kernel counts are given for every zoo model (more
than the cpu-reference bundle offers), so what it cannot answer is down to its design: a device
outside ``edgesim.hardware.catalogue``, a runtime its source device lacks. Torch-free.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from edgesim.hardware.catalogue import CATALOGUE
from edgesim.calibration.predictor.anchors import Anchor, load_anchors
from edgesim.hardware.profiles.bundle import COLUMNS, write_bundle
from edgesim.calibration.predictor.devices import load_catalogue
from edgesim.calibration.predictor.perfmodel import load_costs
from edgesim.hardware.profiles.predictor import PredictionError, Predictor

__all__ = ["baseline_loo", "reference_models"]


def reference_models() -> list[str]:
    """The models of the shipped cpu-reference bundle (where the old predictor found FLOPs)."""
    from edgesim.hardware.profiles.bundle import load_bundle
    from edgesim.calibration.predictor.anchors import REPO_ROOT
    return sorted(set(load_bundle(REPO_ROOT / "calibration" / "cpu-reference").table["model"]))

_SUFFIX = {"pytorch": "", "tensorrt": "+trt"}


def _key(a: Anchor) -> str:
    return a.model + _SUFFIX.get(a.runtime, "+" + a.runtime)


def _write(root: Path, device: str, rows: list[Anchor]) -> None:
    table = pd.DataFrame([{c: math.nan for c in COLUMNS} | {
        "model": _key(a), "phase": "infer", "batch": a.batch, "input_shape": "",
        "threads": pd.NA, "n": pd.NA, "median_ms": a.latency_ms, "provenance": "literature"}
        for a in rows], columns=list(COLUMNS))
    # one row per (model key, batch): the roofline cannot tell precisions apart
    table = table.drop_duplicates(["model", "batch"]).reset_index(drop=True)
    write_bundle(root / device, {"schema_version": 1, "device_id": device,
                                 "provenance": "literature"}, table)


def baseline_loo(anchors: Optional[Sequence[Anchor]] = None,
                 models: Optional[Sequence[str]] = None) -> dict:
    """Leave-one-device-out errors of the old roofline transfer (see the module docstring).

    ``models``: the models whose FLOPs the old predictor is told (default: every zoo model; the
    models of ``calibration/cpu-reference`` reproduce what a user of the shipped bundles had)."""
    full = list(load_anchors() if anchors is None else anchors)
    costs, spec = load_costs(), load_catalogue()
    info = {m: {"flops": c.flops_total, "params": c.params, "kernels": c.kernels,
                "out_bytes": 0.0, "input_bytes": 0.0} for m, c in costs.items()
            if models is None or m in models}
    rows = []
    devices = sorted({a.device for a in full})
    with tempfile.TemporaryDirectory() as tmp:
        for dev in devices:
            train = [a for a in full if a.device != dev]
            root = Path(tmp) / dev
            by_dev: dict[str, list[Anchor]] = {}
            for a in train:
                by_dev.setdefault(a.device, []).append(a)
            for d, rs in by_dev.items():
                _write(root, d, rs)
            kind = spec[dev].kind if dev in spec else None
            preds: dict[str, Predictor] = {}
            for a in (x for x in full if x.device == dev):
                like = _nearest(dev, a.runtime, kind, by_dev, spec)
                try:
                    if like is None or dev not in CATALOGUE:
                        raise PredictionError("no source device or no catalogue peaks")
                    if like not in preds:
                        preds[like] = Predictor.from_paths([root], model_info=info,
                                                           efficiency_from={dev: like})
                    t = preds[like].predict(_key(a), dev, a.batch).median_s
                except (PredictionError, ValueError):
                    continue
                rows.append({"device": dev, "model": a.model, "runtime": a.runtime,
                             "precision": a.precision, "batch": a.batch, "like": like,
                             "error": t / (a.latency_ms / 1e3) - 1})
    ae = np.array([abs(r["error"]) for r in rows])
    return {"rows": rows, "n": len(rows), "given": len(full),
            "coverage": len(rows) / len(full) if full else 0.0,
            "median_abs": float(np.median(ae)) if len(ae) else math.nan,
            "p90_abs": float(np.percentile(ae, 90)) if len(ae) else math.nan}


def _nearest(dev: str, runtime: str, kind: Optional[str], by_dev: dict, spec: dict
             ) -> Optional[str]:
    """The anchored device of the same kind, with the runtime, nearest in FP32 peak."""
    def fp32(d: str) -> float:
        s = spec.get(d)
        if s is None:
            return math.nan
        return s.cpu_peak(None) if s.is_cpu else s.vector.get("fp32", math.nan)
    cands = [d for d, rs in by_dev.items() if d in spec and spec[d].kind == kind
             and d in CATALOGUE and any(a.runtime == runtime for a in rs)]
    if not cands or dev not in spec:
        return None
    me = fp32(dev)
    return min(cands, key=lambda d: abs(math.log(fp32(d) / me)) if me == me else 0.0)
