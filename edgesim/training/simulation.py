"""A training scenario's run: build -> check -> run -> collect, like a request scenario's
(:class:`edgesim.engine.simulation.Simulation`, whose node, device and network building it
reuses), with a training system in place of sources and a policy."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional

import simpy

from edgesim.engine import build
from edgesim.engine.rng import Streams
from edgesim.engine.simulation import Simulation
from edgesim.network import build as netbuild
from edgesim.network.topology import NoRoute
from edgesim.training.build import build_system
from edgesim.training.failures import build_training_failures


class TrainingSimulation(Simulation):
    """One run of one training scenario with one seed."""

    def build(self) -> "TrainingSimulation":
        spec = self.spec
        self.env = simpy.Environment()
        self.streams = Streams(self.seed)
        self.warmup = spec.warmup
        self.duration = spec.duration
        self.nodes, self.node_by_name, self.groups = [], {}, {}
        self.bad_devices: set = set()
        self.failed_models: set = set()
        self.warnings: list[str] = []
        self.sources: list = []
        if spec.workload is not None:
            self.problem("workload", "a training scenario serves no request workload yet; "
                         "remove 'workload' or 'training'", None)
        devices = build.resolve_devices(self)
        build.build_nodes(self, devices)
        self.link_channels: dict[str, list[str]] = {}
        self.link_traces: list = []
        self.cell_traces: list = []
        self.network = netbuild.build_network(self)
        self.system = build_system(self)
        self.failures = build_training_failures(self, self.system)
        self.phase = "built"
        return self

    def check(self) -> "TrainingSimulation":
        if self.phase == "new":
            self.build()
        if not self.problems and self.network is not None:
            seen = set()
            for a, b, path in self.system.routes():
                if (a.index, b.index) in seen:
                    continue
                seen.add((a.index, b.index))
                try:
                    self.network.route(a.index, b.index)
                except NoRoute:
                    self.problem(path, f"no route from {a.name!r} to {b.name!r} through the "
                                 "links and cells", None)
        if self.problems:
            raise self.file.error(self.problems)
        self.phase = "checked"
        return self

    def run(self, progress: Optional[Callable[[float, float], None]] = None
            ) -> "TrainingSimulation":
        if self.phase != "checked":
            self.check()
        env = self.env
        if self.network is not None:
            self.trace_followers = netbuild.start_traces(self)
        self.failures.start(self)
        done = env.process(self.system.process())
        wall = time.perf_counter()
        env.run(until=simpy.AnyOf(env, [done, env.timeout(self.duration)]))
        self.completed = done.triggered
        self.end = env.now
        self.wall_time = time.perf_counter() - wall
        self.phase = "ran"
        return self

    def reference(self, **changes) -> "TrainingSimulation":
        """The same scenario and seed with some keys of the system's section changed (e.g. the
        SGD baseline of a Mercury run), built and checked."""
        spec = self.spec.model_copy(deep=True)
        section = getattr(spec.training, spec.training.system)
        for key, value in changes.items():
            setattr(section, key, value)
        return TrainingSimulation(dataclasses.replace(self.file, spec=spec), self.seed).check()

    def collect(self):
        from edgesim.training.result import TrainingResult
        from edgesim.training.summary import summarize
        if self.phase != "ran":
            self.run()
        return TrainingResult(self, summarize(self))
