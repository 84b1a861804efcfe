"""The roofline transfer half of :class:`edgesim.hardware.profiles.predictor.Predictor`: FLOPs and
kernel counts of a model (``_info``), the per-device fit (``_transfer_fit``), transferred
predictions and :meth:`transfer_report`. A mixin, so that the predictor module stays readable;
the model and its fit are described in :mod:`edgesim.hardware.profiles.predictor`. Torch-free.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from edgesim.hardware.profiles.predictor_common import (_RANK, BYTES_PER_INPUT_ELEMENT, VARIANT_SEP, Prediction,
                               TransferError, _base, _kernels_cell, _nan, _suggest, _variant)
from edgesim.hardware.profiles.roofline import BYTES_PER_PARAM, _fit_with_loo, _Info, _Transfer
from edgesim.hardware.profiles.series import _shape_dims

__all__ = ["TransferMixin"]


class TransferMixin:
    """Transfer methods of :class:`~edgesim.hardware.profiles.predictor.Predictor` (which sets the
    attributes used here: bundles, catalogue, model_info, efficiency_from, overhead, warnings,
    _series, _transfers, _infos)."""

    def _info(self, model: str, phase: str) -> Optional[_Info]:
        key = (model, phase)
        if key in self._infos:
            return self._infos[key]
        info = None
        for name in (model, _base(model)):
            mi = self.model_info.get(name)
            if mi is not None:
                if "flops" not in mi or "params" not in mi:
                    raise TransferError(f"model_info[{name!r}] needs 'flops' and 'params'")
                info = _Info(float(mi["flops"]), float(mi["params"]),
                             float(mi.get("out_bytes", 0.0)), float(mi.get("input_bytes", 0.0)),
                             f"model_info[{name!r}]")
                if "param_bytes" in mi:
                    info.params = float(mi["param_bytes"]) / BYTES_PER_PARAM
                if mi.get("kernels") is not None:
                    info.kernels = float(mi["kernels"])
                else:   # the kernel count may still come from a bundle row
                    rows = self._info_from_rows(name, phase)
                    info.kernels = rows.kernels if rows is not None else None
                break
        if info is None:
            info = self._info_from_rows(model, phase) or self._info_from_rows(_base(model), phase)
        self._infos[key] = info
        return info

    def _info_from_rows(self, model: str, phase: str) -> Optional[_Info]:
        best = None
        kernels: Optional[tuple[tuple, float]] = None
        for dev in sorted(self.bundles):
            for bnd in self.bundles[dev]:
                t = bnd.table
                mine = t[(t["model"] == model) & (t["phase"] == phase)]
                if "kernels" in t.columns:           # an extra column (text), see the profiler
                    for _, r in mine.iterrows():
                        k = _kernels_cell(r["kernels"])
                        rank = (_RANK.get(r["provenance"], 3), int(r["batch"]))
                        if k is not None and (kernels is None or rank < kernels[0]):
                            kernels = (rank, k)
                rows = mine[mine["flops"].notna() & mine["params"].notna()]
                for _, r in rows.iterrows():
                    rank = (int(r["batch"]) != 1, _RANK.get(r["provenance"], 3), int(r["batch"]))
                    if best is None or rank < best[0]:
                        best = (rank, r, bnd)
        if best is None:
            return None
        _, r, bnd = best
        b = int(r["batch"])
        out = 0.0 if _nan(r["out_bytes"]) else float(r["out_bytes"]) / b
        inp = 0.0
        dims = _shape_dims(r["input_shape"])
        if dims:
            if b > 1 and len(dims) >= 2 and dims[0] == b:   # a shape written with its batch
                dims = dims[1:]
            inp = float(np.prod(dims)) * BYTES_PER_INPUT_ELEMENT
        return _Info(float(r["flops"]) / b, float(r["params"]), out, inp,
                     f"{bnd.path} ({bnd.device_id}, {model} batch {b})",
                     None if kernels is None else kernels[1])

    def _peaks(self, device: str) -> tuple[float, float]:
        d = self.catalogue.get(device)
        if d is None or not d.peak_flops or not d.mem_bandwidth:
            raise TransferError(
                f"cannot transfer to {device!r}: the catalogue has no peak FLOP/s and memory "
                f"bandwidth for it; give them (devices.{device}.peak_flops / mem_bandwidth)")
        return float(d.peak_flops), float(d.mem_bandwidth)

    def _has_anchors(self, device: str, phase: str, variant: str) -> bool:
        return any(p == phase and _variant(m) == variant and self._info(m, phase) is not None
                   for (m, p) in self._series.get(device, {}))

    def _transfer_for(self, device: str, phase: str, variant: str) -> tuple[_Transfer, Optional[str]]:
        """The fit that transfers to ``device``: its own, or that of its efficiency_from device."""
        src = self.efficiency_from.get(device)
        if src is not None and not self._has_anchors(device, phase, variant):
            if src not in self._series:
                raise TransferError(
                    f"efficiency_from maps {device!r} to {src!r}, which has no bundle"
                    + _suggest(src, self._series))
            try:
                return self._transfer_fit(src, phase, variant), src
            except TransferError as exc:
                raise TransferError(f"cannot transfer to {device!r} ({phase}) with the fit of "
                                    f"{src!r} (efficiency_from): {exc}") from None
        return self._transfer_fit(device, phase, variant), None

    def _transfer_fit(self, device: str, phase: str, variant: str) -> _Transfer:
        key = (device, phase, variant)
        if key in self._transfers:
            return self._transfers[key]
        peak, bw = self._peaks(device)
        pts = []   # (model, batch, c, m, k, t, source)
        missing_info = []
        for (m, p), ser in sorted(self._series.get(device, {}).items()):
            if p != phase or _variant(m) != variant:
                continue
            info = self._info(m, phase)
            if info is None:
                missing_info.append(m)
                continue
            for b, t in zip(ser.batches, ser.q["median"]):
                c, mm = info.cost(b, peak, bw)
                if c > 0 and mm > 0 and t > 0:
                    pts.append((m, b, c, mm, info.kernels, t, info.source))
        if not pts:
            var = f" of runtime variant '{VARIANT_SEP}{variant}'" if variant else ""
            raise TransferError(
                f"cannot transfer to {device!r} ({phase}): no anchor models{var} - models "
                f"measured on {device!r} whose FLOPs and parameters are known"
                + (f" (measured there but without FLOPs anywhere: {', '.join(missing_info)}; "
                   f"profile them on the reference CPU or pass model_info)" if missing_info
                   else f" (devices with bundles: {', '.join(self.devices()) or 'none'})"))
        fit, anchors, loo = _fit_with_loo(pts, self.overhead)
        # the two-parameter roofline on the same anchors, for comparison (and for models
        # without a kernel count)
        fit2, anchors2, loo2 = _fit_with_loo(pts, False) if fit.overhead else (fit, anchors, loo)
        for a, a2 in zip(anchors, anchors2):
            a["roofline_fitted_s"] = a2["fitted_s"]
            if "loo_s" in a2:
                a["roofline_loo_rel_err"] = a2["loo_rel_err"]
        paths = sorted({ser.path for (m, p), ser in self._series.get(device, {}).items()
                        if p == phase and _variant(m) == variant})
        tr = _Transfer(device, phase, variant, fit, peak, bw, anchors, loo, fit2, loo2, paths)
        self._transfers[key] = tr
        return tr

    def _transferred(self, model: str, device: str, b: int, phase: str) -> Prediction:
        info = self._info(model, phase)
        if info is None:
            where = sorted(d for d, s in self._series.items() if (model, phase) in s)
            raise TransferError(
                f"model {model!r} is not measured on {device!r} ({phase}) and its FLOPs and "
                f"parameter count are unknown (no bundle row for it has flops and params; it is "
                f"measured on: {', '.join(where) or 'no device'}); profile it on the reference "
                f"CPU or pass model_info={{{model!r}: {{'flops': ..., 'params': ..., "
                f"'out_bytes': ...}}}}")
        tr, src = self._transfer_for(device, phase, _variant(model))
        peak, bw = self._peaks(device)
        fit, loo, warning = tr.fit, tr.loo, None
        if fit.overhead and info.kernels is None:
            fit, loo = tr.fit2, tr.loo2
            warning = (f"{model!r} has no kernel count (no 'kernels' in its reference rows): "
                       f"predicted with the two-parameter roofline, without launch overhead")
            self.warnings.append(warning)
        c, m = info.cost(b, peak, bw)
        tc, tm = c / fit.eta, m / fit.mu
        t = fit.time(c, m, info.kernels)
        loo_txt = (f"; leave-one-out median |error| {loo['median_abs_rel_err']:.1%}, max "
                   f"{loo['max_abs_rel_err']:.1%}" if loo else "; a single anchor model: no "
                   "leave-one-out error")
        nmod = len({a['model'] for a in tr.anchors})
        params = (f"eta={fit.eta:.4g}{'' if fit.eta_identified else ' (bound)'}, "
                  f"mu={fit.mu:.4g}{'' if fit.mu_identified else ' (bound)'}")
        if fit.overhead:
            params += (f", tau={fit.tau * 1e6:.4g} us/kernel x {info.kernels:.0f} kernels "
                       f"= {fit.tau * info.kernels * 1e3:.4g} ms")
        elif fit.fallback:
            params += f" (two-parameter roofline: {fit.fallback})"
        where = f"{device!r} ({phase})"
        if src is not None:
            fitted = (f"fitted on {nmod} anchor model(s) of {src!r} ({', '.join(tr.paths)}) and "
                      f"applied to {device!r}'s catalogue peaks ({peak / 1e12:.4g} TFLOP/s, "
                      f"{bw / 1e9:.4g} GB/s) - efficiency_from assumes {device!r} reaches the "
                      f"same fraction of its peaks and the same time per kernel as {src!r}")
        else:
            fitted = f"fitted on {nmod} anchor model(s)"
        srctext = (f"{fit.model} transfer to {where}: {'compute' if tc >= tm else 'memory'}"
                   f"-bound, {params} {fitted}{loo_txt}; FLOPs/params"
                   f"{'/kernels' if fit.overhead else ''} from {info.source}")
        return Prediction(t, None, None, None, "transferred", srctext, warning)

    def transfer_report(self, device: str, phase: str = "infer", variant: str = "") -> dict:
        """The transfer fit for ``device``: efficiencies, overhead, anchors, leave-one-out error.

        Keys: device, phase, variant, efficiency_from (the device whose fit is used, or None when
        ``device`` has anchors of its own), fitted_on, peak_flops, mem_bandwidth (of ``device``),
        model (``roofline+overhead`` or ``roofline``), eta, mu, tau (seconds per kernel; 0 for the
        roofline), eta_identified, mu_identified, fallback (why tau was not fitted, where the
        predictor asked for it; None otherwise), dof (anchor points minus parameters of the
        three-parameter fit), n_anchor_models, rms_log_residual, max_abs_rel_residual, anchors
        (one dict per anchor row: model, batch, observed_s, fitted_s, rel_err, bound,
        overhead_s, kernels, loo_s, loo_rel_err, loo_model, roofline_fitted_s,
        roofline_loo_rel_err, info), loo (median/mean/max absolute relative error, per model,
        and ``fallback_folds``: models whose leave-one-out refit fell back to the roofline; None
        with fewer than two anchor models) and, for comparison, ``roofline`` (eta, mu, loo of
        the two-parameter fit on the same anchors).
        """
        self._check_device(device)
        tr, src = self._transfer_for(device, phase, variant.lstrip(VARIANT_SEP))
        peak, bw = self._peaks(device)
        res = np.array([math.log(a["fitted_s"] / a["observed_s"]) for a in tr.anchors])
        return {"device": device, "phase": phase, "variant": tr.variant,
                "efficiency_from": src, "fitted_on": tr.device, "bundles": list(tr.paths),
                "peak_flops": peak, "mem_bandwidth": bw,
                "model": tr.fit.model, "eta": tr.fit.eta, "mu": tr.fit.mu, "tau": tr.fit.tau,
                "eta_identified": tr.fit.eta_identified, "mu_identified": tr.fit.mu_identified,
                "fallback": tr.fit.fallback, "dof": tr.fit.dof,
                "n_anchor_models": len({a["model"] for a in tr.anchors}),
                "rms_log_residual": float(np.sqrt(np.mean(res ** 2))),
                "max_abs_rel_residual": float(max(abs(a["rel_err"]) for a in tr.anchors)),
                "anchors": [dict(a) for a in tr.anchors],
                "loo": None if tr.loo is None else dict(tr.loo),
                "roofline": {"eta": tr.fit2.eta, "mu": tr.fit2.mu,
                             "eta_identified": tr.fit2.eta_identified,
                             "mu_identified": tr.fit2.mu_identified,
                             "loo": None if tr.loo2 is None else dict(tr.loo2)}}

