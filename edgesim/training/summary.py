"""summary.json of a training run: what the schedules achieved, from the simulated times."""
from __future__ import annotations

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
    out.update(system.summary_sections(sim))
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


def utilisation(devices, span: float) -> dict:
    """Device name -> the fraction of ``span`` its compute was busy."""
    return {d.name: (d.busy / span if span > 0 else None) for d in devices}
