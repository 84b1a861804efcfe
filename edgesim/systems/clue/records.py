"""What a CLUE run measured: its tables (batches, transfers, detections, scheduled drifts and
their recovery, FedAvg rounds), the `clue` part of summary.json, and the data-transfer totals
of Eq. 3a and 3b from the run's realised counts next to the bytes the network carried."""
from __future__ import annotations

import math
from statistics import fmean
from typing import Optional

import numpy as np
import pandas as pd

from edgesim.training.timed import models_section

from edgesim.learning import knowledge as K
from edgesim.systems.clue.paper import PAPER_TABLE_1, table_1_ours

BATCH_COLUMNS = ["node", "batch", "arrival", "start", "served", "end", "phase", "error",
                 "own_error", "rolling_error", "test_error", "train_loss", "helpers",
                 "drift_detected"]
TRANSFER_COLUMNS = ["op", "src", "dst", "node", "batch", "start", "end", "bytes"]
DETECTION_COLUMNS = ["drift", "node", "batch", "time", "rolling_error", "reference_error",
                     "classes", "helpers", "similarity", "asked", "answered", "helped",
                     "helped_batch", "discarded_batch", "discarded_by", "kt_bytes", "outcome"]
RECOVERY_COLUMNS = ["node", "phase", "batch", "new_classes", "reference_error", "peak_error",
                    "recovered_batch", "batches_observed", "batches_to_recover", "seconds_to_recover",
                    "detected_batch", "helped_batch"]


def federated_levels(run) -> dict[str, float]:
    """Each node's mean batch error over a FedAvg run: the level the paper's adaptability is
    measured against (§7.1 Metrics; Fig. 5's dotted line, 'averaging the federated learning
    error rate')."""
    out: dict[str, list] = {}
    for r in run.batch_rows:
        out.setdefault(r["node"], []).append(r["error"])
    return {node: float(np.mean(v)) for node, v in out.items()}


def recoveries(run, levels: Optional[dict] = None) -> list[dict]:
    """Every scheduled drift that brings classes a node has not served in its previous phase,
    and how long the node took to recover: the first batch b >= s + W - 1 whose rolling error
    over the W batches b-W+1..b (all after the drift at s) is back within `tolerance` of the
    reference: the node's error level under federated learning (``levels``, the paper's
    measure), or (``recovery.against: own``) the rolling error of the W batches before s.
    Counted in batches (the paper's unit) and in simulated seconds from the drift batch's
    arrival to the end of batch b."""
    spec = run.spec
    W, tol = spec.drift.window, spec.help.tolerance
    out = []
    for node in run.nodes:
        rows = [r for r in run.batch_rows if r["node"] == node.name]
        errs = np.array([r["error"] for r in rows])
        dets = [d for d in run.detections if d["node"] == node.name]
        for k in range(1, len(node.phases)):
            s = node.phases[k].start
            new = sorted(set(node.phases[k].classes) - set(node.phases[k - 1].classes))
            if not new or s >= len(errs):
                continue
            end = node.phases[k + 1].start if k + 1 < len(node.phases) else len(errs)
            if levels is not None:
                ref = levels[node.name]
            else:
                ref = float(errs[max(0, s - W):s].mean()) if s > 0 else 0.0
            rolling = [float(errs[b - W + 1:b + 1].mean()) for b in range(s + W - 1,
                                                                         min(end, len(errs)))]
            hit = next((i for i, e in enumerate(rolling) if e <= ref + tol), None)
            rec_b = None if hit is None else s + W - 1 + hit
            det = next((d for d in dets if s <= d["batch"] < end), None)
            out.append({
                "node": node.name, "phase": k, "batch": s, "new_classes": new,
                "reference_error": ref, "peak_error": max(rolling) if rolling else math.nan,
                "recovered_batch": -1 if rec_b is None else rec_b,
                "batches_observed": min(end, len(errs)) - s,
                "batches_to_recover": math.nan if rec_b is None else rec_b - s + 1,
                "seconds_to_recover": (math.nan if rec_b is None
                                       else rows[rec_b]["end"] - rows[s]["arrival"]),
                "detected_batch": -1 if det is None else det["batch"],
                "helped_batch": -1 if det is None else det["helped_batch"]})
    return out


def _frame(rows: list[dict], columns: list[str], lists: tuple = ()) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    for col in lists:
        df[col] = df[col].astype(object)
    return df


def frames(run, levels: Optional[dict] = None) -> dict[str, pd.DataFrame]:
    """The run's tables; ``levels``: the error levels recovery was measured against (the
    summary's, :func:`reference_levels`)."""
    batches = _frame(run.batch_rows, BATCH_COLUMNS)
    batches["node"] = batches["node"].astype("category")
    transfers = _frame(run.transfers, TRANSFER_COLUMNS)
    for col in ("op", "src", "dst", "node"):
        transfers[col] = transfers[col].astype("category")
    dets = [dict({"discarded_batch": -1, "discarded_by": None}, **d) for d in run.detections]
    out = {"batches": batches, "transfers": transfers,
           "detections": _frame(dets, DETECTION_COLUMNS, ("classes", "helpers", "similarity")),
           "recovery": _frame(recoveries(run, levels), RECOVERY_COLUMNS, ("new_classes",))}
    if run.spec.mode == "federated":
        out["rounds"] = _frame(run.rounds, ["round", "participants", "aggregated", "end",
                                            "bytes_out", "bytes_in"], ("participants",))
    return out


def _bytes_by_op(run) -> dict[str, float]:
    out = {op: 0.0 for op in ("MU_out", "MU_in", "MdS_out", "KT_in", "control")}
    for t in run.transfers:
        out[t["op"]] += t["bytes"]
    return out


def eq3(run) -> dict:
    """Eq. 3a (federated) or 3b (clue) from the realised counts, beside the bytes counted."""
    by_op = _bytes_by_op(run)
    if run.spec.mode == "federated":
        done = sorted(run.rounds, key=lambda r: r["round"])
        n_prime = [len(r["participants"]) for r in done]
        return {"equation": "3a", "MU_out_bytes": run.model_bytes,
                "MU_in_bytes": run.model_bytes, "n": len(run.nodes),
                "participants_per_round": n_prime, "f_update": len(done),
                "formula_bytes": K.dt_federated(run.model_bytes, run.model_bytes,
                                                len(run.nodes), n_prime),
                "counted_bytes": by_op["MU_out"] + by_op["MU_in"]}
    reports = sum(1 for t in run.transfers if t["op"] == "MdS_out")
    helped = [d for d in run.detections if d["outcome"] == "helped"]
    h = [len(d["helpers"]) for d in helped]
    return {"equation": "3b", "MdS_out_bytes": reports * run.md_bytes,
            "metadata_reports": reports, "metadata_report_bytes": run.md_bytes,
            "drifts_helped": len(helped), "helpers_per_drift": h,
            "KT_in_bytes": run.kt_bytes, "significant_parameters": run.kt_count,
            "formula_bytes": K.dt_clue(reports * run.md_bytes, h, run.kt_bytes),
            "counted_bytes": by_op["MdS_out"] + by_op["KT_in"]}


def _mean(xs) -> Optional[float]:
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return fmean(xs) if xs else None


def reference_levels(sim, system) -> Optional[dict]:
    """The federated error levels recovery is measured against (None: `against: own`): this
    run's own when it is the FedAvg baseline, else those of a FedAvg run of the same scenario
    and seed, with the same nodes, requests and drifts, aggregating on the scenario's hub."""
    spec = system.spec
    if spec.recovery.against == "own":
        return None
    if spec.mode == "federated":
        return federated_levels(system.run_)
    ref = sim.reference(mode="federated", mds=None, aggregator=system.recovery_hub).run()
    return federated_levels(ref.system.run_)


def summary(sim, system) -> dict:
    run, spec = system.run_, system.spec
    rec = recoveries(run, system.recovery_levels)
    by_op = _bytes_by_op(run)
    n = len(run.nodes)
    errs = [r["error"] for r in run.batch_rows]
    last_test = {}
    for r in run.batch_rows:
        if not math.isnan(r["test_error"]):
            last_test[r["node"]] = r["test_error"]
    dets = run.detections
    return {
        "mode": spec.mode,
        "nodes": n,
        "batches_per_node": spec.workload.batches,
        "batches_served": len(run.batch_rows),
        "model": spec.model.name,
        "parameters": run.P,
        "dataset": {"name": system.data.name, "examples": len(system.data),
                    "test_examples": int(sum(len(v) for v in run.test_by_class.values())),
                    "classes": run.C},
        "mean_error": _mean(errs),
        "final_test_error": _mean(list(last_test.values())),
        "scheduled_drifts": len(rec),
        "recovered": sum(1 for r in rec if not math.isnan(r["batches_to_recover"])),
        "mean_batches_to_recover": _mean([r["batches_to_recover"] for r in rec]),
        # A drift not recovered within its phase counts as the batches it was observed: a
        # lower bound, so that a run is not flattered by leaving out its slowest drifts.
        "mean_batches_to_recover_censored": _mean([
            r["batches_observed"] if math.isnan(r["batches_to_recover"])
            else r["batches_to_recover"] for r in rec]),
        "mean_seconds_to_recover": _mean([r["seconds_to_recover"] for r in rec]),
        "recovery_reference": {"against": spec.recovery.against,
                               "levels": system.recovery_levels},
        "mean_peak_error": _mean([r["peak_error"] for r in rec]),
        "detections": len(dets),
        "helped": sum(1 for d in dets if d["outcome"] == "helped"),
        "mean_help_latency_batches": _mean([float(d["helped_batch"] - d["batch"])
                                            for d in dets if d["helped_batch"] >= 0]),
        "bytes": by_op,
        "bytes_total": sum(by_op.values()),
        "bytes_per_node": sum(by_op.values()) / n if n else None,
        "eq3": eq3(run),
        "per_operation_mb": per_operation(run, by_op),
        "table_1_ours": table_1_ours(spec.dtype_bytes, spec.help.significant,
                                     spec.help.encoding),
        "table_1_paper": PAPER_TABLE_1,
    } | models_section(system.timed, spec.model.name, run.P)


def per_operation(run, by_op: dict) -> dict:
    """Table 1's measure for this run: mean MB of one Out and one In operation."""
    counts = {op: sum(1 for t in run.transfers if t["op"] == op) for op in by_op}

    def mean(op):
        return by_op[op] / counts[op] / 1e6 if counts[op] else None
    if run.spec.mode == "federated":
        return {"out": mean("MU_out"), "in": mean("MU_in")}
    return {"out": mean("MdS_out"), "in": mean("KT_in")}


__all__ = ["frames", "summary", "recoveries", "eq3"]
