"""Build phase of a training scenario: devices, compute-time models and the system's runner,
every cross-reference problem recorded with its key path (as :mod:`edgesim.engine.build`
does for request scenarios)."""
from __future__ import annotations

from typing import Optional

from edgesim.engine.build import _service_model, expand  # the same service models as `service:`
from edgesim.hardware.calibrated import calibrated_service
from edgesim.scenario import schema as S
from edgesim.training.deepcon import Dmml, TrainModel
from edgesim.training.devices import Device, ScheduleLog, Transfers
from edgesim.training.mercury import Mercury
from edgesim.training.mercury_baselines import AdaComm, TicTac
from edgesim.training.ota import OtaLoop
from edgesim.training.systems import LEARNING, learning_system


def service_models(sim, name: str, spec, devices: list[Device], path: str,
                   batch: int) -> Optional[dict]:
    """Device name -> ServiceModel of ``spec`` for every device in ``devices`` (None after a
    recorded problem). `dist: calibrated` looks the model up by ``name`` on each device."""
    out: dict = {}
    for dev in devices:
        key = dev.node.device
        if key in out:
            continue
        if isinstance(spec, S.Calibrated):
            m = calibrated_service(sim, name, key, spec, path, max(batch, 1))
        else:
            m = _service_model(sim, name, key, spec, path)
        if m is None:
            return None
        top = m.max_batch()
        if top is not None and batch > top:
            sim.problem(path, f"the profile for {name!r} on {key!r} goes up to batch {top}; "
                        f"batch is {batch}", batch)
            return None
        out[key] = m
    return out


def member_devices(sim, ref: str, path: str, seen: dict, what: str,
                   reserved: Optional[dict] = None) -> list[Device]:
    """The devices of the nodes ``ref`` names, for one group of a system's ``what`` (clients,
    edge nodes, ...): a node already in an earlier group (``seen``: name -> its group's key
    path, updated here) or holding another role (``reserved``: node index -> role) is a
    problem at ``path``.nodes, not a second member."""
    out = []
    for n in expand(sim, ref, f"{path}.nodes"):
        if reserved and n.index in reserved:
            sim.problem(f"{path}.nodes", f"{n.name!r} is the {reserved[n.index]}, not one of "
                        f"the {what}", ref)
            continue
        if n.name in seen:
            sim.problem(f"{path}.nodes", f"{n.name!r} is already one of the {what}, in "
                        f"{seen[n.name]}", ref)
            continue
        seen[n.name] = path
        out.append(Device(sim.env, n))
    return out


def _devices(sim, ref: str, path: str) -> list[Device]:
    return [Device(sim.env, n) for n in expand(sim, ref, path)]


class DeepconSystem:
    """DEEPCON: one DMML training of `rounds` rounds, or the over-the-air loop around it."""

    name = "deepcon"

    def __init__(self, sim, spec) -> None:
        self.spec = spec
        base = "training.deepcon"
        servers = _devices(sim, spec.server, f"{base}.server")
        if len(servers) > 1:
            sim.problem(f"{base}.server", "must name one node, not a group of "
                        f"{len(servers)}", spec.server)
        self.server = servers[0] if servers else None
        self.workers = _devices(sim, spec.workers, f"{base}.workers")
        if self.server is not None and any(w.index == self.server.index for w in self.workers):
            sim.problem(f"{base}.workers", "the server cannot also be a worker", spec.workers)
        self.edges: list[Device] = []
        if spec.ota is not None:
            self.edges = _devices(sim, spec.ota.edges, f"{base}.ota.edges")
        self.models: list[TrainModel] = []
        for i, (name, m) in enumerate(spec.models.items()):
            path = f"{base}.models.{name}"
            step = service_models(sim, name, m.step, self.workers, f"{path}.step", m.batch)
            label = (service_models(sim, name, m.label, self.workers, f"{path}.label", m.batch)
                     if m.label is not None else None)
            self.models.append(TrainModel(i, name, m.params * m.dtype_bytes, m.batch, m.steps,
                                          step or {}, label, sim.streams(f"train:{name}"),
                                          sim.streams(f"label:{name}")))
        names = [d.name for d in ([self.server] if self.server else []) + self.workers
                 + self.edges]
        self.log = ScheduleLog(names, list(spec.models))
        self.lane = {n: i for i, n in enumerate(names)}
        self.tx = Transfers(sim.env, sim.network)
        self.dmml = Dmml(sim.env, self.models, self.workers, self.server, self.tx, self.log,
                         self.lane, spec.schedule, spec.affinity, spec.round_count)
        self.ota = None
        if spec.ota is not None and self.server is not None:
            learning = None
            if spec.ota.learning is not None:
                from edgesim.training.ota_learning import build_ota_learning   # torch only when it learns
                learning = build_ota_learning(sim, spec.ota, list(spec.models), f"{base}.ota")
            self.ota = OtaLoop(sim.env, spec.ota, self.edges, self.server, self.models,
                               self.dmml, self.tx, self.log, self.lane, sim.streams,
                               sim.duration, learning)

    def routes(self) -> list[tuple]:
        """(from, to, key path) for every pair of nodes that exchange bytes."""
        out = []
        if self.server is None:
            return out
        for w in self.workers[:1] if self.spec.schedule == "dmml" else self.workers:
            out += [(self.server, w, "training.deepcon.workers"),
                    (w, self.server, "training.deepcon.workers")]
        for e in self.edges:
            out += [(self.server, e, "training.deepcon.ota.edges"),
                    (e, self.server, "training.deepcon.ota.edges")]
        return out

    def process(self):
        if self.ota is not None:
            yield from self.ota.run()
        else:
            yield from self.dmml.train(self.spec.rounds)


class MercurySystem:
    """Mercury: `iterations` iterations of data-parallel SGD under one schedule."""

    name = "mercury"

    def __init__(self, sim, spec) -> None:
        self.spec = spec
        base = "training.mercury"
        self.devices = _devices(sim, spec.devices, f"{base}.devices")
        if len(self.devices) == 1:
            sim.problem(f"{base}.devices", "data-parallel training needs at least 2 devices",
                        spec.devices)
        step = service_models(sim, spec.model, spec.step, self.devices, f"{base}.step",
                              spec.batch)
        forward = service_models(sim, spec.model, spec.group.forward, self.devices,
                                 f"{base}.group.forward", spec.group.batch)
        if spec.schedule == "adacomm":
            if spec.learning is None:
                sim.problem(f"{base}.schedule", "'adacomm' adapts its local steps to the "
                            "training loss: it needs `learning`", spec.schedule)
            if spec.adacomm is None:
                sim.problem(f"{base}.adacomm", "the 'adacomm' schedule needs its settings "
                            "(at least `interval`)", None)
        elif spec.schedule in ("sequential", "bacc") and spec.learning is None:
            if spec.convergence is None:
                sim.problem(f"{base}.convergence", f"{spec.schedule!r} needs E and E_is / E, "
                            "or `learning` to measure them", None)
            elif spec.schedule not in spec.convergence.ratio:
                sim.problem(f"{base}.convergence.ratio", f"needs E_is / E for {spec.schedule!r}",
                            dict(spec.convergence.ratio), ["sequential", "bacc"])
        if spec.samples < len(self.devices):
            sim.problem(f"{base}.samples", f"fewer samples than the {len(self.devices)} "
                        "devices", spec.samples)
        streams = [(sim.streams(f"mercury:{d.name}:step"),
                    sim.streams(f"mercury:{d.name}:importance")) for d in self.devices]
        names = [d.name for d in self.devices]
        self.log = ScheduleLog(names, [spec.model])
        self.lane = {n: i for i, n in enumerate(names)}
        self.tx = Transfers(sim.env, sim.network)
        self.learning = None
        if spec.learning is not None:
            from edgesim.training.mercury_learning import build_learning
            self.learning = build_learning(sim, spec, self.devices, base)
        extra, runner = {}, Mercury
        if spec.schedule == "tictac":
            runner, extra = TicTac, {"layers": _tictac_layers(sim, spec, self.learning, base),
                                     "forward_share": spec.tictac.forward_share}
        elif spec.schedule == "adacomm":
            runner = AdaComm
        # Without devices (an unknown group, reported) there is nothing to build.
        self.runner = runner(sim.env, self.devices, spec, spec.schedule, step or {},
                             forward or {}, streams, self.tx, self.log, self.lane,
                             self.learning, **extra) if self.devices and not sim.problems \
            else None

    def routes(self) -> list[tuple]:
        return [(a, b, "training.mercury.devices") for a in self.devices for b in self.devices
                if a is not b]

    def process(self):
        yield from self.runner.run()


def _tictac_layers(sim, spec, learning, base: str) -> list[tuple[float, float]]:
    """TicTac's layers: as given, or the trained model's (compute in proportion to FLOPs)."""
    given = spec.tictac.layers
    if given is None:
        if learning is None:
            sim.problem(f"{base}.tictac.layers", "'tictac' sends layer by layer: list the "
                        "model's layers (params, compute), or train a model with `learning`",
                        None)
            return [(spec.params, 1.0)]
        return [(float(p), float(f) or float(p)) for p, f in learning.learner.layer_costs()]
    total = sum(layer.params for layer in given)
    if abs(total - spec.params) > 1e-9 * spec.params:
        sim.problem(f"{base}.tictac.layers", f"the layers' params sum to {total:.0f}, not the "
                    f"model's {spec.params:.0f} (`params`)", [layer.params for layer in given])
    return [(layer.params, layer.compute) for layer in given]


def build_system(sim):
    t = sim.spec.training
    name = t.system
    if name in LEARNING:
        return learning_system(name)(sim, getattr(t, name))
    return DeepconSystem(sim, t.deepcon) if name == "deepcon" else MercurySystem(sim, t.mercury)
