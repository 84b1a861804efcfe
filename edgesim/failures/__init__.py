"""Failures: things that go wrong during a run, for every scenario alike.

================  ==========================  =================================================
kind              target                      module
================  ==========================  =================================================
``outage``        link or Wi-Fi cell          `outages`: channels down (flows pause or fail)
``loss``          link or Wi-Fi cell          `loss`: each message lost with ``probability``
``crash``         node or group               `nodes`: down, everything on it lost, repaired
``slowdown``      node or group               `nodes`: service times x ``factor``
``preemption``    node or group               `nodes`: the device's own jobs steal executors
``fault``         node or group               `nodes`: each request fails with ``probability``
================  ==========================  =================================================

Episodic kinds take their timing from `timing` (schedule, trace, or MTBF/MTTR with a choice of
distributions). `build_failures` turns the scenario's ``failures:`` list into a `Failures`
object, recording every problem with its key path.
"""
from __future__ import annotations

from edgesim.failures.loss import build_loss, install
from edgesim.failures.nodes import build_node_failure
from edgesim.failures.outages import build_outage

__all__ = ["Failures", "build_failures"]


class Failures:
    """Every failure of a run, by `failures:` index."""

    def __init__(self) -> None:
        self.entries: dict[int, object] = {}
        self.outages: list = []
        self.losses: list = []

    def start(self, sim) -> None:
        if sim.network is not None:
            install(sim.network, self.losses)
        for entry in self.entries.values():
            if hasattr(entry, "start"):
                entry.start()

    def summary(self, now: float) -> tuple[dict, dict]:
        """(``outages`` by target, as before; every other entry by its index)."""
        outages = {o.target: o.summary(now) for o in self.outages}
        others = {str(i): e.summary(now) for i, e in self.entries.items()
                  if e not in self.outages}
        return outages, others


def build_failures(sim) -> Failures:
    out = Failures()
    states: dict = {}
    for i, f in enumerate(sim.spec.failures):
        path = f"failures.{i}"
        if f.kind == "outage":
            entry = build_outage(sim, i, f, path)
            if entry is not None:
                out.outages.append(entry)
        elif f.kind == "loss":
            entry = build_loss(sim, i, f, path)
            if entry is not None:
                out.losses.append(entry)
        else:
            entry = build_node_failure(sim, i, f, path, states)
        if entry is not None:
            out.entries[i] = entry
    return out
