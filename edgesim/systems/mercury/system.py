"""Mercury as a training system: `iterations` iterations of data-parallel SGD under one
schedule (SGD, sequential importance sampling, BACC, TicTac, AdaComm)."""
from __future__ import annotations

from typing import Optional

from edgesim.systems.mercury.baselines import AdaComm, TicTac
from edgesim.systems.mercury.schedules import Mercury
from edgesim.systems.mercury.summary import mercury_summary
from edgesim.training.build import node_devices, service_models
from edgesim.training.devices import ScheduleLog, Transfers
from edgesim.hardware.model_sizes import UnknownModelError, model_size
from edgesim.training.protocol import TrainingSystem
from edgesim.training.timed import TimedModel


class MercurySystem(TrainingSystem):
    """Mercury: `iterations` iterations of data-parallel SGD under one schedule."""

    name = "mercury"

    def __init__(self, sim, spec) -> None:
        self.spec = spec
        base = "training.mercury"
        self.devices = node_devices(sim, spec.devices, f"{base}.devices")
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
                # Without E_is / E the run still times the schedule's iterations against SGD's;
                # how many iterations importance sampling saves is learning's to say.
                sim.warnings.append(f"training.mercury: {spec.schedule!r} without `learning` "
                                    "or `convergence`: iteration times only; the speed-up "
                                    "needs E_is / E (learn it with `learning`)")
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
            from edgesim.systems.mercury.learning import build_learning
            self.learning = build_learning(sim, spec, self.devices, base)
        self.timed = self._timed(sim, spec, base)
        if self.timed is not None and spec.params != self.timed.params:
            spec = self.spec = spec.model_copy(update={"params": float(self.timed.params)})
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

    def _timed(self, sim, spec, base: str) -> Optional[TimedModel]:
        """The model on the wire: `params` as given, else the learned model's (with
        `learning`), else the zoo model `model`'s."""
        if spec.params is not None:
            return TimedModel(spec.model, int(spec.params), "given")
        if self.learning is not None:
            return TimedModel(spec.model, int(self.learning.learner.params), "learned")
        if spec.learning is not None:
            return None                     # its learning could not be built (reported)
        try:
            return TimedModel(spec.model, model_size(spec.model).params, "zoo")
        except UnknownModelError as exc:
            sim.problem(f"{base}.params", f"give the model's parameter count: {exc}", None)
            return None

    def routes(self) -> list[tuple]:
        return [(a, b, "training.mercury.devices") for a in self.devices for b in self.devices
                if a is not b]

    def process(self):
        yield from self.runner.run()

    # ------------------------------------------------------------------ protocol
    def summary(self, sim) -> dict:
        return mercury_summary(sim, self)

    def describe(self) -> str:
        return f"schedule {self.spec.schedule}"


def _tictac_layers(sim, spec, learning, base: str) -> list[tuple[float, float]]:
    """TicTac's layers: as given, or the trained model's (compute in proportion to FLOPs)."""
    given = spec.tictac.layers
    if spec.params is None:
        return []                           # no size to split (reported)
    if given is None:
        if learning is None:
            sim.problem(f"{base}.tictac.layers", "'tictac' sends layer by layer: list the "
                        "model's layers (params, compute), or train a model with `learning`",
                        None)
            return [(spec.params, 1.0)]
        layers = [(float(p), float(f) or float(p)) for p, f in learning.learner.layer_costs()]
        total = sum(p for p, _ in layers)
        if total != spec.params:
            # A bigger timed model: the learned model's layer shares, at the timed size.
            layers = [(p * spec.params / total, f) for p, f in layers]
        return layers
    total = sum(layer.params for layer in given)
    if abs(total - spec.params) > 1e-9 * spec.params:
        sim.problem(f"{base}.tictac.layers", f"the layers' params sum to {total:.0f}, not the "
                    f"model's {spec.params:.0f} (`params`)", [layer.params for layer in given])
    return [(layer.params, layer.compute) for layer in given]


def report_rows(s: dict) -> list[tuple[str, str]]:
    """The lines `edgesim run` prints for a Mercury run (``s``: its summary.json)."""
    from edgesim.report import fmt
    body = s["mercury"]
    rows = [("devices", f"{body['devices']}"),
            ("iteration (steady)", fmt(body["mean_iteration_s"], "s")),
            ("T_cp / T_cm", f"{fmt(body['t_cp_s'], 's')} / {fmt(body['t_cm_s'], 's')}")]
    if body.get("speedup_vs_sgd") is not None:
        rows.append(("speedup vs SGD (Eq. 2.3)", f"{body['speedup_vs_sgd']:.3f}"))
    elif body.get("time_ratio") is not None:
        rows.append(("SGD iteration / this one", f"{body['time_ratio']:.3f} (E_is / E unknown)"))
    if body.get("total_time_s") is not None:
        rows.append(("time to target", fmt(body["total_time_s"], "s")
                     + (" (extrapolated)" if body.get("extrapolated") else "")))
    return rows
