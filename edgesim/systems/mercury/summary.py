"""Mercury's part of summary.json: iteration times, T_cp / T_cm / T_is, group sizes and the
speed-up over SGD (Eq. 2.3, against an SGD run of the same scenario and seed), measured from
the run's learning when it learns."""
from __future__ import annotations

from statistics import fmean
from typing import Optional

from edgesim.training.summary import utilisation as _utilisation


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
        "reshard_rounds": len(run.rs.rounds),
        # bacc, breakpoint 'byte': transfers stopped at a byte when aggregation began
        "reshard_breakpoints": run.rs.stops,
        "compute_utilisation": _utilisation(system.devices, span),
    }
    learned = system.learning.learner if system.learning is not None else None
    out["timed_model"] = {"model": spec.model, "params": int(spec.params),
                          "source": system.timed.source if system.timed else "given"}
    if learned is not None:
        out["learned_model"] = {"model": spec.learning.model.name, "params": learned.params}
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
                              "iterations": conv.iterations * ratio if ratio else None,
                              "source": "convergence (input)"}
    if steady is not None and ratio and conv is not None:
        out["total_time_s"] = conv.iterations * ratio * steady
        out["extrapolated"] = len(iters) < conv.iterations * ratio
    ref = steady if spec.schedule == "sgd" else _reference_iteration(sim)
    if ref is not None and steady:
        out["reference_sgd_iteration_s"] = ref
        out["time_ratio"] = ref / steady
        # Eq. 2.3 with simulated times: E (T_cp + T_cm) / (E_is T_schedule); E_is / E is an
        # input here (`convergence`), or unknown.
        out["speedup_vs_sgd"] = (ref / steady) / ratio if ratio else None
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


#: `edgesim training sweep`'s columns: (column, summary section, key).
HEADLINE = [("schedule", "mercury", "schedule"), ("devices", "mercury", "devices"),
            ("t_cp_s", "mercury", "t_cp_s"), ("t_cm_s", "mercury", "t_cm_s"),
            ("group", "mercury", "group_mean"), ("t_is_s", "mercury", "t_is_s"),
            ("iteration_s", "mercury", "mean_iteration_s"),
            ("sgd_iteration_s", "mercury", "reference_sgd_iteration_s"),
            ("time_ratio", "mercury", "time_ratio"),
            ("e_ratio", "mercury", ("convergence", "ratio")),
            ("speedup_vs_sgd", "mercury", "speedup_vs_sgd")]


def headline(summary: dict) -> dict:
    """One row of `edgesim training sweep`."""
    from edgesim.training.sweep import pick
    return {col: pick(summary, section, key) for col, section, key in HEADLINE}
