"""Service times from calibration bundles: the bridge between scenarios and the predictor.

Torch-free: bundles are CSV and JSON, so a scenario that uses profiles of real kernels runs on
a machine without PyTorch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from edgesim.bundled import data_dir


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
    from edgesim.hardware.profiles.bundle import BundleError
    from edgesim.hardware.profiles.predictor import Predictor
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
    from edgesim.hardware.profiles.predictor import PredictionError
    refs = spec.bundle if spec.bundle is not None else sim.spec.calibration.bundles
    refs = [refs] if isinstance(refs, str) else list(refs)
    if not refs:
        sim.problem(f"{path}.bundle", "no calibration bundle named: set 'bundle' here or "
                    "'calibration.bundles' at the top level", None)
        return None
    where = f"{path}.bundle" if spec.bundle is not None else "calibration.bundles"
    if spec.mode == "served":
        return served_service_for(sim, model, device, spec, refs, where, path)
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


def served_service_for(sim, model: str, device: str, spec, refs: list[str], where: str,
                       path: str):
    """`mode: served`: the served-mode model (calibration.served_model.ServedService) of the
    bundle of this device, from its calls with the worker count nearest the node's executors;
    or None after recording the problem."""
    from edgesim.hardware.profiles.bundle import BundleError, load_bundle
    from edgesim.hardware.profiles.bundle_service import served_service
    dev, name = spec.device or device, spec.model or model
    if spec.phase != "infer":
        sim.problem(f"{path}.phase", "served mode profiles inference only", spec.phase,
                    ["infer"])
        return None
    seen = []
    # each bundle is read once per run, however many services name it (the served models
    # themselves are built per service: each replays its own stream of residuals)
    loaded = sim.__dict__.setdefault("_served_bundles", {})
    for p in bundle_paths(sim, refs, where):
        if p not in loaded:
            try:
                loaded[p] = load_bundle(p)
            except (BundleError, OSError, ValueError) as exc:
                loaded[p] = exc
        b = loaded[p]
        if isinstance(b, Exception):
            sim.problem(where, str(b))
            return None
        seen.append(b.device_id)
        if b.device_id != dev:
            continue
        executors = [n.executors for n in sim.nodes if n.device == device] or [1]
        try:
            m, note = served_service(b, name, max(executors), order=spec.order)
        except (LookupError, ValueError) as exc:
            sim.problem(path, str(exc))
            return None
        if note:
            sim.warnings.append(f"{path}: {note}")
        return m
    sim.problem(f"{path}.device" if spec.device else path,
                f"no bundle of device {dev!r} in {where}", dev, sorted(set(seen)))
    return None


def max_batch_on(sim, device: Optional[str]) -> int:
    sizes = [n.max_batch for n in sim.nodes if device is None or n.device == device]
    return max(sizes) if sizes else 1
