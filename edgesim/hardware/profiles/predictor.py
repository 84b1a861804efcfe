"""Service-time predictor: turn profile bundles into per-batch service times for any device.

For a (model, device, batch, phase) the :class:`Predictor` answers, in this order:

1. **exact** - the device's bundle has a row for that batch (provenance ``measured``, or
   ``literature`` / ``transferred`` when the row came from such a bundle);
2. **interpolated** - linearly over batch between the two nearest batch sizes measured on the
   device (each quantile separately);
3. **extrapolated** - beyond the measured range, only with ``allow_extrapolation=True``: linear
   from the last two (or first two) batch sizes, never below what the measured end implies
   (time does not decrease with batch; per-input time does not increase below the measured
   range); with one measured size, proportional above it (no batching gain) and constant below.
   Without permission it raises :class:`ExtrapolationError`, which names the measured batches.
   Every extrapolated answer carries a warning string (``Prediction.warning``), also kept in
   ``Predictor.warnings``;
4. **transferred** - when the device has no row at all for the model, by a roofline model with
   a per-kernel overhead::

       t_D(M, b) = max( b * F_M / (eta_D * P_D),  (params_M * 4 + b * (out_M + in_M)) / (mu_D * W_D) )
                   + K_M * tau_D

   with F_M the model's FLOPs per input, params_M its parameter count (4 bytes each, FP32),
   out_M / in_M its output and input bytes per input, K_M the compute kernels one forward pass
   launches (``zoo.describe()["kernels"]``, written by the profiler as the extra column
   ``kernels``; it does not grow with the batch), P_D the catalogue's **FP32** peak FLOP/s and
   W_D its memory bandwidth (bytes/s). The efficiencies eta_D, mu_D and the time per kernel
   tau_D >= 0 (launch plus framework dispatch: what makes MobileNetV2, 0.6 GFLOP, take 15.4 ms
   under PyTorch eager on a Jetson AGX Xavier where ResNet-18, 3.6 GFLOP, takes 7.3 ms) are
   fitted per device, phase and runtime variant (the ``+trt`` suffix of a model key, e.g.
   ``resnet18+trt``) on *anchor* models: models measured on the target device whose FLOPs and
   parameters are known - from ``model_info`` or from any bundle row that has them (typically
   the cpu-reference bundle written by the profiler; a row's ``flops``/``out_bytes`` cover its
   whole batch, so per-input values are taken from batch-1 rows, or divided by the batch).

   **Fit with overhead** (:func:`edgesim.hardware.profiles.roofline.fit_transfer`). For a split of
   the anchors into compute-bound and memory-bound ones (by intensity ``F / bytes``: n+1
   candidate splits) the model is linear in (1/eta, 1/mu, tau); each split is solved by
   non-negative least squares on relative errors, refined by Gauss-Newton steps on the log
   errors, and scored by the squared log error of the true max-model; the best split wins (then
   reclassified until stable). A split needs a design of full column rank: at least as many
   anchor points as parameters (two or three), with kernel counts and intensities that tell them
   apart. On noise-free data of this form it recovers eta, mu and tau exactly. ``dof`` in the
   report is anchor points minus parameters: 0 means the anchors are fitted exactly and only the
   leave-one-out error says anything about accuracy.

   **Fallback.** Where tau cannot be identified - an anchor without a kernel count, or too few
   anchor points - the two-parameter roofline (tau = 0) is fitted instead, and the report's
   ``fallback`` and every transferred prediction's source say why. ``Predictor(overhead=False)``
   always uses it. In log space it is ``log t = max(log c + a, log m + b)`` with ``c = bF/P``,
   ``m = bytes/W``, ``a = -log eta``, ``b = -log mu``; for each of the n+1 splits the
   least-squares a and b are the means of ``log t - log c`` over the compute-bound and of
   ``log t - log m`` over the memory-bound anchors; the split with the smallest true squared log
   error wins (then refined by reclassifying until stable).

   In both fits, when every anchor is compute-bound, mu is not identifiable: the fit reports its
   lower bound (the least intense anchor sits on the ridge) and uses it, which makes
   memory-bound predictions pessimistic; likewise for eta. :meth:`Predictor.transfer_report`
   gives eta, mu, tau, the per-anchor fitted residuals and the leave-one-model-out error (refit
   without the model, predict it), for the model used and, under ``roofline``, for the
   two-parameter fit on the same anchors. A model without a kernel count is predicted with the
   two-parameter fit (with a warning). Transferred predictions carry a median only (no
   quantiles).

   **efficiency_from.** A device with no measurement at all (``Predictor(...,
   efficiency_from={"jetson-tx1": "jetson-nano"})``) borrows the fitted (eta, mu, tau) of a
   measured device of the same family and applies them to its own catalogue peaks:
   ``t = max(bF / (eta_S P_D), bytes / (mu_S W_D)) + K tau_S``. It assumes the target reaches
   the same fraction of its peaks and spends the same time per kernel as the source; the
   prediction's source names the chain (the FLOPs' bundle, the anchor device and its bundles,
   the target's peaks). A device that has anchors of its own (for that phase and variant) uses
   its own fit; efficiency_from is for the others. :mod:`edgesim.calibration.transfer` writes
   such predictions as bundles (``edgesim calibrate transfer``).

Times in bundles are milliseconds; predictions are seconds. This module must not import torch.

The roofline fit is in :mod:`edgesim.hardware.profiles.roofline`, the transfer methods of the predictor
in :mod:`edgesim.hardware.profiles.predictor_transfer`, its errors and :class:`Prediction` in
:mod:`edgesim.hardware.profiles.predictor_common` and the service-time distribution
(:class:`QuantileTable`) in :mod:`edgesim.hardware.profiles.quantiles`; their public names are
re-exported here. For devices without bundles of their own, with runtime and precision as keys,
see :mod:`edgesim.calibration.predictor.device_predictor` (spec sheets and published anchors).
"""
from __future__ import annotations

import bisect
from typing import Mapping, Optional, Sequence

# Stream and ServiceModel are unused here since QuantileTable moved to quantiles.py; they stay
# importable from this module, as they were.
from edgesim.engine.rng import Stream  # noqa: F401
from edgesim.hardware.catalogue import CATALOGUE, DeviceInfo
from edgesim.hardware.service import ServiceModel  # noqa: F401
from edgesim.hardware.profiles.bundle import Bundle, load_bundles
# the errors, Prediction and helpers live in predictor_common.py, the transfer methods in
# predictor_transfer.py (so that each module stays short); all stay importable from here
from edgesim.hardware.profiles.predictor_common import (_RANK, BYTES_PER_INPUT_ELEMENT, PROVENANCES,  # noqa: F401
                               VARIANT_SEP, ExtrapolationError, Prediction, PredictionError,
                               TransferError, _base, _kernels_cell, _nan, _suggest, _variant)
from edgesim.hardware.profiles.predictor_transfer import TransferMixin
from edgesim.hardware.profiles.quantiles import QuantileTable
from edgesim.hardware.profiles.roofline import BYTES_PER_PARAM, _Fit, _Info, _Transfer, _fit_with_loo, fit_transfer  # noqa: F401
from edgesim.hardware.profiles.series import (_QCOLS, _Series, _config_label, _per_input_shapes,  # noqa: F401
                     _series_from, _shape_dims)

__all__ = ["Prediction", "Predictor", "QuantileTable", "PredictionError", "ExtrapolationError",
           "TransferError", "PROVENANCES", "BYTES_PER_PARAM"]


class Predictor(TransferMixin):
    """Predicts batch service times from bundles (see the module docstring for the order).

    ``bundles``: device id -> its bundles; ``catalogue``: device peaks for transfer (default:
    the built-in catalogue); ``model_info``: FLOPs, params, out/input bytes and ``kernels`` of
    models no bundle row describes; ``threads``: prefer rows measured with this many threads;
    ``efficiency_from``: target device -> measured device whose fitted (eta, mu, tau) a device
    without anchors borrows; ``overhead``: fit the per-kernel term (False: the two-parameter
    roofline).
    """

    def __init__(self, bundles: Mapping[str, Sequence[Bundle]],
                 catalogue: Optional[Mapping[str, DeviceInfo]] = None,
                 model_info: Optional[Mapping[str, Mapping[str, float]]] = None,
                 threads: Optional[int] = None,
                 efficiency_from: Optional[Mapping[str, str]] = None,
                 overhead: bool = True) -> None:
        self.bundles = {d: list(bs) for d, bs in bundles.items()}
        self.efficiency_from = dict(efficiency_from or {})
        self.overhead = bool(overhead)
        self.catalogue = dict(CATALOGUE if catalogue is None else catalogue)
        self.model_info = {k: dict(v) for k, v in (model_info or {}).items()}
        self.threads = threads
        self.warnings: list[str] = []
        self._series: dict[str, dict[tuple[str, str], _Series]] = {}
        for dev, bs in self.bundles.items():
            mine: dict[tuple[str, str], tuple[int, _Series]] = {}
            for i, b in enumerate(bs):
                if b.device_id != dev:
                    raise ValueError(f"{b.path}: bundle of device {b.device_id!r} filed under "
                                     f"{dev!r}")
                for (model, phase), rows in b.table.groupby(["model", "phase"], sort=True):
                    ser = _series_from(rows, str(b.path), threads)
                    rank = (_RANK.get(b.provenance, 3), i)
                    if (model, phase) not in mine or rank < mine[(model, phase)][0]:
                        mine[(model, phase)] = (rank, ser)
            self._series[dev] = {k: v[1] for k, v in mine.items()}
        self._transfers: dict[tuple[str, str, str], _Transfer] = {}
        self._infos: dict[tuple[str, str], Optional[_Info]] = {}

    @classmethod
    def from_paths(cls, paths, **kw) -> "Predictor":
        """Load bundles (folders or parents of folders, see load_bundles) and build a predictor."""
        return cls(load_bundles(paths), **kw)

    # -------------------------------------------------------------------------------- queries

    def devices(self) -> list[str]:
        """Devices with at least one bundle."""
        return sorted(self._series)

    def models(self, device: str, phase: str = "infer") -> list[str]:
        """Models with rows on ``device`` for ``phase`` (no transfer)."""
        self._check_device(device)
        return sorted(m for (m, p) in self._series.get(device, {}) if p == phase)

    def all_models(self, phase: str = "infer") -> list[str]:
        return sorted({m for ser in self._series.values() for (m, p) in ser if p == phase})

    def _check_device(self, device: str) -> None:
        if device not in self._series and device not in self.catalogue:
            raise PredictionError(f"unknown device {device!r}"
                                  + _suggest(device, [*self._series, *self.catalogue])
                                  + f" (bundles for: {', '.join(self.devices()) or 'none'})")

    # -------------------------------------------------------------------------------- predict

    def predict(self, model: str, device: str, batch: int, phase: str = "infer",
                allow_extrapolation: bool = False) -> Prediction:
        """Predict the service time of a batch of ``batch`` inputs of ``model`` on ``device``."""
        if isinstance(batch, bool) or int(batch) != batch or batch < 1:
            raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
        batch = int(batch)
        if phase not in ("infer", "train"):
            raise ValueError(f"phase must be 'infer' or 'train', got {phase!r}")
        self._check_device(device)
        ser = self._series.get(device, {}).get((model, phase))
        if ser is not None:
            return self._from_series(ser, model, device, batch, phase, allow_extrapolation)
        known = self.all_models(phase)
        if model not in known and _base(model) not in self.model_info and model not in self.model_info:
            raise PredictionError(
                f"unknown model {model!r} (phase {phase!r}): no bundle has it"
                + _suggest(model, known))
        return self._transferred(model, device, batch, phase)

    def _from_series(self, ser: _Series, model: str, device: str, b: int, phase: str,
                     allow: bool) -> Prediction:
        bs = ser.batches
        where = f"{ser.path} [{model}, {phase}{', ' + ser.config if ser.config else ''}]"
        i = bisect.bisect_left(bs, b)
        if i < len(bs) and bs[i] == b:
            prov = ser.row_prov[i]
            vals = {k: ser.q[k][i] for k in ser.q}
            return self._make(vals, prov if prov in ("literature", "transferred") else "measured",
                              f"{where}: {prov} row at batch {b}")
        if 0 < i < len(bs):
            b0, b1 = bs[i - 1], bs[i]
            w = (b - b0) / (b1 - b0)
            vals = {k: _lerp(v[i - 1], v[i], w) for k, v in ser.q.items()}
            provs = sorted({ser.row_prov[i - 1], ser.row_prov[i]})
            return self._make(vals, "interpolated",
                              f"{where}: interpolated between batch {b0} and {b1} "
                              f"({'/'.join(provs)} rows)")
        side = "above" if i == len(bs) else "below"
        have = ", ".join(map(str, bs))
        if len(bs) == 1:
            how = ("proportional to batch from batch " if side == "above"
                   else "held constant from batch ") + str(bs[0])
        else:
            pair = (bs[-2], bs[-1]) if side == "above" else (bs[0], bs[1])
            how = f"linearly from batches {pair[0]} and {pair[1]}"
        if not allow:
            raise ExtrapolationError(
                f"model {model!r} on device {device!r} ({phase}) is measured at batch {have} in "
                f"{ser.path}; batch {b} is {side} that range. Pass allow_extrapolation=True (or "
                f"set allow_extrapolation in the scenario) to extrapolate {how}, or measure "
                f"batch {b}")
        vals = {k: _extrapolate(bs, v, b) for k, v in ser.q.items()}
        warn = (f"extrapolated {model!r} on {device!r} ({phase}) to batch {b}, {side} the "
                f"measured batches {have} ({how})")
        self.warnings.append(warn)
        return self._make(vals, "extrapolated", f"{where}: extrapolated {how}", warn)

    @staticmethod
    def _make(vals: dict[str, float], prov: str, source: str,
              warning: Optional[str] = None) -> Prediction:
        q = {k: (None if _nan(v) else float(v)) for k, v in vals.items()}
        med = q["median"]
        if med is None or not med > 0:
            raise PredictionError(f"{source}: no usable median")
        # keep the quantiles ordered (interpolation keeps order; extrapolation might not)
        p10 = min(q["p10"], med) if q["p10"] is not None else None
        p90 = max(q["p90"], med) if q["p90"] is not None else None
        p99 = q["p99"]
        if p99 is not None:
            p99 = max(p99, p90 if p90 is not None else med)
        return Prediction(med, p10, p90, p99, prov, source, warning)

    # -------------------------------------------------------------------------------- service

    def service_model(self, model: str, device: str, phase: str = "infer", max_batch: int = 1,
                      allow_extrapolation: bool = False, spread: str = "quantiles"
                      ) -> "QuantileTable":
        """A ServiceModel for batches 1..max_batch, one prediction per batch (a lookup table).

        ``spread``: ``quantiles`` - inverse CDF through p10/median/p90/p99 (see QuantileTable);
        ``lognormal`` - lognormal through median and p90; ``none`` - the median exactly.
        The table's ``provenance`` maps batch -> provenance and ``sources`` batch -> source.
        """
        if int(max_batch) != max_batch or max_batch < 1:
            raise ValueError(f"max_batch must be an integer >= 1, got {max_batch!r}")
        preds = [self.predict(model, device, b, phase, allow_extrapolation)
                 for b in range(1, int(max_batch) + 1)]
        return QuantileTable(list(range(1, int(max_batch) + 1)),
                             [p.median_s for p in preds], [p.p10_s for p in preds],
                             [p.p90_s for p in preds], [p.p99_s for p in preds], spread=spread,
                             provenance=[p.provenance for p in preds],
                             sources=[p.source for p in preds],
                             warnings=[p.warning for p in preds if p.warning])


def _lerp(v0: float, v1: float, w: float) -> float:
    if _nan(v0) or _nan(v1):
        return float("nan")
    return v0 + (v1 - v0) * w


def _extrapolate(bs: list[int], vs: list[float], b: int) -> float:
    if len(bs) == 1:
        v = vs[0]
        return v * b / bs[0] if b > bs[0] else v
    if b > bs[-1]:
        b0, b1, v0, v1 = bs[-2], bs[-1], vs[-2], vs[-1]
        if _nan(v0) or _nan(v1):
            return float("nan")
        return max(v1 + (v1 - v0) * (b - b1) / (b1 - b0), v1)
    b0, b1, v0, v1 = bs[0], bs[1], vs[0], vs[1]
    if _nan(v0) or _nan(v1):
        return float("nan")
    return max(v0 + (v1 - v0) * (b - b0) / (b1 - b0), v0 * b / b0)


