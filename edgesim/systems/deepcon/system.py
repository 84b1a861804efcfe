"""DEEPCON as a training system: one DMML training of `rounds` rounds, or the over-the-air
loop around it (Deploy -> Validate -> Train -> Update, with ASRS or random sampling)."""
from __future__ import annotations

import pandas as pd

from edgesim.systems.deepcon.dmml import Dmml, TrainModel
from edgesim.systems.deepcon.ota import OtaLoop
from edgesim.systems.deepcon.summary import deepcon_summary, ota_summary
from edgesim.training.build import node_devices, service_models
from edgesim.training.devices import Device, ScheduleLog, Transfers
from edgesim.hardware.service import ShareOf
from edgesim.training.protocol import TrainingSystem

WINDOW_COLUMNS = ["index", "end", "items", "sampled", "sample_bytes", "full_bytes", "true_gap",
                  "data_gap", "estimate", "triggered"]


def windows_frame(windows: list) -> pd.DataFrame:
    """windows.parquet: one row per update window of the over-the-air loop."""
    return pd.DataFrame([vars(w) for w in windows], columns=WINDOW_COLUMNS)


class DeepconSystem(TrainingSystem):
    """DEEPCON: one DMML training of `rounds` rounds, or the over-the-air loop around it."""

    name = "deepcon"

    def __init__(self, sim, spec) -> None:
        self.spec = spec
        base = "training.deepcon"
        servers = node_devices(sim, spec.server, f"{base}.server")
        if len(servers) > 1:
            sim.problem(f"{base}.server", "must name one node, not a group of "
                        f"{len(servers)}", spec.server)
        self.server = servers[0] if servers else None
        self.workers = node_devices(sim, spec.workers, f"{base}.workers")
        if self.server is not None and any(w.index == self.server.index for w in self.workers):
            sim.problem(f"{base}.workers", "the server cannot also be a worker", spec.workers)
        self.edges: list[Device] = []
        if spec.ota is not None:
            self.edges = node_devices(sim, spec.ota.edges, f"{base}.ota.edges")
        self.models: list[TrainModel] = []
        for i, (name, m) in enumerate(spec.models.items()):
            path = f"{base}.models.{name}"
            step = service_models(sim, name, m.step, self.workers, f"{path}.step", m.batch)
            label = None
            if spec.labels.charge:
                label = (service_models(sim, name, m.label, self.workers, f"{path}.label",
                                        m.batch) if m.label is not None else
                         {d: ShareOf(model, spec.labels.forward_share)
                          for d, model in (step or {}).items()})
            self.models.append(TrainModel(i, name, m.params * m.dtype_bytes, m.batch, m.steps,
                                          step or {}, label, sim.streams(f"train:{name}"),
                                          sim.streams(f"label:{name}")))
        names = [d.name for d in ([self.server] if self.server else []) + self.workers
                 + self.edges]
        self.log = ScheduleLog(names, list(spec.models))
        self.lane = {n: i for i, n in enumerate(names)}
        self.tx = Transfers(sim.env, sim.network)
        learned = None
        if spec.learning is not None:
            from edgesim.systems.deepcon.dmml_learning import build_dmml_learning   # torch only when it learns
            learned = build_dmml_learning(sim, spec, base)
        self.dmml = Dmml(sim.env, self.models, self.workers, self.server, self.tx, self.log,
                         self.lane, spec.schedule, spec.affinity, spec.round_count, learned)
        self.ota = None
        if spec.ota is not None and self.server is not None:
            learning = None
            if spec.ota.learning is not None:
                from edgesim.systems.deepcon.ota_learning import build_ota_learning   # torch only when it learns
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


    # ------------------------------------------------------------------ protocol
    def summary(self, sim) -> dict:
        return deepcon_summary(sim, self)

    def summary_sections(self, sim) -> dict:
        out = {"deepcon": deepcon_summary(sim, self)}
        if self.ota is not None:
            out["ota"] = ota_summary(self, sim)
        return out

    def frames(self) -> dict:
        if self.dmml.learning is not None:
            # consistency.parquet: Acc, C, CC, <Acc-CC> whenever the real models change.
            return {"consistency": pd.DataFrame(self.dmml.learning.rows)}
        if self.ota is None:
            return {}
        return {"windows": windows_frame(self.ota.windows)}

    def plots(self, directory, summary: dict) -> None:
        if self.ota is not None:
            from edgesim.systems.deepcon.plots import plot_ota
            plot_ota(self.frames()["windows"], summary, directory / "ota.png")

    def describe(self) -> str:
        return f"schedule {self.spec.schedule}"


def report_rows(s: dict) -> list[tuple[str, str]]:
    """The lines `edgesim run` prints for a DEEPCON run (``s``: its summary.json)."""
    from edgesim.report import fmt
    rows = []
    body = s["deepcon"]
    if "ota" in s:
        o = s["ota"]
        rows.append(("windows", f"{o['windows']:,} ({o['triggers']} triggered, "
                     f"{len(o['updates'])} updates deployed)"))
        rows.append(("uploaded", f"{o['sample_bytes'] / 1e6:,.4g} MB of "
                     f"{o['full_stream_bytes'] / 1e6:,.4g} MB "
                     f"(saved {fmt(o['saved_by_sampling'], '%')})"))
        rows.append(("gap shift", f"mean {fmt(o['mean_gap_shift'])}  "
                     f"max {fmt(o['max_gap_shift'])}"))
        if "learning" in o:        # real models: what they learned from the uploads
            lo = o["learning"]
            rows.append(("held-out accuracy", f"{fmt(lo['initial']['mean_accuracy'], '%')} -> "
                         f"{fmt(lo['final_heldout_accuracy'], '%')} (mean over the run "
                         f"{fmt(lo['mean_heldout_accuracy'], '%')})"))
            diff = (o.get("sampler_comparison") or {}).get("asrs_minus_random")
            if diff:
                rows.append(("asrs - random", f"final "
                             f"{100 * diff['final_heldout_accuracy']:+.2f} pp, mean "
                             f"{100 * diff['mean_heldout_accuracy']:+.2f} pp"))
        return rows
    rows.append(("workers / models", f"{body['workers']} / {len(body['models'])}"))
    rows.append((f"time to {body['rounds']} rounds", fmt(body["time_to_rounds_s"], "s")))
    rows.append(("worker utilisation", fmt(body["mean_utilisation"], "%")))
    if "learning" in body:       # real models: what DMML made of them
        lo = body["learning"]
        a, b = lo["initial"], lo["final"]
        rows.append(("held-out C / CC", f"{fmt(a['consistency'], '%')} -> "
                     f"{fmt(b['consistency'], '%')} / {fmt(a['cc'], '%')} -> {fmt(b['cc'], '%')}"))
        rows.append(("<Acc-CC> / mean Acc", f"{fmt(a['gap'], '%')} -> {fmt(b['gap'], '%')} / "
                     f"{fmt(a['mean_accuracy'], '%')} -> {fmt(b['mean_accuracy'], '%')}"))
        t = lo.get("target")
        if t:
            rows.append((f"time to {t['metric']} {t['value']:g}",
                         (f"{fmt(t['time_s'], 's')} (held from "
                          f"{fmt(t['sustained_time_s'], 's')})") if t["reached"]
                         else "not reached"))
    return rows
