"""How big a run will be, known before t = 0: events, rows and memory, and whether that is absurd.

``duration: 1e12s``, an arrival rate of 1e12/s or ``metrics.interval: 1e-9s`` are valid numbers
that describe a run no machine finishes; such runs used to start without a word and never end.
The estimate is an order of magnitude from the scenario's own means (a source's mean rate x the
measured span, two events per stage of its job, the recorder's bytes per row); it warns, and
with ``--strict`` refuses, before any simulation time is spent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Estimate", "estimate", "too_large", "too_many_nodes", "LIMITS"]

#: Bytes a finished request costs the recorder while the run goes (85 B a row of
#: requests.parquet held in memory, measured on queueing/mmc and quickstart; 26 B when the
#: table streams to disk) and a time-series row (66 B a node and sample).
REQUEST_BYTES, STREAMED_REQUEST_BYTES, SAMPLE_BYTES = 85.0, 26.0, 66.0
#: Events a second the engine sustains on one core (70,000 measured on quickstart and mmc on
#: a shared 2-core machine: docs/performance.md has the peers' figures).
EVENTS_PER_SECOND = 70_000.0
#: Past these a run is called absurd: about 4 hours of events, 8 GB of tables, 10 million
#: time-series samples per node, 20,000 nodes (building that many takes minutes by itself).
LIMITS = {"events": 1e9, "memory_bytes": 8e9, "samples": 1e7, "nodes": 20_000}


@dataclass(frozen=True)
class Estimate:
    arrivals: float
    events: float
    memory_bytes: float
    samples: float

    def describe(self) -> str:
        hours = self.events / EVENTS_PER_SECOND / 3600
        return (f"about {self.arrivals:.3g} arrivals, {self.events:.3g} events (~{hours:.3g} h at "
                f"{EVENTS_PER_SECOND:,.0f} events/s), {self.memory_bytes / 1e9:.3g} GB of tables, "
                f"{self.samples:.3g} time-series samples")


def _rate(source) -> float:
    rate = float(source.process.mean_rate())     # every arrival process has one
    return rate if math.isfinite(rate) else 0.0


def estimate(sim) -> Estimate:
    """The size of ``sim``'s run (built, not yet run) from its sources' mean rates."""
    span = max(sim.duration, 0.0)
    arrivals = events = 0.0
    for source in sim.sources:
        n = _rate(source) * span
        if source.limit is not None:
            n = min(n, float(source.limit))
        stages = max((len(p.stages) for p in source.group.plans), default=1)
        arrivals += n
        events += n * (1 + 2 * stages)
    interval = sim.spec.metrics.interval
    samples = span / interval if interval > 0 else 0.0
    per_request = STREAMED_REQUEST_BYTES if sim.spec.metrics.stream_rows else REQUEST_BYTES
    memory = arrivals * per_request + samples * max(len(sim.nodes), 1) * SAMPLE_BYTES
    return Estimate(arrivals, events + samples, memory, samples)


def too_large(est: Estimate) -> list[str]:
    """Why the run is absurd (empty: it is not)."""
    why = []
    if est.events > LIMITS["events"]:
        why.append(f"{est.events:.3g} events (more than {LIMITS['events']:.0e})")
    if est.memory_bytes > LIMITS["memory_bytes"]:
        why.append(f"{est.memory_bytes / 1e9:.3g} GB of tables (more than "
                   f"{LIMITS['memory_bytes'] / 1e9:.0f} GB; metrics.stream_rows streams the "
                   "requests to disk)")
    if est.samples > LIMITS["samples"]:
        why.append(f"{est.samples:.3g} time-series samples (more than {LIMITS['samples']:.0e}: "
                   "raise metrics.interval)")
    return why


def too_many_nodes(spec) -> str | None:
    """The scenario's node count when it is past the limit, before anything is built."""
    total = sum(group.count for group in spec.nodes.values())
    if total > LIMITS["nodes"]:
        return f"{total:,} nodes (more than {LIMITS['nodes']:,}; building them alone takes minutes)"
    return None
