"""The Simulation: build -> check -> run -> collect, on one SimPy environment.

A request flows source -> policy (where does this stage run?) -> network transfer -> node queue
-> batch -> service -> next stage ... -> recorder. The engine owns time and bytes; policies only
answer `place()`.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import simpy
from simpy.core import StopSimulation

from edgesim._version import __version__
from edgesim.errors import Problem
from edgesim.metrics.recorder import LinkSampler, RequestRecorder, SampleRecorder
from edgesim.metrics.summary import summarize
from edgesim.policies.base import PolicyContext
from edgesim.scenario.loader import ScenarioFile
from edgesim.failures import build_failures
from edgesim.registry import serving_systems
from edgesim.network import build as netbuild
from edgesim.engine import build
from edgesim.engine.clock import CONTROL, SAMPLE, call_at, call_in
from edgesim.engine.estimate import estimate, too_large
from edgesim.engine.monitor import MonitorView
from edgesim.engine.request import COMPLETED, FAILED, Request
from edgesim.engine.rng import Streams


class Simulation:
    """One run of one scenario with one seed."""

    def __init__(self, scenario: ScenarioFile, seed: Optional[int] = None) -> None:
        self.file = scenario
        self.spec = scenario.spec
        self.seed = int(self.spec.seed if seed is None else seed)
        self.problems: list[Problem] = []
        self.phase = "new"

    # ------------------------------------------------------------------ lifecycle
    def problem(self, path: str, message: str, value: Any = None, valid=()) -> None:
        self.problems.append(Problem(path, message, value=value, valid=list(valid),
                                     has_value=value is not None))

    def build(self) -> "Simulation":
        spec = self.spec
        self.env = simpy.Environment()
        self.streams = Streams(self.seed)
        self.warmup = spec.warmup
        self.duration = spec.duration
        self.nodes: list = []
        self.node_by_name: dict = {}
        self.groups: dict[str, list] = {}
        self.jobs: list = []
        self.job_groups: dict = {}
        self.bad_devices: set = set()
        self.warnings: list[str] = []
        self.failed_models: set = set()     # service entries that failed (reported once)
        self.sources: list = []
        self.next_id = 0
        self.generated = 0
        self.generated_measured = 0
        self.units_measured = 0             # arrivals the measured requests carry (aggregate)
        self.in_system = 0
        self.sys_area = 0.0
        self.sys_t = 0.0
        self.completed = 0
        if spec.warmup >= spec.duration:
            self.problem("warmup", f"must be shorter than duration ({spec.duration} s)",
                         spec.warmup)
        devices = build.resolve_devices(self)
        build.build_nodes(self, devices)
        build.attach_services(self)
        build.build_jobs(self)
        build.build_sources(self)
        self.link_channels: dict[str, list[str]] = {}
        self.link_traces: list = []
        self.cell_traces: list = []
        self.network = netbuild.build_network(self)
        self.view = MonitorView(self.nodes, sorted(self.link_channels))
        self.failures = build_failures(self)
        self.outages = self.failures.outages
        chosen = build.build_policy(self)
        self.policy = None
        if chosen is not None:
            cls, config = chosen
            ctx = PolicyContext(self.env, self.nodes, self.streams("policy"), self.view, spec,
                                self.sources, self.network,
                                lambda name: self.streams(f"policy:{name}"), self.move_queued)
            try:
                self.policy = cls(config, ctx)
            except ValueError as exc:
                # A policy that cannot work with this scenario (e.g. names a group that does
                # not exist) says why; that is a scenario problem, not a crash.
                self.problem("policy.params", str(exc))
        self.phase = "built"
        return self

    def check(self) -> "Simulation":
        """Raise ScenarioError (naming file, line and key path) for everything wrong."""
        if self.phase == "new":
            self.build()
        if not self.problems:
            netbuild.check_routes(self)
        if self.problems:
            raise self.file.error(self.problems)
        self.size = estimate(self)
        why = too_large(self.size)
        if why:
            self.warnings.append(f"this run is very large ({'; '.join(why)}): "
                                 f"{self.size.describe()}")
        self.phase = "checked"
        return self

    def run(self, progress: Optional[Callable[[float, float], None]] = None) -> "Simulation":
        if self.phase != "checked":
            self.check()
        env, spec = self.env, self.spec
        self.node_names = [n.name for n in self.nodes]
        self.recorder = RequestRecorder([s.name for s in self.sources],
                                        [j.name for j in self.jobs], self.node_names,
                                        answers=any(j.accuracy is not None or j.coordinator
                                                    for j in self.jobs),
                                        units=any(getattr(s, "window", None) is not None
                                                  for s in self.sources))
        if spec.metrics.stream_rows:
            from edgesim._version import __version__
            self.recorder.stream(spec.metrics.stream_rows, {
                "scenario": spec.name, "seed": self.seed, "policy": spec.policy.name,
                "edgesim_version": __version__, "producer": "edgesim"})
        self.samples = SampleRecorder(self.node_names)
        self.busy_total = [0.0] * len(self.nodes)
        self.interval = spec.metrics.interval
        self._last_sample = 0.0
        if self.warmup > 0:
            call_at(env, self.warmup, SAMPLE, self._end_warmup)
        self._next_sample_at = self.warmup + self.interval
        call_at(env, self._next_sample_at, SAMPLE, self._sample)
        # Requests still in flight at the end that were created before end - SLO have missed
        # it already; counting them needs how many had been created by then.
        slo = spec.metrics.slo
        self.slo_deadline = self.duration - slo if slo is not None else None
        self.generated_by_deadline = None
        self.units_by_deadline = None
        if self.slo_deadline is not None and self.slo_deadline > self.warmup:
            call_at(env, self.slo_deadline, SAMPLE, self._snap_deadline)
        if self.policy is not None and type(self.policy).uses_monitor:
            self._report_every = spec.policy.report_interval
            call_at(env, 0.0, CONTROL, self._report)
        if progress is not None:
            step = self.duration / 200.0
            self._progress = (progress, step)
            call_at(env, step, SAMPLE, self._tick)
        if self.network is not None:
            self.network.on_fail = self._transfer_failed
            self.trace_followers = netbuild.start_traces(self)
            self.links = LinkSampler(self.network.flows, self.link_channels)
        else:
            self.links = None
        self.failures.start(self)
        self.policy.start()
        for src in self.sources:
            src.start()
        wall = time.perf_counter()
        self.stopped_early = False
        env.run(until=self.duration)
        self.end = env.now
        if env.now < self.duration:
            self.stopped_early = True
        self.wall_time = time.perf_counter() - wall
        self.phase = "ran"
        return self

    def _snap_deadline(self, _arg=None) -> None:
        self.generated_by_deadline = self.generated_measured
        self.units_by_deadline = self.units_measured

    # ------------------------------------------------------------------ request flow
    def request_started(self, req: Request) -> None:
        now = self.env._now
        self.generated += 1
        if not req.warm:
            self.generated_measured += 1
            self.units_measured += req.units
        self.sys_area += self.in_system * (now - self.sys_t)
        self.sys_t = now
        self.in_system += 1

    def advance(self, req: Request) -> None:
        """Send a request to its next stage, or finish it after the last one."""
        plan = req.plan
        i = req.stage
        if i == plan.n:
            if plan.result_bytes and req.origin >= 0 and req.loc != req.origin and \
                    self.network is not None:
                nb = plan.result_bytes * req.units
                req.nbytes += nb
                req.stage = i + 1
                self.network.transfer(req.loc, req.origin, nb, self._complete, req)
            else:
                self.finish(req, COMPLETED)
            return
        if i > plan.n:  # returned from the result transfer
            self.finish(req, COMPLETED)
            return
        st = plan.stages[i]
        cands = st.candidates
        if st.at_origin:
            node = self.nodes[req.origin]
        else:
            node = cands[0] if len(cands) == 1 else self.policy.place(req, i, cands)
        req.model = st.model
        req.path.append(node.index)
        if st.nbytes and self.network is not None and req.loc >= 0 and req.loc != node.index:
            nb = st.nbytes * req.units
            req.nbytes += nb
            self.network.transfer(req.loc, node.index, nb, node.arrive, req)
        else:
            node.arrive(req)

    def move_queued(self, src, dst, k: int,
                    accept: Optional[Callable[[Request], bool]] = None) -> list[Request]:
        """Move up to ``k`` requests waiting in ``src``'s queues (not yet started) to ``dst``,
        for the same stage; return them. The policy hook for load balancers that migrate
        pending work (``PolicyContext.move_queued``).

        Only models ``dst`` serves are taken, and only requests ``accept`` approves (the
        choice among them: `Node.take_queued`). Each moved request's stage bytes
        (``bytes * units``, the data that was brought to, or born at, ``src``) cross the
        network from ``src`` to ``dst`` through the normal transfer path, so links and cells
        are charged and the bytes count in ``req.nbytes``; without a network, or for a stage
        without bytes, it joins ``dst`` at once. Its path keeps one entry per stage: the last
        (``src``, where the stage was to run) becomes ``dst``, as if ``dst`` had been chosen
        in the first place. The wait at ``src`` stays in ``req.wait``; the transfer counts as
        neither wait nor service, as any transfer. Nothing is lost or duplicated: every
        request taken arrives at ``dst`` (or fails in transit, as any transfer may)."""
        if src.index == dst.index or k <= 0:
            return []
        moved = src.take_queued(k, models=dst.services.keys(), accept=accept)
        net = self.network
        for req in moved:
            if req.path and req.path[-1] == src.index:
                req.path[-1] = dst.index
            else:       # pragma: no cover  (a queued request's last path entry is its node)
                req.path.append(dst.index)
            nb = req.plan.stages[req.stage].nbytes * req.units
            if nb and net is not None:
                req.nbytes += nb
                net.transfer(src.index, dst.index, nb, dst.arrive, req)
            else:
                dst.arrive(req)
        return moved

    def _transfer_failed(self, req: Request) -> None:
        self.finish(req, FAILED)

    def _complete(self, req: Request) -> None:
        self.finish(req, COMPLETED)

    def finish(self, req: Request, outcome: int) -> None:
        if req.parent is not None:      # a member of an ensemble query reports to its query
            req.parent.ended(req, outcome)
            return
        now = self.env._now
        self.sys_area += self.in_system * (now - self.sys_t)
        self.sys_t = now
        self.in_system -= 1
        self.recorder.record(req, now, outcome)
        if outcome == COMPLETED:
            self.completed += 1
            limit = self.spec.max_completions
            if limit is not None and self.completed >= limit:
                raise StopSimulation(None)

    # ------------------------------------------------------------------ periodic work
    def _end_warmup(self, _arg) -> None:
        now = self.env._now
        for node in self.nodes:
            node.take_sample(now)   # discard warm-up areas
        self.sys_area += self.in_system * (now - self.sys_t)
        self.sys_t = now
        self.sys_area = 0.0
        if self.links is not None:
            self.links.mark(now)
        self._last_sample = now

    def _sample(self, _arg) -> None:
        now = self.env._now
        self._record_sample(now)
        self._next_sample_at += self.interval
        call_at(self.env, self._next_sample_at, SAMPLE, self._sample)

    def _record_sample(self, now: float) -> None:
        length = now - self._last_sample
        if length <= 0:
            return
        add = self.samples.add
        for node in self.nodes:
            aq, ab, done = node.take_sample(now)
            self.busy_total[node.index] += ab
            add(now, length, node.index, aq, ab, node.executors, done)
        if self.links is not None:
            for follower in self.trace_followers:
                follower.sync()
            self.links.sample(now, length)
        self._last_sample = now

    def _report(self, _arg) -> None:
        self.view.refresh(self.env._now)
        call_in(self.env, self._report_every, CONTROL, self._report)

    def _tick(self, _arg) -> None:
        fn, step = self._progress
        fn(self.env._now, self.duration)
        call_in(self.env, step, SAMPLE, self._tick)

    # ------------------------------------------------------------------ results
    def collect(self):
        from edgesim.result import Result
        if self.phase != "ran":
            self.run()
        end = self.end
        self._record_sample(end)
        self.sys_area += self.in_system * (end - self.sys_t)
        self.sys_t = end
        start = self.warmup
        events = next(self.env._eid)
        summary = {
            "scenario": self.spec.name,
            "policy": self.spec.policy.name,
            "seed": self.seed,
            "edgesim_version": __version__,
            "sim_time_s": end,
            "wall_time_s": self.wall_time,
            "events": events,
            "stopped_by": "max_completions" if self.stopped_early else "duration",
        }
        summary.update(summarize(
            self.recorder, self.samples, start=start, end=end,
            window=self.spec.metrics.window, slo=self.spec.metrics.slo,
            generated=self.generated, generated_measured=self.generated_measured,
            in_flight=self.in_system, system_area=self.sys_area, node_names=self.node_names,
            overdue=None if self.stopped_early else (self.slo_deadline,
                                                     self.generated_by_deadline,
                                                     self.units_by_deadline),
            units_measured=self.units_measured,
            node_executors=[n.executors for n in self.nodes], busy_area=self.busy_total))
        for system in serving_systems().values():
            if system.summary is not None:
                summary.update(system.load("summary")(self))
        if self.network is not None:
            summary["network"] = {"transfers": self.network.transfers,
                                  "bytes": self.network.bytes,
                                  "failed_transfers": self.network.failed,
                                  "links": self.links.summary()}
        outages, others = self.failures.summary(end)
        if outages:
            summary["outages"] = outages
        if others:
            summary["failures"] = others
        summary["speedup"] = end / self.wall_time if self.wall_time > 0 else None
        if self.warnings:
            summary["warnings"] = list(self.warnings)
        return Result(self, summary)
