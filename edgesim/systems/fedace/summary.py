"""The `federated` part of summary.json: accuracy, time and bytes of the rounds that ran."""
from __future__ import annotations

import math
from statistics import fmean

import numpy as np

from edgesim.learning import compression as comp
from edgesim.training.timed import models_section


def scheme(spec) -> str:
    """'fedavg' with every FedAce mechanism off, 'fedace' with all on, else the ones on."""
    on = [name for name, flag in (("client-importance", spec.selection.scheme == "importance"),
                                  ("data-importance", spec.data_sampling.scheme == "importance"),
                                  ("compression", spec.compression is not None)) if flag]
    if not on:
        return "fedavg"
    return "fedace" if len(on) == 3 else "+".join(on)


def federated_summary(sim, system) -> dict:
    spec, run = system.spec, system.run_
    rows = run.rounds
    accs = [r["accuracy"] for r in rows if not math.isnan(r["accuracy"])]
    per_round = [r["bytes_down"] + r["bytes_up"] + r["bytes_importance"] for r in rows]
    dense = comp.dense_bytes(run.P_wire, spec.dtype_bytes)     # of the timed model
    final_bytes = rows[-1]["model_bytes"] if rows else dense
    parts = run.participation
    trained = [p for p in parts if p["role"] == "train"]
    out = {
        "scheme": scheme(spec),
        "clients": len(system.clients),
        "per_round": spec.per_round,
        "model": spec.learning.model.name,
        "parameters": run.P,
        "forward_flops_per_example": system.learner.flops_per_example,
        "dataset": {"name": system.data.name, "examples": len(system.data),
                    "test_examples": len(run.test), "classes": system.data.classes,
                    "shard_sizes": [len(c.shard) for c in system.clients]},
        "rounds": len(rows),
        "complete": len(rows) == spec.rounds or (spec.stop_at_target
                                                 and run.target_round is not None),
        "final_accuracy": accs[-1] if accs else None,
        "best_accuracy": max(accs) if accs else None,
        "final_loss": next((r["loss"] for r in reversed(rows) if not math.isnan(r["loss"])),
                           None),
        "target_accuracy": spec.target_accuracy,
        "rounds_to_target": run.target_round,
        "time_to_target_s": run.target_time,
        "mean_round_s": fmean(r["duration"] for r in rows) if rows else None,
        "bytes_per_round": fmean(per_round) if per_round else None,
        "bytes_total": sum(per_round),
        # §3.4: importance collection sends the latest model to the refreshing clients (the
        # least recently updated ones outside the round's trainers) and takes back their
        # losses; reported apart so that traffic with and without it can be read.
        "bytes_per_round_training": (fmean(r["bytes_down"] + r["bytes_up"] for r in rows)
                                     if rows else None),
        "bytes_per_round_importance": (fmean(r["bytes_importance"] for r in rows)
                                       if rows else None),
        "dense_model_bytes": dense,
        "final_model_bytes": final_bytes,
        "final_model_fraction": final_bytes / dense,
        "final_sparsity": rows[-1]["sparsity"] if rows else 0.0,
        "updates": sum(r["updates"] for r in rows),
        "dropouts": {k: sum(r[k] for r in rows) for k in ("late", "crashed", "lost")},
        "selected": len(trained),
        "importance_refreshes": sum(1 for p in parts if p["role"] == "importance"),
        "learning_wall_s": sum(r["learn_wall_s"] for r in rows),
    }
    out.update(models_section(system.timed, spec.learning.model.name, run.P))
    data = system.data
    if data.clean_y is not None:
        # A difficulty set: the share of noisy labels among the clients' examples, and among
        # the examples local training visited (above the first under data importance
        # sampling when it favours high-loss, often mislabelled, examples).
        shards = np.concatenate([c.shard for c in system.clients])
        visited, noisy = run.visits
        out["dataset"]["noisy_labels"] = {
            "share": float(data.flipped[shards].mean()) if len(shards) else None,
            "share_of_visits": noisy / visited if visited else None}
    return out
