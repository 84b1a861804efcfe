"""The clients of a federated scenario: their devices, compute-time models, access speeds and
availability, built from `training.federated.clients` with every problem located.

Speeds are per-flow caps on the client's transfers (:meth:`Transfers.send` ``cap_bps``): the
client's own radio limits it, and the scenario's links and cells still share their capacity
among everyone crossing them.
"""
from __future__ import annotations

import json
import math
from typing import Optional

import numpy as np

from edgesim.engine.rng import Stream, generator
from edgesim.failures.timing import draw
from edgesim.training.devices import Device

_KBPS = 8000.0       # FLASH's speeds are KB/s: 1 KB/s = 8,000 bit/s


class Bandwidth:
    """One client's (up, down) speed in bit/s, per round or once."""

    def __init__(self, spec, stream: Stream, profile: Optional[dict]) -> None:
        self.spec = spec
        self.stream = stream
        self.profile = profile          # flash: this client's device entry
        self.fixed = self._draw() if spec.per == "client" else None

    def _draw(self) -> tuple[float, float]:
        s = self.spec
        if s.dist == "constant":
            return s.up, s.down
        if s.dist == "lognormal":
            return (draw(self.stream, "lognormal", s.up, 1.0, s.cv),
                    draw(self.stream, "lognormal", s.down, 1.0, s.cv))
        p = self.profile
        up = max((p["up_u"] + p["up_sigma"] * self.stream.normal()) * _KBPS, s.floor)
        down = max((p["down_u"] + p["down_sigma"] * self.stream.normal()) * _KBPS, s.floor)
        return up, down

    def rates(self) -> tuple[float, float]:
        return self.fixed if self.fixed is not None else self._draw()


def read_flash(sim, path: str, key: str) -> Optional[list[dict]]:
    """The devices of a FLASH speed file, or None after a recorded problem."""
    f = sim.file.path(path)
    if not f.exists():
        sim.problem(key, f"file not found: {f}", path)
        return None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        sim.problem(key, f"not a JSON file: {exc}", path)
        return None
    need = ("down_u", "down_sigma", "up_u", "up_sigma")
    if not isinstance(data, dict) or not data:
        sim.problem(key, "expected a JSON object of devices", path)
        return None
    out = []
    for name in sorted(data):
        entry = data[name]
        if not isinstance(entry, dict) or any(not isinstance(entry.get(k), (int, float))
                                              for k in need):
            sim.problem(key, f"device {name!r} needs numbers {', '.join(need)}", path)
            return None
        out.append(dict(entry, name=name))
    return out


class Client:
    """One client: its device, shard, compute models and access speed."""

    __slots__ = ("index", "device", "name", "group", "spec", "step", "forward", "bandwidth",
                 "availability", "shard", "up", "slow", "process", "flash")

    def __init__(self, index: int, device: Device, group: int, spec) -> None:
        self.index = index
        self.device = device
        self.name = device.name
        self.group = group
        self.spec = spec
        self.step = self.forward = None
        self.bandwidth: Optional[Bandwidth] = None
        self.availability = spec.availability
        self.shard = np.zeros(0, dtype=np.int64)
        self.up = True                  # False while a crash episode lasts
        self.slow: list[float] = []     # active slow-down factors
        self.process = None             # the SimPy process of its current work
        self.flash: Optional[str] = None

    def factor(self) -> float:
        return math.prod(self.slow) if self.slow else 1.0


def build_clients(sim, spec, server: Optional[Device], base: str,
                  timed: Optional[str] = None) -> list[Client]:
    """Every client of every group, in group then member order (the order of their shards).
    ``timed``: the timed model's name, which `dist: calibrated` step and forward times look up
    (else 'federated-step' and 'federated-forward')."""
    from edgesim.training.build import member_devices, service_models
    clients: list[Client] = []
    seen: dict[str, str] = {}
    batch = spec.learning.local.batch
    for g, group in enumerate(spec.clients):
        path = f"{base}.clients.{g}"
        devs = member_devices(sim, group.nodes, path, seen, "clients",
                              {server.index: "server"} if server is not None else None)
        step = service_models(sim, timed or "federated-step", group.step, devs, f"{path}.step",
                              batch)
        forward = (service_models(sim, timed or "federated-forward", group.forward, devs,
                                  f"{path}.forward", batch) if group.forward else None)
        flash = None
        if group.bandwidth is not None and group.bandwidth.dist == "flash":
            flash = read_flash(sim, group.bandwidth.file, f"{path}.bandwidth.file")
        pick = generator(sim.seed, f"federated:flash:{g}")
        for d in devs:
            c = Client(len(clients), d, g, group)
            c.step = (step or {}).get(d.node.device)
            c.forward = (forward or {}).get(d.node.device)
            if group.bandwidth is not None and (group.bandwidth.dist != "flash" or flash):
                profile = flash[int(pick.integers(len(flash)))] if flash else None
                c.flash = profile["name"] if profile else None
                c.bandwidth = Bandwidth(group.bandwidth,
                                        sim.streams(f"federated:bandwidth:{c.name}"), profile)
            clients.append(c)
    return clients
