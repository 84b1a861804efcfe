"""`failures:` in a training scenario, for the systems that model lost work (their
``models_failures``; federated learning's clients).

* ``crash`` of a member (a federated client): it is offline for the episode and the work it is
  doing when it goes down is lost (the system's ``crash`` and ``repair``);
* ``slowdown`` of a member: its compute times are multiplied by ``factor`` for the work it
  starts while the episode lasts;
* ``outage`` and ``loss`` of links and cells: as in every scenario (flows pause or fail; a
  lost message is a client's update or download that never arrives).

A crash or slow-down of the server, preemption and per-request faults have no meaning here
yet and are refused with their key path.
"""
from __future__ import annotations

import types

from edgesim.engine.build import expand
from edgesim import failures as F
from edgesim.failures.loss import build_loss
from edgesim.failures.outages import build_outage
from edgesim.failures.timing import Episodes, fixed_windows

NODE_KINDS = ("crash", "slowdown")


class MemberEpisodes:
    """One crash or slow-down entry on the members it targets."""

    def __init__(self, sim, index: int, spec, clients, windows, system) -> None:
        self.spec = spec
        self.target = spec.target
        self.episodes = []
        for c in clients:
            if spec.kind == "crash":
                down = (lambda c=c: system.crash(c))
                up = (lambda c=c: system.repair(c))
            else:
                down = (lambda c=c: c.slow.append(spec.factor))
                up = (lambda c=c: c.slow.remove(spec.factor))
            self.episodes.append(Episodes(sim, spec, windows, f"failure:{index}:{c.name}",
                                          down, up))

    def start(self) -> None:
        for e in self.episodes:
            e.start()

    def summary(self, now: float) -> dict:
        return {"kind": self.spec.kind, "target": self.target,
                "episodes": sum(e.count for e in self.episodes),
                "time_in_episodes_s": sum(e.total(now) for e in self.episodes)}


def build_training_failures(sim, system) -> F.Failures:
    out = F.Failures()
    if not sim.spec.failures:
        return out
    if not system.models_failures:
        sim.problem("failures", f"failures are simulated in federated training; the "
                    f"{system.name} system does not model lost work yet", None)
        return out
    # Outages mark their target in the monitor view, which a training run has only for this.
    sim.view = types.SimpleNamespace(links_up={}, up={})
    for i, f in enumerate(sim.spec.failures):
        path = f"failures.{i}"
        if f.kind in ("outage", "loss"):
            if sim.network is None:
                sim.problem(f"{path}.target", "the scenario has no links or cells", f.target)
                continue
            entry = (build_outage if f.kind == "outage" else build_loss)(sim, i, f, path)
            if entry is None:
                continue
            (out.outages if f.kind == "outage" else out.losses).append(entry)
            out.entries[i] = entry
            continue
        if f.kind not in NODE_KINDS:
            sim.problem(f"{path}.kind", "not simulated in training scenarios", f.kind,
                        ["crash", "slowdown", "outage", "loss"])
            continue
        nodes = expand(sim, f.target, f"{path}.target")
        clients = [system.failure_member(n.index) for n in nodes]
        if any(c is None for c in clients):
            bad = [n.name for n, c in zip(nodes, clients) if c is None]
            sim.problem(f"{path}.target", f"only clients can crash or slow down in a "
                        f"{system.name} scenario; not clients: {', '.join(bad)}", f.target)
            continue
        windows = fixed_windows(sim, f, path)
        if windows is None:
            continue
        out.entries[i] = MemberEpisodes(sim, i, f, clients, windows, system)
    return out

