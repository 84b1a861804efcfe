"""Build phase of a training scenario: devices, compute-time models and the system's runner,
every cross-reference problem recorded with its key path (as :mod:`edgesim.engine.build`
does for request scenarios)."""
from __future__ import annotations

from typing import Optional

from edgesim.engine.build import _service_model, expand  # the same service models as `service:`
from edgesim.hardware.calibrated import calibrated_service
from edgesim.scenario import schema as S
from edgesim.training.devices import Device


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


def node_devices(sim, ref: str, path: str) -> list[Device]:
    """The devices of the nodes ``ref`` names (a node or a group), at key path ``path``."""
    return [Device(sim.env, n) for n in expand(sim, ref, path)]


def build_system(sim):
    """The runtime of the scenario's training system, from the registry."""
    from edgesim.registry import get
    t = sim.spec.training
    return get(t.system).load("runtime")(sim, t.section())
