"""How wrong a device prediction typically is: bands from the leave-one-device-out errors.

A point prediction for a device the predictor has never seen is worth little without its
spread. ``calibration/predictor/loo_errors.json`` holds the quantiles of the held-out errors
``e = predicted / published - 1`` of :func:`~edgesim.calibration.predictor.device_predictor.leave_one_device_out`
by device kind (cpu, jetson, gpu), for held-out devices and for devices personalised on their
own other anchors. :func:`band` turns a prediction into the range the published time fell in for
80 % of the anchors of that kind: ``[pred / (1 + e_90), pred / (1 + e_10)]``.
``edgesim calibrate loo --write-errors`` regenerates the file (a test checks it is current).
Torch-free.
"""
from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from edgesim.calibration.predictor.devices import load_catalogue, predictor_data

__all__ = ["ERRORS_PATH", "error_quantiles", "write_errors", "load_errors", "band"]

ERRORS_PATH = predictor_data("loo_errors.json")
LEVELS = (0.1, 0.5, 0.9)
KINDS = ("cpu", "jetson", "gpu")


def _quantiles(errors: list[float]) -> Optional[dict]:
    if not errors:
        return None
    q = np.quantile(np.asarray(errors, float), LEVELS)
    return {"n": len(errors), "q10": float(q[0]), "q50": float(q[1]), "q90": float(q[2])}


def error_quantiles(res: Mapping, kinds: Optional[Mapping[str, str]] = None) -> dict:
    """Quantiles of ``res["rows"]``' held-out and personalised errors by device kind.

    ``res``: a :func:`leave_one_device_out` result; ``kinds``: device id -> cpu|jetson|gpu
    (default: the shipped catalogue's)."""
    if kinds is None:
        kinds = {k: d.kind for k, d in load_catalogue().items()}
    out: dict = {"held_out": {}, "personalised": {}}
    for kind in KINDS + ("all",):
        rows = [r for r in res["rows"] if kind == "all" or kinds.get(r["device"]) == kind]
        out["held_out"][kind] = _quantiles([r["error"] for r in rows])
        out["personalised"][kind] = _quantiles(
            [r["within_error"] for r in rows if r.get("within_error") == r.get("within_error")])
    out["anchors"] = res["n"]
    out["devices"] = res["devices"]
    return out


def write_errors(errors: Mapping, path: Path = ERRORS_PATH) -> Path:
    """Write ``errors`` as JSON atomically (a temporary file renamed over the target)."""
    path = Path(path)
    doc = dict(errors, command="edgesim calibrate loo --write-errors",
               meaning="quantiles of predicted / published - 1 over the leave-one-device-out "
                       "folds, by device kind")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@functools.lru_cache(maxsize=2)
def load_errors(path: Optional[str] = None) -> Optional[dict]:
    p = Path(path) if path else ERRORS_PATH
    return json.loads(p.read_text()) if p.exists() else None


def band(median_s: float, kind: str, personalised: bool,
         errors: Optional[Mapping] = None) -> Optional[tuple[float, float, int]]:
    """(low_s, high_s, n): where the published time fell for 80 % of the anchors of devices of
    ``kind`` (held out, or personalised on their other anchors), around ``median_s``; None when
    no errors are shipped for that kind."""
    errs = load_errors() if errors is None else errors
    if not errs:
        return None
    q = (errs.get("personalised" if personalised else "held_out") or {}).get(kind)
    if not q or q["q90"] <= -1 or q["q10"] <= -1:
        return None
    return median_s / (1.0 + q["q90"]), median_s / (1.0 + q["q10"]), int(q["n"])
