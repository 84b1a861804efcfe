"""Transferred bundles: service times of a device nobody measured (``edgesim calibrate transfer``).

A transferred bundle holds, for a target device with no measurement at all, the predictor's
roofline-with-overhead transfer (see :mod:`edgesim.hardware.profiles.predictor`)::

    t_target(M, b) = max( b F_M / (eta P_target),  bytes_M(b) / (mu W_target) ) + K_M tau

* ``F_M``, ``bytes_M``, ``K_M`` (FLOPs, bytes moved, kernels per forward pass) of each model come
  from the **reference bundle** (the profiler's rows: ``flops``, ``params``, ``out_bytes``,
  ``input_shape`` and the extra column ``kernels``);
* ``eta``, ``mu``, ``tau`` are fitted on the anchor models of a **measured device of the same
  family** (``like``): models it measured (in the anchor bundles) that the reference also has;
* ``P_target``, ``W_target`` are the target's **catalogue** peaks (FP32 FLOP/s, bytes/s).

The assumption - the target reaches the same fraction of its peaks and spends the same time per
kernel as ``like`` - is stated in the bundle's ``meta.notes`` (with :data:`FAMILY_NOTES` where the
pairing is one this project made), together with the fit and its leave-one-out error. Rows carry
a median only (provenance ``transferred``) and the extra columns ``kernels``, ``bound``,
``compute_ms``, ``memory_ms``, ``overhead_ms``. This module does not import torch.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import pandas as pd

from edgesim.hardware.catalogue import DeviceInfo
from edgesim.hardware.profiles.bundle import COLUMNS, Bundle
from edgesim.hardware.profiles.predictor import Predictor, TransferError

__all__ = ["FAMILY_NOTES", "build_transferred", "transfer_summary"]

EXTRA = ["kernels", "bound", "compute_ms", "memory_ms", "overhead_ms"]

# Why a target borrows the efficiencies of a given measured device. Keyed (target, like).
FAMILY_NOTES: dict[tuple[str, str], str] = {
    ("jetson-tx1", "jetson-nano"): (
        "Jetson TX1 and Jetson Nano are the same generation: a Maxwell GPU (sm_53, FP16 at twice "
        "the FP32 rate on CUDA cores, no tensor cores; TX1 2 SMs / 256 cores at 998 MHz, Nano 1 SM "
        "/ 128 cores at 922 MHz) sharing 64-bit LPDDR4 (25.6 GB/s on both) with a quad Cortex-A57 "
        "host (1.73 GHz on TX1, 1.43 GHz on Nano). The kernel-launch and PyTorch dispatch overhead "
        "(tau) runs on the A57s, so TX1's is likely up to ~20 % lower than Nano's; eta and mu are "
        "fractions of peaks of the same microarchitecture."),
    ("jetson-tx2", "jetson-nano"): (
        "Jetson TX2 (Pascal, sm_62, 2 SMs / 256 cores) is closer to Nano's Maxwell (sm_53) than to "
        "Xavier's Volta (sm_72): Pascal's SM is Maxwell's (128 FP32 cores, FP16 at twice the FP32 "
        "rate on CUDA cores, no tensor cores), while Volta adds tensor cores that Xavier's FP16 "
        "figures use (its fitted eta against the FP32 peak absorbs them) and a different SM and "
        "cache design. TX2's host includes the same Cortex-A57 cluster as Nano (plus two Denver2 "
        "cores, 2.0 GHz), so the per-kernel overhead is of the same kind. TX2's 128-bit memory "
        "(59.7 GB/s) enters through its own catalogue bandwidth."),
    ("titan-x", "jetson-agx-xavier"): (
        "No desktop GPU is measured. Titan X (Pascal, GP102, 28 SMs) borrows Jetson AGX Xavier's "
        "fit as the largest measured GPU (8 Volta SMs) with the fastest host CPU (8 Carmel "
        "cores): low utilisation of a wide GPU at small batches and a per-kernel overhead nearer "
        "a desktop's than Nano's 1-SM GPU and A57 host. Both directions of error are known: "
        "Xavier's figures are FP16 on tensor cores while Titan X runs FP32 (its FP16 rate is "
        "1/64), so eta is optimistic for Titan X (compute-bound times too short, by up to the "
        "tensor-core gain); a desktop x86 host launches kernels several times faster than "
        "Xavier's ARM cores, so tau is pessimistic (overhead-bound times too long). Treat the "
        "figures as order-of-magnitude."),
    ("v100", "jetson-agx-xavier"): (
        "V100 and Xavier are both Volta (sm_70 / sm_72, tensor cores); V100 borrows Xavier's fit "
        "for its fraction of peak. Its x86 host makes the per-kernel overhead smaller than "
        "Xavier's (tau pessimistic)."),
}


def _rule(target: str, like: str) -> str:
    return FAMILY_NOTES.get((target, like), (
        f"{target} is assumed to reach the same fraction of its catalogue peaks and to spend the "
        f"same time per kernel as {like} (no project note for this pairing)"))


def _input_shape(predictor: Predictor, model: str, phase: str) -> str:
    best = None
    for dev in sorted(predictor.bundles):
        for bnd in predictor.bundles[dev]:
            t = bnd.table
            rows = t[(t["model"] == model) & (t["phase"] == phase) & t["flops"].notna()]
            for _, r in rows.iterrows():
                rank = (int(r["batch"]) != 1, int(r["batch"]))
                if r["input_shape"] and (best is None or rank < best[0]):
                    shape = str(r["input_shape"])
                    dims = shape.split("x")
                    if int(r["batch"]) > 1 and len(dims) >= 2 and int(dims[0]) == int(r["batch"]):
                        shape = "x".join(dims[1:])
                    best = (rank, shape)
    return best[1] if best else ""


def _pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def build_transferred(predictor: Predictor, target: str, like: str, models: Sequence[str],
                      batches: Sequence[int], phase: str = "infer",
                      reference: Sequence[str] = (), anchors: Sequence[str] = (),
                      command: str = "") -> tuple[dict, pd.DataFrame, dict]:
    """(meta, table, report) of the transferred bundle of ``target``; see the module docstring.

    ``predictor`` must hold the reference and anchor bundles and map ``target`` to ``like`` in
    its ``efficiency_from``. Raises :class:`TransferError` when ``like`` has no anchors for
    ``phase`` or a model's FLOPs are unknown.
    """
    if predictor.efficiency_from.get(target) != like:
        raise ValueError(f"the predictor must map {target!r} to {like!r} in efficiency_from")
    if target in predictor.devices():
        raise TransferError(f"{target!r} has bundles of its own among the inputs; a transferred "
                            f"bundle is for a device with no measurement")
    variants = sorted({m.split("+", 1)[1] if "+" in m else "" for m in models})
    reports = {v: predictor.transfer_report(target, phase, v) for v in variants}
    rows = []
    for model in models:
        info = predictor._info(model, phase)
        shape = _input_shape(predictor, model.split("+", 1)[0], phase)
        for b in sorted(set(int(x) for x in batches)):
            p = predictor.predict(model, target, b, phase)
            if p.provenance != "transferred":
                raise TransferError(f"{model} on {target}: expected a transferred prediction, got "
                                    f"{p.provenance} ({p.source})")
            rep = reports[model.split("+", 1)[1] if "+" in model else ""]
            fit_eta, fit_mu = rep["eta"], rep["mu"]
            tau = rep["tau"] if rep["model"] == "roofline+overhead" else 0.0
            if info.kernels is None:
                fit_eta, fit_mu, tau = rep["roofline"]["eta"], rep["roofline"]["mu"], 0.0
            c, m = info.cost(b, rep["peak_flops"], rep["mem_bandwidth"])
            comp, mem = c / fit_eta, m / fit_mu
            over = (info.kernels or 0.0) * tau
            rows.append({
                "model": model, "phase": phase, "batch": b, "input_shape": shape,
                "threads": None, "n": None, "median_ms": p.median_s * 1e3,
                "p10_ms": math.nan, "p90_ms": math.nan, "p99_ms": math.nan, "mean_ms": math.nan,
                "std_ms": math.nan, "flops": info.flops * b, "params": info.params,
                "out_bytes": info.out_bytes * b, "peak_mem_mb": math.nan,
                "provenance": "transferred",
                "kernels": "" if info.kernels is None else str(int(info.kernels)),
                "bound": "compute" if comp >= mem else "memory",
                "compute_ms": repr(comp * 1e3), "memory_ms": repr(mem * 1e3),
                "overhead_ms": repr(over * 1e3)})
    table = pd.DataFrame(rows, columns=[*COLUMNS, *EXTRA])
    for col in ("threads", "n"):
        table[col] = table[col].astype("Int64")

    cat: DeviceInfo = predictor.catalogue[target]
    like_cat = predictor.catalogue.get(like)
    sources: list[dict] = []
    anchor_bundles: list[Bundle] = list(predictor.bundles.get(like, []))
    for bnd in anchor_bundles:
        for src in bnd.meta.get("sources", []):
            if src not in sources:
                sources.append(src)
    parts = [f"Transferred, not measured: every row is a prediction for {target} ({cat.description}) "
             f"by the roofline-with-overhead transfer t = max(b F / (eta P), bytes / (mu W)) + K tau "
             f"of edgesim.hardware.profiles.predictor."]
    ref_txt = ", ".join(reference) or "the reference bundle"
    parts.append(f"Chain: F (FLOPs), bytes (parameters x 4 + input and output bytes) and K (compute "
                 f"kernels per forward pass, zoo.describe) of each model from the reference bundle "
                 f"{ref_txt}; eta, mu, tau fitted on the anchor models that {like} measured in "
                 f"{', '.join(anchors) or ', '.join(str(b.path) for b in anchor_bundles)}; P, W "
                 f"the catalogue peaks of {target} ({cat.peak_flops / 1e12:.4g} TFLOP/s FP32, "
                 f"{cat.mem_bandwidth / 1e9:.4g} GB/s: {cat.source}).")
    parts.append(f"Assumption (efficiency_from {target} -> {like}): {_rule(target, like)}")
    for v, rep in reports.items():
        var = f" (runtime variant +{v})" if v else ""
        names = sorted({a["model"] for a in rep["anchors"]})
        loo, loo2 = rep["loo"] or {}, rep["roofline"]["loo"] or {}
        if rep["model"] == "roofline+overhead":
            fit = (f"eta={rep['eta']:.4g}{'' if rep['eta_identified'] else ' (a bound)'}, "
                   f"mu={rep['mu']:.4g}{'' if rep['mu_identified'] else ' (a bound)'}, "
                   f"tau={rep['tau'] * 1e6:.4g} us per kernel, {rep['dof']} residual degree(s) "
                   f"of freedom")
        else:
            fit = (f"two-parameter roofline (tau not fitted: {rep['fallback']}), "
                   f"eta={rep['eta']:.4g}, mu={rep['mu']:.4g}")
        peaks = (f", against {like}'s peaks {like_cat.peak_flops / 1e12:.4g} TFLOP/s, "
                 f"{like_cat.mem_bandwidth / 1e9:.4g} GB/s" if like_cat and like_cat.peak_flops
                 and like_cat.mem_bandwidth else "")
        parts.append(
            f"Fit{var} on {len(names)} anchor model(s) of {like} ({', '.join(names)}){peaks}: "
            f"{fit}; leave-one-model-out |error| median {_pct(loo.get('median_abs_rel_err'))}, "
            f"max {_pct(loo.get('max_abs_rel_err'))}"
            + (f" (folds that fell back to the roofline: {', '.join(loo['fallback_folds'])})"
               if loo.get("fallback_folds") else "")
            + f"; without the overhead term: median {_pct(loo2.get('median_abs_rel_err'))}, "
            f"max {_pct(loo2.get('max_abs_rel_err'))}.")
    parts.append("Rows carry a median only (no spread is known); columns compute_ms, memory_ms "
                 "and overhead_ms split each median into its terms.")
    no_k = [m for m in models if predictor._info(m, phase).kernels is None]
    if no_k:
        parts.append(f"No kernel count for {', '.join(no_k)}: those rows use the two-parameter "
                     f"roofline (no overhead).")
    fingerprint = {
        "transfer": {
            "target": target, "like": like, "phase": phase,
            "reference": list(reference), "anchors": list(anchors),
            "target_peaks": {"peak_flops": cat.peak_flops, "mem_bandwidth": cat.mem_bandwidth,
                             "source": cat.source},
            "fits": {v or "eager": {k: rep[k] for k in (
                "fitted_on", "bundles", "model", "eta", "mu", "tau", "eta_identified",
                "mu_identified", "fallback", "dof", "n_anchor_models", "rms_log_residual",
                "loo", "roofline")} for v, rep in reports.items()},
            "anchor_models": {v or "eager": [{k: a[k] for k in ("model", "batch", "observed_s",
                                                                 "fitted_s", "kernels")}
                                             | {"loo_rel_err": a.get("loo_rel_err")}
                                             for a in rep["anchors"]]
                              for v, rep in reports.items()},
            "assumption": _rule(target, like)}}
    meta = {"schema_version": 1, "device_id": target, "provenance": "transferred",
            "fingerprint": fingerprint, "command": command, "sources": sources,
            "notes": " ".join(parts)}
    return meta, table, reports


def transfer_summary(table: pd.DataFrame) -> list[list[str]]:
    """Rows for a printed table: model, batch, median ms, bound, compute/memory/overhead ms."""
    return [[r.model, str(r.batch), f"{r.median_ms:.3f}", r.bound, f"{float(r.compute_ms):.3f}",
             f"{float(r.memory_ms):.3f}", f"{float(r.overhead_ms):.3f}"]
            for r in table.itertuples(index=False)]
