"""Build the scenario's network: wired links (groups expand to one link per member), switches,
Wi-Fi cells with their access points, pinned routes, bandwidth traces; then check that every
place bytes may travel is reachable before t = 0."""
from __future__ import annotations

from typing import Optional

from edgesim.engine.clock import COMPLETION, call_at
from edgesim.network.cells import Cell, CellManager
from edgesim.network.flows import FlowNetwork
from edgesim.network.topology import NoRoute, Topology
from edgesim.network.traces import TraceFormatError, read_trace
from edgesim.network.transfers import Network
from edgesim.network.wifi import PHY

_ENDLESS = 1e30   # capacity stand-in for a channel that is never the bottleneck


def _endpoints(sim, ref: str, path: str, extra: set[str]) -> list[str]:
    from edgesim.engine.build import expand
    if ref in extra:
        return [ref]
    return [n if isinstance(n, str) else n.name for n in expand(sim, ref, path, allow_switch=True)]


def load_trace(sim, ref, path: str):
    """A BandwidthTrace for a scenario's `trace:` entry, or None after recording a problem."""
    f = sim.file.path(ref.file)
    if not f.exists():
        sim.problem(f"{path}.file", f"file not found: {f}", ref.file)
        return None
    kw = {"column": ref.column} if ref.column else {}
    try:
        trace = read_trace(f, ref.format, **kw)
    except (TraceFormatError, ValueError, OSError) as exc:
        sim.problem(f"{path}.file", str(exc), ref.file)
        return None
    return trace.with_end(ref.end).with_scale(ref.scale)


def build_network(sim) -> Optional[Network]:
    """The Network, or None when the scenario has neither links nor cells (data moves instantly)."""
    spec = sim.spec
    if not spec.links and not spec.cells:
        return None
    topo, flows = Topology(), FlowNetwork(sim.env)
    aps = {c.ap for c in spec.cells.values()}
    for node in sim.nodes:
        topo.add_node(node.name, "host")
    for sw in spec.switches:
        if sw in sim.node_by_name:
            sim.problem("switches", "a switch and a node share this name", sw)
            continue
        topo.add_node(sw, "switch")
    for ap in sorted(aps):
        if ap in sim.node_by_name or ap in spec.switches:
            sim.problem("cells", "an access point shares its name with a node or switch", ap)
            continue
        topo.add_node(ap, "ap")
    extra = set(spec.switches) | aps
    sim.link_traces = []
    for name, link in spec.links.items():
        path = f"links.{name}.ends"
        a = _endpoints(sim, link.ends[0], f"{path}.0", extra)
        b = _endpoints(sim, link.ends[1], f"{path}.1", extra)
        if len(a) > 1 and len(b) > 1:
            sim.problem(path, "at most one end of a link may be a group of several nodes",
                        list(link.ends))
            continue
        trace = load_trace(sim, link.trace, f"links.{name}.trace") if link.trace else None
        for x in a:
            for y in b:
                if x == y:
                    sim.problem(path, "a link needs two different ends", list(link.ends))
                    continue
                label = name if len(a) * len(b) == 1 else f"{name}[{x}-{y}]"
                try:
                    topo.add_link(x, y, link.bandwidth, link.latency, up_bps=link.up,
                                  down_bps=link.down, name=label)
                except ValueError as exc:
                    sim.problem(path, str(exc), list(link.ends))
                    continue
                sim.link_channels.setdefault(name, []).extend(
                    [f"{label}:{x}->{y}", f"{label}:{y}->{x}"])
                if trace is not None:
                    sim.link_traces.append((trace, [f"{label}:{x}->{y}", f"{label}:{y}->{x}"]))

    alias, cells = {}, []
    for cname, c in spec.cells.items():
        path = f"cells.{cname}"
        refs = [c.stations] if isinstance(c.stations, str) else c.stations
        stations: dict[str, float] = {}
        default_rate = c.phy_rate or PHY[c.standard].data_rate_bps
        for k, ref in enumerate(refs):
            sub = f"{path}.stations" + ("" if isinstance(c.stations, str) else f".{k}")
            for st in _endpoints(sim, ref, sub, set()):
                stations[st] = default_rate
        for st, rate in c.rates.items():
            if st not in stations:
                sim.problem(f"{path}.rates.{st}", "not a station of this cell", st, sorted(stations))
            else:
                stations[st] = rate
        if not stations:
            continue
        cell = Cell(cname, c.ap, stations, c.standard, c.mode, c.payload, c.latency)
        if c.trace is not None:
            trace = load_trace(sim, c.trace, f"{path}.trace")
            if trace is not None:
                sim.cell_traces.append((trace, cell))
        cells.append(cell)
        sim.link_channels[cname] = list(cell.channel.values())
        for st, ch in cell.channel.items():
            try:
                topo.add_link(st, c.ap, _ENDLESS, c.latency, name=ch)
            except ValueError as exc:
                sim.problem(path, str(exc), st)
                continue
            alias[f"{ch}:{st}->{c.ap}"] = ch
            alias[f"{ch}:{c.ap}->{st}"] = ch
    for i, r in enumerate(spec.network.routes):
        try:
            topo.pin_route(r.src, r.dst, r.via)
        except ValueError as exc:
            sim.problem(f"network.routes.{i}", str(exc), r.via)

    for chname, (cap, lat) in topo.channels().items():
        if chname not in alias:
            flows.add_channel(chname, cap, lat)
    manager = CellManager(sim.env, flows, cells) if cells else None
    if manager is not None:
        manager.add_channels()
    net = spec.network
    return Network(sim.env, topo, flows, [n.name for n in sim.nodes], alias, manager,
                   window=net.flow_window, overhead=net.rpc_overhead, header=net.header_bytes,
                   batch=net.rpc_batch, record=net.transfers,
                   max_in_flight=net.max_in_flight, batch_messages=net.batch_messages)


class TraceFollower:
    """Keeps channels at a trace's value. It sleeps while none of its channels carries a flow
    (a long idle run of a trace replayed at Mahimahi's 1 ms resolution would otherwise cost up to
    a thousand events a second for nothing) and resynchronises when a flow is about to start on
    them or a sample is taken."""

    def __init__(self, env, trace, channels: list[str], apply, busy) -> None:
        self.env, self.trace, self.channels = env, trace, channels
        self.apply, self.busy = apply, busy
        self.call = None

    def wake(self) -> None:
        if self.call is None:
            self._step(None)

    def sync(self) -> None:
        if self.call is None:
            self.apply(self.trace.value_at(self.env.now))

    def _step(self, _arg) -> None:
        now = self.env.now
        self.call = None
        self.apply(self.trace.value_at(now))
        if not self.busy():
            return
        nxt = self.trace.next_change(now)
        if nxt < float("inf"):
            self.call = call_at(self.env, nxt, COMPLETION, self._step)


def start_traces(sim) -> list[TraceFollower]:
    """Make every traced link and cell follow its trace (piecewise constant) from t = 0."""
    net = sim.network
    flows = net.flows
    out = []

    def busy_of(chs):
        return lambda: any(flows.stats(c).flows for c in chs)

    for trace, channels in sim.link_traces:
        out.append(TraceFollower(sim.env, trace, channels,
                                 lambda v, chs=channels: flows.set_capacities({c: v for c in chs}),
                                 busy_of(channels)))
    for trace, cell in sim.cell_traces:
        chs = list(cell.channel.values())
        out.append(TraceFollower(sim.env, trace, chs,
                                 lambda v, cell=cell: net.cells.set_scale(cell, v), busy_of(chs)))
    by_channel: dict[str, list[TraceFollower]] = {}
    for f in out:
        f.sync()
        for c in f.channels:
            by_channel.setdefault(c, []).append(f)
    net.traced = by_channel
    return out


def check_routes(sim) -> None:
    """Every place bytes may have to travel must be reachable before t = 0."""
    net = sim.network
    if net is None:
        return
    seen: set = set()

    def need(a, b, path):
        if a is b or (a.index, b.index) in seen:
            return
        seen.add((a.index, b.index))
        try:
            net.route(a.index, b.index)
        except NoRoute:
            sim.problem(path, f"no route from {a.name!r} to {b.name!r} through the links "
                        "and cells", None)

    for src in sim.sources:
        origin = sim.nodes[src.origin] if src.origin >= 0 else None
        for plan in src.group.plans:
            prev = [origin] if origin is not None else []
            for i, st in enumerate(plan.stages):
                where = f"dag.{st.vertex}" if st.vertex else f"stages.{i}"
                if st.nbytes > 0:
                    for a in prev:
                        for b in st.candidates:
                            need(a, b, f"workload.jobs.{plan.group}.{where}.bytes")
                prev = st.candidates
            if plan.result_bytes > 0 and origin is not None:
                for a in prev:
                    need(a, origin, f"workload.jobs.{plan.group}.result_bytes")
