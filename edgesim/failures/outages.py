"""Outages of links and Wi-Fi cells: down and up by schedule, by MTBF/MTTR, or by a trace.

While a target is down its channels carry nothing: flows on them either pause and resume when it
comes back, or fail (their requests end as 'failed'), per the failure's mode. The monitor view
shows the target as down, so policies can route around it.
"""
from __future__ import annotations

from ..engine.clock import COMPLETION, call_at
from ..workload.tracefile import read_column


class Outage:
    def __init__(self, sim, index: int, spec, channels: list[str], mode: str) -> None:
        self.sim = sim
        self.spec = spec
        self.target = spec.target
        self.channels = channels
        self.mode = mode
        self.stream = sim.streams(f"failure:{index}:{spec.target}") if spec.mtbf else None
        self.downs = 0
        self.downtime = 0.0
        self._since = None

    def windows(self, path: str) -> list[tuple[float, float]] | None:
        spec = self.spec
        if spec.schedule is not None:
            return [tuple(w) for w in spec.schedule]
        if spec.trace is not None:
            f = self.sim.file.path(spec.trace)
            if not f.exists():
                self.sim.problem(f"{path}.trace", f"file not found: {f}", spec.trace)
                return None
            try:
                down, up = read_column(f, 0), read_column(f, 1)
            except ValueError as exc:
                self.sim.problem(f"{path}.trace", str(exc), spec.trace)
                return None
            bad = [i for i, (d, u) in enumerate(zip(down, up)) if u <= d]
            if bad:
                self.sim.problem(f"{path}.trace", f"row {bad[0] + 1}: an outage must end after it "
                                 "starts", spec.trace)
                return None
            return list(zip(down.tolist(), up.tolist()))
        return []   # MTBF/MTTR: drawn as the run goes

    def start(self, windows: list[tuple[float, float]]) -> None:
        env = self.sim.env
        if self.stream is not None:
            call_at(env, self.stream.exp(self.spec.mtbf), COMPLETION, self._down_random)
            return
        for down, up in windows:
            call_at(env, down, COMPLETION, self._down)
            call_at(env, up, COMPLETION, self._up)

    def _down_random(self, _arg) -> None:
        self._down(None)
        call_at(self.sim.env, self.sim.env.now + self.stream.exp(self.spec.mttr), COMPLETION,
                self._up_random)

    def _up_random(self, _arg) -> None:
        self._up(None)
        call_at(self.sim.env, self.sim.env.now + self.stream.exp(self.spec.mtbf), COMPLETION,
                self._down_random)

    def _down(self, _arg) -> None:
        flows = self.sim.network.flows
        for ch in self.channels:
            flows.channel_down(ch, self.mode)
        self.downs += 1
        self._since = self.sim.env.now
        self.sim.view.links_up[self.target] = False

    def _up(self, _arg) -> None:
        flows = self.sim.network.flows
        for ch in self.channels:
            flows.channel_up(ch)
        if self._since is not None:
            self.downtime += self.sim.env.now - self._since
            self._since = None
        self.sim.view.links_up[self.target] = True


def build_outages(sim) -> list[Outage]:
    """Outages for every `failures:` entry of kind 'outage' (other kinds are reported)."""
    out = []
    for i, f in enumerate(sim.spec.failures):
        path = f"failures.{i}"
        if f.kind != "outage":
            sim.problem(f"{path}.kind", "only link and cell outages are simulated so far; node "
                        "crashes, slow-downs and preemption are not implemented yet", f.kind,
                        ["outage"])
            continue
        channels = sim.link_channels.get(f.target)
        if channels is None:
            sim.problem(f"{path}.target", "not a link or cell of this scenario", f.target,
                        sorted(sim.link_channels))
            continue
        o = Outage(sim, i, f, channels, f.mode or sim.spec.network.on_outage)
        windows = o.windows(path)
        if windows is not None:
            o.pending = windows
            out.append(o)
    return out
