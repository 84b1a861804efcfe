"""Service times of any (model, device, runtime, precision, batch) from spec sheets and anchors.

:class:`DevicePredictor` answers ``predict(model, device, batch, precision, runtime, threads)``
with the per-kernel roofline of :mod:`edgesim.calibration.predictor.perfmodel`:

* the **model** is a zoo model (its kernels in ``calibration/predictor/zoo_ops.json``); the **device** an entry of
  the catalogue (:mod:`edgesim.calibration.predictor.devices`); **runtime** (``pytorch``, ``tensorrt``,
  ``tensorrt-graphs``, ``onnxruntime``, ``ncnn``, ``tflite``, ``torch-compile``, ``openvino``) and **precision**
  (``fp32``, ``tf32``, ``fp16``, ``int8``) are keys of every anchor and every prediction;
* the global parameters are fitted on every shipped anchor (``calibration/literature``);
* a device that has anchors of its own is **personalised**: three factors (compute, host, kernel
  floor) fitted on its anchors and shrunk towards 1, so its batch curve is its own fit, not a
  borrowed one. Other devices get the global model applied to their spec sheet;
* an unknown device, model, runtime or precision is an error that lists the nearest supported
  ones (:class:`UnknownModelError`, :class:`~edgesim.calibration.predictor.devices.UnknownDeviceError`):
  never a silent guess.

:func:`leave_one_device_out` is the accuracy check: for each device with anchors, refit the
global parameters without any of its anchors and predict them (no personalisation: the held-out
device's anchors are never used); :func:`loo_markdown` formats the figures that
``docs/validation.md`` shows (``edgesim calibrate loo --markdown`` regenerates them).
Torch-free.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np

from edgesim.calibration.predictor import perfmodel as pm
from edgesim.calibration.predictor.anchors import Anchor, load_anchors, precision_key, runtime_key
from edgesim.calibration.predictor.devices import (DeviceSpec, UnknownDeviceError, UnsupportedPrecisionError,
                      get_device, load_catalogue, suggest)
from edgesim.calibration.predictor.band import band

__all__ = ["DevicePredictor", "DevicePrediction", "UnknownModelError", "UnknownDeviceError",
           "UnsupportedPrecisionError", "leave_one_device_out", "loo_markdown", "weights"]


class UnknownModelError(LookupError):
    """A model the zoo table does not have (the message lists the nearest ones)."""


@dataclass(frozen=True)
class DevicePrediction:
    """A predicted batch time (seconds), its parts and where it came from."""

    median_s: float
    model: str
    device: str
    runtime: str
    precision: str
    batch: int
    threads: Optional[int]
    personalised: bool
    parts: Mapping[str, float] = field(default_factory=dict)   # seconds: device, host, ...
    source: str = ""
    # where the published time fell for 80 % of the leave-one-device-out anchors of devices of
    # this kind (held out, or personalised): (low_s, high_s, anchors); None if not shipped
    band: Optional[tuple[float, float, int]] = None

    @property
    def provenance(self) -> str:
        return "predicted"


def weights(anchors: Sequence[Anchor]) -> np.ndarray:
    """1/sqrt(rows of its device) per anchor: a device with 40 anchors counts sqrt(40) times
    one with one anchor, not 40 times (its rows are not independent evidence)."""
    c = Counter(a.device for a in anchors)
    return np.array([1.0 / math.sqrt(c[a.device]) for a in anchors])


class DevicePredictor:
    """Predicts batch times on catalogue devices; see the module docstring."""

    def __init__(self, anchors: Optional[Sequence[Anchor]] = None,
                 catalogue: Optional[Mapping[str, DeviceSpec]] = None,
                 costs: Optional[Mapping[str, pm.ModelCost]] = None,
                 personalise: bool = True) -> None:
        self.catalogue = dict(load_catalogue() if catalogue is None else catalogue)
        self.costs = dict(pm.load_costs() if costs is None else costs)
        given = list(load_anchors() if anchors is None else anchors)
        self.anchors = [a for a in given if self._usable(a)]
        self.skipped = [a for a in given if not self._usable(a)]
        self.personalise = personalise
        self._theta: Optional[np.ndarray] = None
        self._offsets: dict[str, np.ndarray] = {}
        self.fit_info: Optional[pm.Fit] = None

    # ------------------------------------------------------------------------------ checks
    def _usable(self, a: Anchor) -> bool:
        try:
            self._check(a.model, a.device, a.runtime, a.precision)
        except (LookupError, ValueError):
            return False
        return True

    def _check(self, model: str, device: str, runtime: str, precision: str
               ) -> tuple[pm.ModelCost, DeviceSpec, str, str]:
        if model not in self.costs:
            raise UnknownModelError(suggest(model, list(self.costs), "model")
                                    + " - add it to the zoo and run python -m "
                                      "edgesim.calibration.zoo.ops")
        dev = get_device(device, self.catalogue)
        rt = runtime_key(runtime)
        prec = precision_key(precision)
        if prec not in dev.precisions():
            raise UnsupportedPrecisionError(f"{device} has no published {prec} rate; supported "
                                            f"there: {', '.join(dev.precisions())}")
        dev.peak(prec, "mm")     # raises for a precision the device lacks
        return self.costs[model], dev, rt, prec

    def devices(self) -> list[str]:
        return sorted(self.catalogue)

    def models(self) -> list[str]:
        return sorted(self.costs)

    def anchored_devices(self) -> list[str]:
        return sorted({a.device for a in self.anchors})

    # ------------------------------------------------------------------------------ fitting
    def _query(self, a: Anchor) -> tuple:
        return (self.costs[a.model], self.catalogue[a.device], a.runtime, a.precision, a.batch,
                a.threads)

    def fit(self) -> "DevicePredictor":
        if not self.anchors:
            raise LookupError("no usable anchors to fit the predictor on")
        F = pm.build_features([self._query(a) for a in self.anchors])
        obs = np.array([a.latency_ms / 1e3 for a in self.anchors])
        self.fit_info = pm.fit(F, obs, weights(self.anchors))
        self._theta = self.fit_info.theta
        self._offsets = {}
        if self.personalise:
            for dev in self.anchored_devices():
                mine = [a for a in self.anchors if a.device == dev]
                Fd = pm.build_features([self._query(a) for a in mine])
                self._offsets[dev] = pm.personalise(
                    self._theta, Fd, np.array([a.latency_ms / 1e3 for a in mine]))
        return self

    @property
    def theta(self) -> np.ndarray:
        if self._theta is None:
            self.fit()
        return self._theta  # type: ignore[return-value]

    def params(self) -> dict[str, float]:
        return {n: float(math.exp(v)) for n, v in zip(pm.NAMES, self.theta)}

    def device_factors(self, device: str) -> Optional[dict[str, float]]:
        """The personalised factors (compute, host, floor) of a device with anchors, else None."""
        self.theta
        o = self._offsets.get(device)
        return None if o is None else dict(zip(("compute", "host", "floor"),
                                               (float(math.exp(v)) for v in o)))

    # ------------------------------------------------------------------------------ predict
    def predict(self, model: str, device: str, batch: int = 1, precision: str = "fp32",
                runtime: str = "pytorch", threads: Optional[int] = None) -> DevicePrediction:
        if isinstance(batch, bool) or int(batch) != batch or batch < 1:
            raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
        cost, dev, rt, prec = self._check(model, device, runtime, precision)
        theta = self.theta
        F = pm.build_features([(cost, dev, rt, prec, int(batch), threads)])
        off = self._offsets.get(device)
        r = pm.evaluate(theta, F, None if off is None else off[None, :])
        parts = {k: float(v[0]) for k, v in r.items() if k != "total"}
        n_own = sum(1 for a in self.anchors if a.device == device)
        how = (f"personalised on its {n_own} anchor(s)" if off is not None else
               "no anchors of its own: global fit on "
               f"{len(self.anchored_devices())} devices applied to its spec sheet")
        bound = max(("compute", "memory", "floor"), key=lambda k: parts[k])
        if parts["host"] > parts["device"]:
            bound = "host dispatch"
        src = (f"per-kernel roofline: {model} ({cost.flops_total / 1e9:.3g} GFLOP, {cost.kernels} "
               f"kernels) on {device} [{dev.name}], {rt}, {prec}, batch {batch}"
               f"{'' if threads is None else f', {threads} threads'}; {bound}-bound; {how}")
        median = float(r["total"][0])
        return DevicePrediction(median, model, device, rt, prec, int(batch), threads,
                                off is not None, parts, src,
                                band(median, dev.kind, off is not None))


# ---------------------------------------------------------------------------- leave one out

def leave_one_device_out(anchors: Optional[Sequence[Anchor]] = None,
                         catalogue: Optional[Mapping[str, DeviceSpec]] = None,
                         costs: Optional[Mapping[str, pm.ModelCost]] = None,
                         within: bool = True) -> dict:
    """Leave-one-device-out errors over ``anchors`` (default: every shipped one).

    For each device D with anchors: fit the global parameters on every other device's anchors,
    predict D's anchors from D's spec sheet (D's anchors unused), error = predicted / published
    - 1. ``within`` adds, for the same folds, the error when D's *other* anchors personalise D
    (leave-one-anchor-out inside D): what a user with a few measurements of their own gets.

    Returns ``rows`` (one dict per anchor: device, model, runtime, precision, batch, published_ms,
    predicted_ms, error, and within_error), ``per_device``, ``n``, ``coverage`` (rows predicted /
    rows given: the others name a model, device, runtime or precision the predictor lacks),
    ``skipped`` and the summary ``median_abs`` and ``p90_abs`` (and ``within_*``, and
    ``in_sample_*``: the errors of one fit on every device's anchors, none held out, the
    model structure's own floor on this anchor set).
    """
    full = list(load_anchors() if anchors is None else anchors)
    base = DevicePredictor(full, catalogue, costs, personalise=False)
    use = base.anchors
    rows: list[dict] = []
    per: dict[str, dict] = {}
    for dev in sorted({a.device for a in use}):
        train = [a for a in use if a.device != dev]
        test = [a for a in use if a.device == dev]
        if not train:
            continue
        F = pm.build_features([base._query(a) for a in train])
        theta = pm.fit(F, np.array([a.latency_ms / 1e3 for a in train]), weights(train)).theta
        Ft = pm.build_features([base._query(a) for a in test])
        obs = np.array([a.latency_ms / 1e3 for a in test])
        pred = pm.evaluate(theta, Ft)["total"]
        within_err = [math.nan] * len(test)
        if within and len(test) >= 2:
            for k in range(len(test)):
                keep = [i for i in range(len(test)) if i != k]
                Fk = pm.build_features([base._query(test[i]) for i in keep])
                off = pm.personalise(theta, Fk, obs[keep])
                Fo = pm.build_features([base._query(test[k])])
                within_err[k] = float(pm.evaluate(theta, Fo, off[None, :])["total"][0] / obs[k] - 1)
        errs = pred / obs - 1
        for a, p, e, we in zip(test, pred, errs, within_err):
            rows.append({"device": a.device, "model": a.model, "runtime": a.runtime,
                         "precision": a.precision, "batch": a.batch, "threads": a.threads,
                         "published_ms": a.latency_ms, "predicted_ms": float(p) * 1e3,
                         "error": float(e), "within_error": we, "source": a.source})
        per[dev] = {"n": len(test), "median_abs": float(np.median(np.abs(errs))),
                    "p90_abs": float(np.percentile(np.abs(errs), 90)),
                    "median_signed": float(np.median(errs)),
                    "within_median_abs": (float(np.nanmedian(np.abs(within_err)))
                                          if within and len(test) >= 2 else None),
                    "runtimes": sorted({f"{a.runtime}/{a.precision}" for a in test})}
    # the model's own floor: fitted on every device (none held out, none personalised), how
    # far it is from the anchors it was fitted on; no held-out figure can be expected below it
    obs_all = np.array([a.latency_ms / 1e3 for a in use])
    total = pm.evaluate(base.fit().theta, pm.build_features([base._query(a) for a in use]))["total"]
    ins = np.abs(total / obs_all - 1)
    ae = np.array([abs(r["error"]) for r in rows])
    we = np.array([abs(r["within_error"]) for r in rows if r["within_error"] == r["within_error"]])
    return {"rows": rows, "per_device": per, "n": len(rows), "given": len(full),
            "coverage": len(rows) / len(full) if full else 0.0,
            "skipped": [f"{a.device}/{a.model}/{a.runtime}/{a.precision}" for a in base.skipped],
            "median_abs": float(np.median(ae)) if len(ae) else math.nan,
            "p90_abs": float(np.percentile(ae, 90)) if len(ae) else math.nan,
            "within_median_abs": float(np.median(we)) if len(we) else math.nan,
            "within_p90_abs": float(np.percentile(we, 90)) if len(we) else math.nan,
            "in_sample_median_abs": float(np.median(ins)) if len(ins) else math.nan,
            "in_sample_p90_abs": float(np.percentile(ins, 90)) if len(ins) else math.nan,
            "devices": len(per)}


def loo_markdown(res: dict, baseline: Optional[dict] = None,
                 reference: Optional[dict] = None) -> str:
    """The tables of docs/validation.md's predictor section."""
    out = ["| device | anchors | runtime/precision | LOO median abs. error | LOO p90 | median signed "
           "| with its other anchors: median abs. |",
           "|---|---:|---|---:|---:|---:|---:|"]
    for dev, d in sorted(res["per_device"].items()):
        w = "–" if d["within_median_abs"] is None else f"{d['within_median_abs']:.0%}"
        out.append(f"| {dev} | {d['n']} | {', '.join(d['runtimes'])} | {d['median_abs']:.0%} | "
                   f"{d['p90_abs']:.0%} | {d['median_signed']:+.0%} | {w} |")
    out.append("")
    out.append(f"**All {res['n']} predicted anchors ({res['devices']} devices):** leave-one-device-out "
               f"median |error| **{res['median_abs']:.1%}**, p90 **{res['p90_abs']:.1%}**; coverage "
               f"{res['n']}/{res['given']} = {res['coverage']:.0%} of the shipped anchors; with the "
               f"device's other anchors (leave-one-anchor-out): median {res['within_median_abs']:.1%}, "
               f"p90 {res['within_p90_abs']:.1%}; fitted on every device, none held out "
               f"(how closely the model structure fits the data it is fitted on): median "
               f"{res['in_sample_median_abs']:.1%}, p90 {res['in_sample_p90_abs']:.1%}.")
    if baseline is not None:
        out.append("")
        out.append(f"**Before** (the roofline transfer of `Predictor(efficiency_from=...)`, same "
                   f"anchors, same folds): coverage {baseline['n']}/{baseline['given']} = "
                   f"{baseline['coverage']:.0%}; where it answers, median |error| "
                   f"{baseline['median_abs']:.1%}, p90 {baseline['p90_abs']:.1%} (told the FLOPs of "
                   f"every zoo model)"
                   + ("" if reference is None else
                      f"; told only those of the cpu-reference bundle, as the shipped bundles "
                      f"allowed: coverage {reference['n']}/{reference['given']} = "
                      f"{reference['coverage']:.0%}, median {reference['median_abs']:.1%}, p90 "
                      f"{reference['p90_abs']:.1%}") + ".")
    return "\n".join(out)
