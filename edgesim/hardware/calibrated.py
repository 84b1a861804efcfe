"""Service times from calibration bundles: the bridge between scenarios and the predictor.

Torch-free: bundles are CSV and JSON, so a scenario that uses profiles of real kernels runs on
a machine without PyTorch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..bundled import data_dir


def bundle_paths(sim, refs: list[str], path: str) -> list[Path]:
    """Bundle folders named relative to the scenario file, or by name among the bundled ones."""
    out = []
    shipped = data_dir("calibration")
    for k, ref in enumerate(refs):
        p = sim.file.path(ref)
        if not p.exists() and shipped is not None and (shipped / ref).exists():
            p = shipped / ref
        if not p.exists():
            names = sorted(d.name for d in shipped.iterdir() if d.is_dir()) if shipped else []
            sim.problem(f"{path}.{k}" if len(refs) > 1 else path, f"no bundle at {p}", ref,
                        names)
            continue
        out.append(p)
    return out


def predictor_for(sim, refs: list[str], path: str):
    """A Predictor over these bundles, loaded once per distinct list within a run."""
    from ..calibration.bundle import BundleError
    from ..calibration.predictor import Predictor
    key = tuple(refs)
    cache = sim.__dict__.setdefault("_predictors", {})
    if key not in cache:
        paths = bundle_paths(sim, refs, path)
        try:
            cache[key] = Predictor.from_paths(paths) if paths else None
        except (BundleError, OSError, ValueError) as exc:
            sim.problem(path, str(exc))
            cache[key] = None
    return cache[key]


def calibrated_service(sim, model: str, device: str, spec, path: str, max_batch: int):
    """The ServiceModel for `dist: calibrated`, or None after recording the problem."""
    from ..calibration.predictor import PredictionError
    refs = spec.bundle if spec.bundle is not None else sim.spec.calibration.bundles
    refs = [refs] if isinstance(refs, str) else list(refs)
    if not refs:
        sim.problem(f"{path}.bundle", "no calibration bundle named: set 'bundle' here or "
                    "'calibration.bundles' at the top level", None)
        return None
    where = f"{path}.bundle" if spec.bundle is not None else "calibration.bundles"
    pred = predictor_for(sim, refs, where)
    if pred is None:
        return None
    try:
        m = pred.service_model(spec.model or model, spec.device or device, spec.phase,
                               max_batch=max_batch, allow_extrapolation=spec.extrapolate,
                               spread=spec.spread)
    except (PredictionError, ValueError) as exc:
        sim.problem(path, str(exc))
        return None
    for w in getattr(m, "warnings", ()):
        sim.warnings.append(f"{path}: {w}")
    return m


def max_batch_on(sim, device: Optional[str]) -> int:
    sizes = [n.max_batch for n in sim.nodes if device is None or n.device == device]
    return max(sizes) if sizes else 1
