"""summary.json of a training run: what the schedules achieved, from the simulated times."""
from __future__ import annotations

from statistics import fmean
from typing import Optional

from edgesim._version import __version__


def summarize(sim) -> dict:
    system = sim.system
    out = {
        "scenario": sim.spec.name,
        "system": system.name,
        "seed": sim.seed,
        "edgesim_version": __version__,
        "sim_time_s": sim.end,
        "wall_time_s": sim.wall_time,
        "events": next(sim.env._eid),
        "stopped_by": "done" if sim.completed else "duration",
    }
    if hasattr(system, "summary"):
        out[system.name] = system.summary(sim)
    elif system.name == "deepcon":
        out["deepcon"] = deepcon_summary(sim, system)
        if system.ota is not None:
            out["ota"] = ota_summary(system, sim)
    else:
        out["mercury"] = mercury_summary(sim, system)
    out["bytes"] = {k: v for k, v in sorted(system.tx.bytes.items())}
    if sim.network is not None:
        out["network"] = {"transfers": sim.network.transfers, "bytes": sim.network.bytes}
    failures = getattr(sim, "failures", None)
    if failures is not None and failures.entries:
        outages, others = failures.summary(sim.end)
        out["failures"] = {"outages": outages, **others}
    if sim.warnings:
        out["warnings"] = list(sim.warnings)
    return out


def _utilisation(devices, span: float) -> dict:
    return {d.name: (d.busy / span if span > 0 else None) for d in devices}


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
    from edgesim.training.ota_learning import headline
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


def _mean(xs) -> Optional[float]:
    return fmean(xs) if xs else None


def mercury_summary(sim, system) -> dict:
    spec = system.spec
    run = system.runner
    iters = run.iteration_times()
    complete = len(iters) == spec.iterations and all(min(r) > 0 for r in run.ends)
    # The first iteration has no aggregation time to size its group from; the steady state
    # is the mean of the others.
    steady = _mean(iters[1:]) if len(iters) > 1 else _mean(iters)
    k = len(system.devices)
    span = max(max(r) for r in run.ends) if run.ends else sim.end
    out = {
        "schedule": spec.schedule,
        "devices": k,
        "model": spec.model,
        "gradient_bytes": run.grad_bytes,
        "iterations_simulated": len(iters),
        "complete": complete,
        "first_iteration_s": iters[0] if iters else None,
        "mean_iteration_s": steady,
        "iteration_times_s": iters,
        "t_cp_s": _mean(run.t_cp),
        "t_cm_s": _mean(run.t_cm),
        "t_is_s": (sum(run.t_is) / (k * len(iters))) if iters else None,
        "group_mean": _mean(run.groups),
        "group_min": min(run.groups) if run.groups else None,
        "group_max": max(run.groups) if run.groups else None,
        "local_samples": run.local,
        # Importance samples computed per device and iteration, and those of groups abandoned
        # unfinished (bacc: the group did not fit in the time the second thread had).
        "importance_per_iteration": run.imp_done / (k * len(iters)) if iters else None,
        "importance_abandoned": run.imp_dropped + sum(run.imp_backlog),
        "reshard_asked_bytes": run.reshard_asked,
        "reshard_sent_bytes": run.reshard_sent,
        "compute_utilisation": _utilisation(system.devices, span),
    }
    if spec.schedule == "tictac":
        out["layers"] = len(run.layers)
    elif spec.schedule == "adacomm":
        out["tau_per_round"] = list(run.taus)
        out["local_steps"] = sum(run.taus[:len(iters)])
    if system.learning is not None:
        out["complete"] = system.learning.done or len(iters) == spec.iterations
        return _learned(sim, system, out, steady)
    conv = spec.convergence
    # TicTac computes what SGD computes: its E is SGD's unless an override says otherwise.
    ratio = (1.0 if spec.schedule == "sgd" else
             (conv.ratio.get(spec.schedule) if conv is not None else None)
             or (1.0 if spec.schedule == "tictac" else None))
    if conv is not None:
        out["convergence"] = {"iterations_sgd": conv.iterations, "ratio": ratio,
                              "iterations": conv.iterations * ratio if ratio else None}
    if steady is not None and ratio and conv is not None:
        out["total_time_s"] = conv.iterations * ratio * steady
        out["extrapolated"] = len(iters) < conv.iterations * ratio
    ref = steady if spec.schedule == "sgd" else _reference_iteration(sim)
    if ref is not None and steady and ratio:
        # Eq. 2.3 with simulated times: E (T_cp + T_cm) / (E_is T_schedule).
        out["reference_sgd_iteration_s"] = ref
        out["time_ratio"] = ref / steady
        out["speedup_vs_sgd"] = (ref / steady) / ratio
    return out


def _reference_iteration(sim) -> Optional[float]:
    ref = sim.reference(schedule="sgd").run()
    iters = ref.system.runner.iteration_times()
    return _mean(iters[1:]) if len(iters) > 1 else _mean(iters)


def _learned(sim, system, out: dict, steady: Optional[float]) -> dict:
    """Mercury with learning in the loop: E and E_is are the iterations each schedule took to
    the target accuracy in this run and in an SGD run of the same scenario and seed; the
    speed-up is their measured times to target. `convergence`, when given, overrides the
    measured E and E_is / E in the Eq. 2.3 figures (the measured ones stay beside them)."""
    spec = system.spec
    learn = system.learning.summary()
    out["learning"] = learn
    if spec.schedule == "sgd":
        ref_learn, ref_steady = learn, steady
    else:
        ref = sim.reference(schedule="sgd").run()
        ref_learn = ref.system.learning.summary()
        iters = ref.system.runner.iteration_times()
        ref_steady = _mean(iters[1:]) if len(iters) > 1 else _mean(iters)
        out["reference_sgd"] = {k: ref_learn[k] for k in ("iterations_to_target",
                                                          "time_to_target_s",
                                                          "final_accuracy")}
    e_sgd, e_s = ref_learn["iterations_to_target"], learn["iterations_to_target"]
    measured = e_s / e_sgd if e_s and e_sgd else None
    conv = spec.convergence
    override = (conv.ratio.get(spec.schedule, 1.0 if spec.schedule in ("sgd", "tictac")
                               else None)
                if conv is not None else None)
    ratio = override if override is not None else measured
    e_base = conv.iterations if conv is not None else e_sgd
    out["convergence"] = {"iterations_sgd": e_base, "ratio": ratio,
                          "iterations": e_base * ratio if e_base and ratio else None,
                          "measured_iterations_sgd": e_sgd, "measured_iterations": e_s,
                          "measured_ratio": measured,
                          "source": "convergence (override)" if conv is not None
                          else "learning"}
    if steady is not None and ratio and e_base:
        out["total_time_s"] = e_base * ratio * steady
        out["extrapolated"] = False
    if ref_steady and steady and ratio:
        out["reference_sgd_iteration_s"] = ref_steady
        out["time_ratio"] = ref_steady / steady
        out["speedup_vs_sgd"] = (ref_steady / steady) / ratio
    t_sgd, t_s = ref_learn["time_to_target_s"], learn["time_to_target_s"]
    # The speed-up as the run measured it: simulated time to the target, SGD over this one.
    out["measured_speedup_vs_sgd"] = t_sgd / t_s if t_sgd and t_s else None
    return out
