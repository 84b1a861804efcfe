"""DEEPCON's part of summary.json: the DMML schedule's rounds and utilisation, and the
over-the-air loop's windows, bytes and (with real models) what they learned."""
from __future__ import annotations

from statistics import fmean

from edgesim.training.summary import utilisation as _utilisation


def deepcon_summary(sim, system) -> dict:
    spec = system.spec
    recs = system.dmml.records
    out: dict = {"schedule": spec.schedule, "workers": len(system.workers),
                 "models": list(spec.models), "trainings": len(recs)}
    if system.ota is not None:
        out["rounds_per_training"] = spec.ota.rounds
        out["training_times_s"] = [r.end - r.start for r in recs if r.end > 0]
        return out
    rec = recs[0] if recs else None
    rounds = spec.rounds
    done = rec is not None and len(rec.round_times) >= rounds
    span = (rec.end if done else sim.end) - (rec.start if rec else 0.0)
    busy = sum(w.busy for w in system.workers)
    util = _utilisation(system.workers, span)
    out.update({
        "rounds": rounds,
        "complete": done,
        # Round r (round_count 'all-models'): every model has been trained r times (the last
        # push included); 'tasks': r x N tasks are done; 'mean-model': the mean over the
        # models of the time each completed its r-th round.
        "round_count": spec.round_count,
        "time_to_rounds_s": rec.round_times[rounds - 1] if done else None,
        "round_times_s": list(rec.round_times) if rec else [],
        "rounds_per_model": ({name: len(t) for name, t in zip(spec.models, rec.model_times)}
                             if rec else {}),
        "makespan_s": span,
        "tasks": rec.tasks if rec else 0,
        "worker_utilisation": util,
        "mean_utilisation": busy / (len(system.workers) * span) if span > 0 else None,
        # Worker-seconds of training per second: how many workers were busy on average.
        "parallel_speedup": busy / span if span > 0 else None,
    })
    if system.dmml.learning is not None:
        out["learning"] = system.dmml.learning.summary()
    return out


def ota_summary(system, sim=None) -> dict:
    ota = system.ota
    wins = ota.windows
    sample = sum(w.sample_bytes for w in wins)
    full = sum(w.full_bytes for w in wins)
    triggered = system.tx.bytes.get("full-upload", 0.0)
    shifts = [abs(w.estimate - w.data_gap) for w in wins]
    return {
        "sampler": ota.spec.sampler,
        "sample_fraction": ota.spec.sample_fraction,
        "windows": len(wins),
        "items": sum(w.items for w in wins),
        "sampled": sum(w.sampled for w in wins),
        "sample_bytes": sample,
        "full_stream_bytes": full,
        # The paper's Fig. 7(b): bytes not sent because only the sample goes to the cloud.
        "saved_by_sampling": 1.0 - sample / full if full > 0 else None,
        "triggered_upload_bytes": triggered,
        "saved_overall": 1.0 - (sample + triggered) / full if full > 0 else None,
        "mean_gap_shift": fmean(shifts) if shifts else None,
        "max_gap_shift": max(shifts) if shifts else None,
        "triggers": sum(w.triggered for w in wins),
        "updates": list(ota.updates),
    } | (_ota_learned(sim, system, shifts) if ota.learning is not None else {})


def _ota_learned(sim, system, shifts: list) -> dict:
    """The OTA loop with real models: what they learned, and (``compare``) the same scenario
    and seed with the other sampler beside it, so the sampler's effect on accuracy is a
    measured difference (the items and frames are the same draws in both runs)."""
    from edgesim.systems.deepcon.ota_learning import headline
    spec = system.spec.ota
    learn = system.ota.learning.summary()
    out: dict = {"learning": learn}
    if not spec.learning.compare or sim is None:
        return out
    other = "random" if spec.sampler == "asrs" else "asrs"
    ref = sim.reference(ota=spec.model_copy(update={"sampler": other})).run()
    ref_ota = ref.system.ota
    ref_shifts = [abs(w.estimate - w.data_gap) for w in ref_ota.windows]
    mine = headline(learn, {"mean_gap_shift": fmean(shifts) if shifts else None})
    theirs = headline(ref_ota.learning.summary(),
                      {"mean_gap_shift": fmean(ref_shifts) if ref_shifts else None})
    a, r = (mine, theirs) if spec.sampler == "asrs" else (theirs, mine)
    diff = {k: (a[k] - r[k] if a[k] is not None and r[k] is not None else None)
            for k in ("final_heldout_accuracy", "mean_heldout_accuracy", "served_accuracy",
                      "final_heldout_gap", "mean_gap_shift", "samples_uploaded")}
    out["sampler_comparison"] = {
        "asrs": a, "random": r, "asrs_minus_random": diff,
        # Fig. 7(a)'s figure: random sampling's gap shift over ASRS's.
        "gap_shift_random_over_asrs": (r["mean_gap_shift"] / a["mean_gap_shift"]
                                       if a["mean_gap_shift"] and r["mean_gap_shift"] is not None
                                       else None)}
    return out


#: `edgesim training sweep`'s columns: (column, summary section, key).
HEADLINE = [("schedule", "deepcon", "schedule"), ("workers", "deepcon", "workers"),
            ("time_to_rounds_s", "deepcon", "time_to_rounds_s"),
            ("mean_utilisation", "deepcon", "mean_utilisation"),
            ("parallel_speedup", "deepcon", "parallel_speedup")]
# DMML with real models (`learning`): what the models reached, and when the target was met.
LEARNING_HEADLINE = HEADLINE + [
    ("time_to_target_s", "deepcon", ("learning", "target", "time_s")),
    ("sustained_target_s", "deepcon", ("learning", "target", "sustained_time_s")),
    ("final_consistency", "deepcon", ("learning", "final", "consistency")),
    ("final_cc", "deepcon", ("learning", "final", "cc")),
    ("final_gap", "deepcon", ("learning", "final", "gap")),
    ("final_mean_accuracy", "deepcon", ("learning", "final", "mean_accuracy"))]
OTA_HEADLINE = [("sampler", "ota", "sampler"), ("sample_fraction", "ota", "sample_fraction"),
                ("items", "ota", "items"), ("sampled", "ota", "sampled"),
                ("sample_mb", "ota", "sample_bytes"), ("full_mb", "ota", "full_stream_bytes"),
                ("saved_by_sampling", "ota", "saved_by_sampling"),
                ("mean_gap_shift", "ota", "mean_gap_shift"), ("triggers", "ota", "triggers")]
# OTA runs with real models (`ota.learning`) add what the models learned and, with `compare`,
# the other sampler's run of the same seed.
OTA_LEARNING_HEADLINE = OTA_HEADLINE + [
    ("updates", "ota", ("learning", "updates_installed")),
    ("final_accuracy", "ota", ("learning", "final_heldout_accuracy")),
    ("mean_accuracy", "ota", ("learning", "mean_heldout_accuracy")),
    ("served_accuracy", "ota", ("learning", "served_accuracy")),
    ("final_gap", "ota", ("learning", "final_heldout_gap")),
    ("asrs_minus_random_final", "ota", ("sampler_comparison", "asrs_minus_random",
                                        "final_heldout_accuracy")),
    ("asrs_minus_random_mean", "ota", ("sampler_comparison", "asrs_minus_random",
                                       "mean_heldout_accuracy")),
    ("shift_random_over_asrs", "ota", ("sampler_comparison", "gap_shift_random_over_asrs"))]


def headline(summary: dict) -> dict:
    """One row of `edgesim training sweep`: the schedule's figures, or the OTA loop's."""
    from edgesim.training.sweep import pick
    cols = LEARNING_HEADLINE if "learning" in (summary.get("deepcon") or {}) else HEADLINE
    if "ota" in summary:
        cols = OTA_LEARNING_HEADLINE if "learning" in summary["ota"] else OTA_HEADLINE
    row = {col: pick(summary, section, key) for col, section, key in cols}
    for col in ("sample_mb", "full_mb"):          # the OTA loop's bytes, in MB
        if isinstance(row.get(col), float):
            row[col] /= 1e6
    return row
