"""The build phase: turn a validated scenario into nodes, service models, job plans, sources,
a network and a policy, collecting every cross-reference problem (with its key path) instead
of stopping at the first."""
from __future__ import annotations

import math
from typing import Optional

from pydantic import ValidationError

from edgesim.errors import Problem
from edgesim.hardware import service as svc
from edgesim.hardware.calibrated import calibrated_service, max_batch_on
from edgesim.hardware.catalogue import CATALOGUE, DeviceInfo
from edgesim.hardware.node import Node
from edgesim import registry as systems
from edgesim.policies import registry
from edgesim.scenario import schema as S
from edgesim.scenario.messages import problems_from
from edgesim.workload import arrivals as arr
from edgesim.workload.source import Source
from edgesim.workload.tracefile import read_column
from edgesim.engine.plan import JobGroup, JobPlan, StagePlan, member_names


def resolve_devices(sim) -> dict[str, DeviceInfo]:
    spec, out = sim.spec, dict(CATALOGUE)
    for name, d in spec.devices.items():
        base = CATALOGUE.get(d.base or name)
        if d.base is not None and base is None:
            sim.problem(f"devices.{name}.base", "unknown catalogue device", d.base, sorted(CATALOGUE))
            continue
        if base is None:
            base = DeviceInfo(name, d.kind or "cpu")
        out[name] = base.with_overrides(name=name, kind=d.kind, executors=d.executors,
                                        description=d.description, peak_flops=d.peak_flops,
                                        # the catalogue keeps bytes/s; scenarios write bit/s
                                        mem_bandwidth=d.mem_bandwidth / 8.0
                                        if d.mem_bandwidth is not None else None)
    return out


def _member_devices(sim, group: str, g, devices: dict[str, DeviceInfo]) -> list[DeviceInfo]:
    """One DeviceInfo per member: the group's device, or its mix expanded in member order."""
    mix = {g.device: g.count} if isinstance(g.device, str) else dict(g.device)
    path = f"nodes.{group}.device"
    if sum(mix.values()) != g.count:
        sim.problem(path, f"the mix has {sum(mix.values())} members but count is {g.count}",
                    mix)
    out: list[DeviceInfo] = []
    for name, n in mix.items():
        dev = devices.get(name)
        if dev is None:
            sim.problem(path if isinstance(g.device, str) else f"{path}.{name}",
                        "unknown device (one you calibrated is known once its bundle is "
                        "listed under calibration.bundles; or declare it under devices:)",
                        name, sorted(devices))
            sim.bad_devices.add(name)
            dev = DeviceInfo(name, "cpu")
        if n < 0:
            sim.problem(f"{path}.{name}", "a member count must be >= 0", n)
        out.extend([dev] * max(n, 0))
    while len(out) < g.count:       # a short mix was reported; keep building to find more
        out.append(out[-1] if out else DeviceInfo("cpu", "cpu"))
    return out[:g.count]


def build_nodes(sim, devices: dict[str, DeviceInfo]) -> None:
    spec = sim.spec
    for group, g in spec.nodes.items():
        if group in spec.switches:
            sim.problem(f"nodes.{group}", "a node group and a switch share this name", group)
        member_devices = _member_devices(sim, group, g, devices)
        names = member_names(group, g.count)
        sim.groups[group] = []
        for name, dev in zip(names, member_devices):
            if name in sim.node_by_name or name in spec.nodes and name != group:
                sim.problem(f"nodes.{group}", f"member name {name!r} collides with another node",
                            group)
            node = Node(sim, len(sim.nodes), name, group, g.role, dev.name,
                        g.executors or dev.executors, g.queue, g.capacity, g.max_batch,
                        g.max_wait, sim.streams(f"node:{name}:service"))
            sim.nodes.append(node)
            sim.node_by_name[name] = node
            sim.groups[group].append(node)


def expand(sim, ref: str, path: str, allow_switch: bool = False) -> list:
    """A group name -> its members; a member name -> itself; else a problem."""
    if ref in sim.groups:
        return list(sim.groups[ref])
    if ref in sim.node_by_name:
        return [sim.node_by_name[ref]]
    if allow_switch and ref in sim.spec.switches:
        return [ref]
    valid = sorted(sim.groups) + (list(sim.spec.switches) if allow_switch else [])
    sim.problem(path, "unknown node or group", ref, valid)
    return []


def _service_model(sim, model: str, device: str, spec, path: str) -> Optional[svc.ServiceModel]:
    try:
        if isinstance(spec, S.Constant):
            return svc.Constant(spec.time, spec.batch_cost)
        if isinstance(spec, S.Exponential):
            return svc.Exponential(spec.mean, spec.batch_cost)
        if isinstance(spec, S.Lognormal):
            return svc.Lognormal(spec.mean, spec.cv, spec.batch_cost)
        if isinstance(spec, S.Empirical):
            if spec.samples is not None:
                samples = spec.samples
            else:
                scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6}[spec.unit]
                samples = list(read_column(sim.file.path(spec.file), spec.column) * scale)
            if not all(0 < s < math.inf for s in samples):
                raise ValueError("service-time samples must be finite numbers > 0")
            return svc.Empirical(samples, spec.batch_cost)
        if isinstance(spec, S.Profile):
            f = sim.file.path(spec.file)
            if not f.exists():
                sim.problem(f"{path}.file", f"file not found: {f}", spec.file)
                return None
            table = svc.read_profile(f, spec.model or model)
            for col, vals in (("median_ms", table.median), ("p90_ms", table.p90 or [])):
                if not all(0 < v < math.inf for v in vals):
                    raise ValueError(f"{f}: every {col} must be a finite number > 0")
            if spec.spread == "none":
                table.spread = "none"
            return table
    except FileNotFoundError as exc:
        sim.problem(f"{path}.file", f"file not found: {exc.filename}", getattr(spec, "file", None))
    except OSError as exc:  # a folder, no permission, ...
        sim.problem(f"{path}.file", f"cannot read {exc.filename}: {exc.strerror}",
                    getattr(spec, "file", None))
    except (ValueError, LookupError) as exc:
        sim.problem(path, str(exc))
    return None


def _unknown_devices(spec) -> set[str]:
    """Device names nodes use that are neither in the catalogue nor defined in the scenario
    (already reported at nodes.<group>.device)."""
    used = set()
    for g in spec.nodes.values():
        used |= {g.device} if isinstance(g.device, str) else set(g.device)
    return used - set(CATALOGUE) - set(spec.devices)


def attach_services(sim) -> None:
    """Give each node the service model of every model its device can run."""
    spec = sim.spec
    unknown = _unknown_devices(spec)
    device_names = {n.device for n in sim.nodes} - unknown
    models: dict[str, dict[str, svc.ServiceModel]] = {}
    deferred: dict[str, tuple] = {}
    for model, per_dev in spec.service.items():
        models[model] = {}
        for dev, s in per_dev.items():
            path = f"service.{model}.{dev}"
            if dev != "*" and dev not in device_names:
                if not unknown:  # else the misspelt node device is the likely cause, reported
                    sim.problem(path, "no node uses this device", dev, sorted(device_names) + ["*"])
                continue
            if isinstance(s, S.Calibrated) and dev == "*":
                deferred[model] = (s, path)     # one prediction per device that uses it
                continue
            if isinstance(s, S.Calibrated):
                m = calibrated_service(sim, model, dev, s, path, max_batch_on(sim, dev))
            else:
                m = _service_model(sim, model, dev, s, path)
            if m is not None:
                models[model][dev] = m
            else:
                sim.failed_models.add(model)
    for node in sim.nodes:
        for model, per_dev in models.items():
            m = per_dev.get(node.device, per_dev.get("*"))
            if m is None and model in deferred and node.device not in unknown:
                s, path = deferred[model]
                m = per_dev[node.device] = calibrated_service(
                    sim, model, node.device, s, path, max_batch_on(sim, node.device))
                if m is None:
                    sim.failed_models.add(model)
            if m is not None:
                node.services[model] = m
    sim.models = models


def _candidates(sim, st, path: str) -> list:
    """The nodes that may run a stage (or DAG vertex), with every problem reported."""
    spec = sim.spec
    if st.model not in spec.service:
        sim.problem(f"{path}.model", "no service times are given for this model", st.model,
                    sorted(spec.service))
    if st.node is None:
        cands = [n for n in sim.nodes if st.model in n.services]
        if not cands and st.model in spec.service and st.model not in sim.failed_models \
                and not sim.bad_devices:
            sim.problem(f"{path}.node", "no node's device has service times for model "
                        f"{st.model!r}; name a node or add a service entry", None)
        return cands
    if st.node == "@origin":
        return [n for n in sim.nodes if st.model in n.services] or []
    refs = [st.node] if isinstance(st.node, str) else st.node
    if not refs:
        sim.problem(f"{path}.node", "an empty list names no node; omit 'node' to let "
                    "any node serving the model run this stage", [])
    cands = []
    for k, ref in enumerate(refs):
        sub = f"{path}.node" + (f".{k}" if not isinstance(st.node, str) else "")
        for node in expand(sim, ref, sub):
            if node not in cands:
                cands.append(node)
    for node in cands:
        declared = spec.service.get(st.model, {})
        # A declared entry that failed to load has been reported already; do not cascade.
        if declared and node.device not in declared and "*" not in declared and \
                node.device not in sim.bad_devices:
            sim.problem(f"{path}.node", f"node {node.name!r} (device {node.device!r}) "
                        f"has no service time for model {st.model!r}", node.name,
                        sorted(spec.service[st.model]))
            break
    for node in cands:
        m = node.services.get(st.model)
        top = m.max_batch() if m is not None else None
        if top is not None and node.max_batch > top:
            sim.problem(f"nodes.{node.group}.max_batch", f"the profile for model "
                        f"{st.model!r} was measured up to batch {top}", node.max_batch)
            break
    return cands


def dag_paths(sim, name: str, job, path: str) -> list[tuple[float, list[str]]]:
    """Every execution path of a DAG job from its entry, with its probability."""
    dag = job.dag
    entry = job.entry or next(iter(dag))
    if entry not in dag:
        sim.problem(f"{path}.entry", "not a vertex of this DAG", entry, sorted(dag))
        return []
    out: list[tuple[float, list[str]]] = []

    def walk(v: str, prob: float, trail: list[str]) -> None:
        trail = trail + [v]
        succ = dag[v].next
        for w, p in succ.items():
            if w not in dag:
                sim.problem(f"{path}.dag.{v}.next", "not a vertex of this DAG", w, sorted(dag))
            elif w in trail:
                sim.problem(f"{path}.dag.{v}.next", "a DAG may not loop back to "
                            f"{' -> '.join(trail + [w])}", w)
            elif p > 0:
                walk(w, prob * p, trail)
        stop = 1.0 - sum(succ.values())
        if stop > 1e-12:
            out.append((prob * stop, trail))

    walk(entry, 1.0, [])
    return out


def build_jobs(sim) -> None:
    spec = sim.spec
    for name, job in spec.workload.jobs.items():
        path = f"workload.jobs.{name}"
        enter = None
        shape = next((x for x in S.SHAPES if getattr(job, x) is not None), None)
        if shape is not None:
            # A shape a system provides (an ensemble): its builder makes the plans and the
            # coordinator the source hands each request to.
            plans, enter = systems.job_builder(shape)(sim, name, job, path, _candidates)
        elif job.stages is not None:
            stages = [StagePlan(st.model, _candidates(sim, st, f"{path}.stages.{i}"), st.bytes,
                                at_origin=st.node == "@origin")
                      for i, st in enumerate(job.stages)]
            plans = [JobPlan(len(sim.jobs), name, stages, job.result_bytes, job.timeout,
                             accuracy=job.accuracy)]
        else:
            paths = dag_paths(sim, name, job, path)
            leaves = [trail[-1] for _p, trail in paths]
            plans = []
            for k, (prob, trail) in enumerate(paths):
                label = trail[-1] if leaves.count(trail[-1]) == 1 else ">".join(trail)
                stages = [StagePlan(job.dag[v].model,
                                    _candidates(sim, job.dag[v], f"{path}.dag.{v}"),
                                    job.dag[v].bytes, vertex=v,
                                    at_origin=job.dag[v].node == "@origin") for v in trail]
                plans.append(JobPlan(len(sim.jobs) + k, f"{name}/{label}", stages,
                                     job.result_bytes, job.timeout, group=name, weight=prob,
                                     accuracy=job.accuracy))
        sim.jobs.extend(plans)
        sim.job_groups[name] = JobGroup(name, plans, enter)
    sim.job_by_name = {p.name: p for p in sim.jobs}


def _arrivals(sim, a, stream, path: str, member: Optional[str] = None):
    if isinstance(a, S.Poisson):
        return arr.PoissonArrivals(a.rate, stream)
    if isinstance(a, S.Deterministic):
        return arr.DeterministicArrivals(a.rate, a.offset)
    if isinstance(a, S.OnOff):
        return arr.ModulatedPoisson([a.rate, a.rate_off], [a.on, a.off], stream,
                                    deterministic_periods=a.periods == "deterministic",
                                    horizon=sim.spec.duration)
    if isinstance(a, S.MMPP):
        return arr.ModulatedPoisson(a.rates, a.sojourn, stream, a.transitions,
                                    horizon=sim.spec.duration)
    if isinstance(a, S.TraceArrivals):
        f = sim.file.path(a.file)
        if not f.exists():
            sim.problem(f"{path}.file", f"file not found: {f}", a.file)
            return None
        column = a.column
        if column == "@member":
            if member is None:
                sim.problem(f"{path}.column", "'@member' needs a source placed 'at' a group",
                            column)
                return None
            column = member
        try:
            values = read_column(f, column)
        except ValueError as exc:
            sim.problem(path, str(exc))
            return None
        except OSError as exc:  # a folder, no permission, ...
            sim.problem(f"{path}.file", f"cannot read {f}: {exc.strerror}", a.file)
            return None
        if len(values) == 0:
            sim.problem(f"{path}.file", f"{f}: the trace has no data rows", a.file)
            return None
        if not all(math.isfinite(v) for v in values):
            sim.problem(f"{path}.file", f"{f}: every value must be a finite number", a.file)
            return None
        if a.format == "counts" and (values < 0).any():
            # Once read as 0 without a word: a negative count is a broken trace, not a quiet one.
            at = int((values < 0).argmax())
            sim.problem(f"{path}.file", f"{f}: counts must be >= 0; data row {at + 1} of column "
                        f"{column!r} is {values[at]:g}", a.file)
            return None
        if a.format == "times":
            return arr.TimesReplay(values * a.scale, a.loop)
        times = arr.counts_to_times(values * a.scale, a.interval, a.spread, stream)
        return arr.TimesReplay(times, a.loop, period=len(values) * a.interval)
    raise AssertionError(a)


def build_sources(sim) -> None:
    spec = sim.spec
    for name, s in spec.workload.sources.items():
        path = f"workload.sources.{name}"
        group = sim.job_groups.get(s.job)
        if group is None:
            sim.problem(f"{path}.job", "unknown job", s.job, sorted(sim.job_groups))
            continue
        if s.aggregate is not None:
            # an event of max_units arrivals is served as one batch of that size, alone
            tops = [m.max_batch() for plan in group.plans for st in plan.stages
                    for n in st.candidates
                    if (m := n.services.get(st.model)) is not None and m.max_batch() is not None]
            if tops and s.aggregate.max_units > min(tops):
                sim.problem(f"{path}.aggregate.max_units", "one event is served as one batch "
                            f"of its units, and a profile it may reach was measured up to batch "
                            f"{min(tops)}", s.aggregate.max_units)
        members = expand(sim, s.at, f"{path}.at") if s.at is not None else [None]
        for member, node in enumerate(members):
            label = name if node is None else f"{name}.{node.name}"
            stream = sim.streams(f"source:{label}")
            process = _arrivals(sim, s.arrivals, stream, f"{path}.arrivals",
                                node.name if node is not None else None)
            if process is None:
                continue
            branch = sim.streams(f"source:{label}:branch") if len(group.plans) > 1 else None
            src = Source(sim, len(sim.sources), label, group, process,
                         node.index if node is not None else -1, s.priority, s.limit, member,
                         branch)
            if s.aggregate is not None:
                src.aggregate(s.aggregate.window, s.aggregate.max_units)
                for n in sim.nodes:
                    n.units_matter = True
            sim.sources.append(src)


def build_policy(sim):
    p = sim.spec.policy
    cls = registry.get(p.name)
    if cls is None:
        sim.problem("policy.name", "unknown policy", p.name, sorted(registry.available()))
        return None
    try:
        config = cls.Config.model_validate(p.params)
    except ValidationError as exc:
        for prob in problems_from(exc, cls.Config, p.params):
            prob.path = "policy.params" + ("." + prob.path if prob.path else "")
            sim.problems.append(prob)
        return None
    return cls, config

