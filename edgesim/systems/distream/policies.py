"""The registered policies: camera-only, centralized, videoedge-l, distream, distream-l,
distream-p (Distream §1.5.1 and §1.5.3).

Each ROI (request) is decided once, the first time the policy is asked about it; the decision
(`Decision`: the camera that runs the camera part, and the cut on its execution path) is kept
in ``req.note`` and read by the later stages. Stages before the cut run on that camera, the
rest on the least-loaded edge GPU among the stage's candidates.
"""
from __future__ import annotations

from typing import Optional, Sequence

from edgesim.engine.clock import CONTROL, call_in
from edgesim.policies.base import LeastLoadedPicker, Policy
from edgesim.policies.registry import register
from edgesim.systems.distream import balancer as bal
from edgesim.systems.distream import controller as ctl
from edgesim.systems.distream import partition as part
from edgesim.systems.distream import predictor as pred
from edgesim.systems.distream.config import (BalancerParams, ControllerParams,  # noqa: F401
                                             DistreamConfig, PartitionConfig, RolesConfig)
from edgesim.systems.distream.hooks import CompletionMeter, install_lookahead, network_of

DEFAULT_SLO = 3.0        # s, §1.5.1


class Decision:
    """What `place()` decided for one ROI: ``target`` (node index of the camera running the
    camera part, -1: none) and ``cut`` (stages before it run there)."""

    __slots__ = ("target", "cut", "migrated")

    def __init__(self, target: int, cut: int, migrated: bool = False) -> None:
        self.target = target
        self.cut = cut
        self.migrated = migrated

    def __repr__(self) -> str:
        return f"Decision(target={self.target}, cut={self.cut}, migrated={self.migrated})"


# --------------------------------------------------------------------------- shared machinery

def _names(ref) -> list[str]:
    if ref is None:
        return []
    return [ref] if isinstance(ref, str) else list(ref)


class _VideoPolicy(Policy):
    """Cameras and edge nodes by role or group, and least-loaded choice among edge GPUs."""

    uses_monitor = True

    def __init__(self, config, ctx) -> None:
        super().__init__(config, ctx)
        self._ready = False
        self._picker = LeastLoadedPicker(ctx.view)
        self._sets: dict[int, frozenset] = {}
        known = {n.group for n in ctx.nodes} | {n.name for n in ctx.nodes}
        for key in ("cameras", "edge"):
            bad = [r for r in _names(getattr(config, key)) if r not in known]
            if bad:
                raise ValueError(f"policy.params.{key}: unknown node or group {bad[0]!r} "
                                 f"(valid: {', '.join(sorted(known))})")

    def _select(self, ref, role: str) -> list:
        names = _names(ref)
        if names:
            return [n for n in self.ctx.nodes if n.group in names or n.name in names]
        return [n for n in self.ctx.nodes if n.role == role]

    def _setup(self) -> None:
        if self._ready:
            return
        self._ready = True
        self.cams = self._select(self.config.cameras, "camera")
        self.edges = self._select(self.config.edge, "edge")
        self.cam_pos = {n.index: k for k, n in enumerate(self.cams)}
        self.edge_set = frozenset(n.index for n in self.edges)
        self.cam_set = frozenset(self.cam_pos)

    def start(self) -> None:
        self._setup()

    def _indices(self, cands: Sequence) -> frozenset:
        key = id(cands)
        s = self._sets.get(key)
        if s is None:
            s = self._sets[key] = frozenset(n.index for n in cands)
        return s

    def _least_loaded(self, nodes: Sequence):
        return self._picker.pick(nodes)

    def _edge(self, cands: Sequence):
        edge = [n for n in cands if n.index in self.edge_set]
        return self._least_loaded(edge or cands)


@register
class CameraOnly(_VideoPolicy):
    """Every stage of an ROI's execution path runs on the camera that produced it (FilterForward-
    like baseline of Distream §1.5.1). A stage its camera cannot run goes to the least-loaded
    candidate camera, else the least-loaded candidate."""

    name = "camera-only"
    description = "every stage on the ROI's own camera (Distream's Camera-Only baseline)"
    Config = RolesConfig

    def place(self, req, stage: int, candidates: Sequence):
        self._setup()
        if req.origin in self._indices(candidates):
            return self.ctx.nodes[req.origin]
        cams = [n for n in candidates if n.index in self.cam_set]
        return self._least_loaded(cams or candidates)


@register
class Centralized(_VideoPolicy):
    """Every stage runs on the edge cluster: the least-loaded GPU among the stage's edge
    candidates in the monitor view, counting the requests sent since the last report
    (VideoStorm/Chameleon-like baseline of Distream §1.5.1)."""

    name = "centralized"
    description = "every stage on the least-loaded edge GPU (Distream's Centralized baseline)"
    Config = RolesConfig

    def place(self, req, stage: int, candidates: Sequence):
        self._setup()
        return self._edge(candidates)


def _per_request(svc, batch: int) -> float:
    """Mean time per request in a batch of ``batch`` (a profile table answers only for its
    measured range: then its nearest measured batch)."""
    try:
        return svc.mean(batch) / batch
    except ValueError:
        sizes = getattr(svc, "batches", None) or [1]
        b = min(sizes, key=lambda x: abs(x - batch))
        return svc.mean(b) / b


class _Partitioned(_VideoPolicy):
    """Camera part / edge part of every ROI's path, with optional balancing and adaptation."""

    Config = PartitionConfig
    balancing = False        # cross-camera workload balancer (§1.3.2)
    adaptive = False         # adaptation controller + stochastic partitioning (§1.3.3-1.3.4)

    def __init__(self, config, ctx) -> None:
        super().__init__(config, ctx)
        self.stats = {"rois": 0, "migrated": 0, "moved_queued": 0, "balancer_runs": 0,
                      "balancer_checks": 0,
                      "controller_runs": 0, "control_messages": 0, "control_rpcs": 0,
                      "control_bytes": 0.0}
        self.history: list[dict] = []      # one row per controller run / balancer trigger
        self.max_history = 100_000
        self._pending_par: dict[int, float] = {}   # partition points sent, not yet delivered
        self._outbox: dict[int, list] = {}         # control messages waiting to leave
        self._flush_due = False

    # ---------------------------------------------------------------- profiling
    def _setup(self) -> None:
        if self._ready:
            return
        super()._setup()
        nodes = self.ctx.nodes
        self.reference = self.config.reference or (self.cams[0].device if self.cams else
                                                   (nodes[0].device if nodes else ""))
        self._mean_cache: dict = {}
        plans, weights = self._plans()
        self.plans = plans
        self.points = {p.index: self._points_of(p) for p in plans}
        self.mix = part.PathMix([self.points[p.index] for p in plans], weights)
        self.weights = weights
        # capacities in full-ROI DAGs per second at each node's max_batch: what the device
        # sustains as deployed (batch 8 on cameras, 32 on the edge in §1.4). Batch-1 figures
        # would misstate the camera/cluster ratio whenever batching pays off unequally (a GPU's
        # time is nearly flat in the batch size), and every use here is a sustained rate.
        self.capb = [self._capacity(n, n.max_batch) for n in self.cams]
        self.edge_capb = sum(self._capacity(n, n.max_batch) for n in self.edges)
        self.static_par = [self.static_partition(c) for c in self.capb]
        self.par = list(self.static_par)
        self.mig: dict[int, list] = {}       # camera position -> [(position, probability)]
        self._gen: dict[int, int] = {}
        self._par_gen: dict[int, int] = {}
        # separate streams for migration and cut draws (common random numbers across variants)
        named = getattr(self.ctx, "streams", None)
        self._mig_stream = named("distream:migrate") if named else self.ctx.stream
        self._cut_stream = named("distream:cut") if named else self.ctx.stream
        self.arrivals = [0] * len(self.cams)  # own new ROIs since the last report
        self.assigned = [0] * len(self.cams)  # ROIs given to each camera since the last control

    def _plans(self) -> tuple[list, list]:
        """The execution paths of the workload's jobs and how often each is taken (the job's
        branch probability times its sources' mean rate share)."""
        groups: dict[int, tuple] = {}
        for src in self.ctx.sources:
            g = src.group
            try:
                rate = float(src.process.mean_rate())
            except Exception:   # pragma: no cover  (every arrival process has a mean rate)
                rate = 1.0
            key = id(g)
            _g, r = groups.get(key, (g, 0.0))
            groups[key] = (g, r + rate)
        plans, weights = [], []
        total = sum(r for _g, r in groups.values()) or 1.0
        for g, r in groups.values():
            gw = sum(p.weight for p in g.plans) or 1.0
            for p in g.plans:
                plans.append(p)
                weights.append(r / total * p.weight / gw)
        return plans, weights

    def mean_time(self, model: str, device: str, batch: int = 1) -> Optional[float]:
        """Mean time of one request of ``model`` within a batch of ``batch`` on ``device``."""
        key = (model, device, batch)
        if key in self._mean_cache:
            return self._mean_cache[key]
        t = None
        for n in self.ctx.nodes:
            svc = n.services.get(model)
            if n.device == device and svc is not None:
                t = _per_request(svc, batch)
                break
        self._mean_cache[key] = t
        return t

    def reference_time(self, model: str) -> float:
        t = self.mean_time(model, self.reference)
        if t is None:   # the reference device cannot run it: the mean over the devices that can
            ts = [_per_request(n.services[model], 1) for n in self.ctx.nodes
                  if model in n.services]
            t = sum(ts) / len(ts) if ts else 1.0
        return t

    def _points_of(self, plan) -> list[float]:
        """Full DAG profiling of one execution path: its cut costs ``[0] + labels``."""
        return part.cut_points([self.reference_time(st.model) for st in plan.stages])

    def points_of(self, plan) -> list[float]:
        pts = self.points.get(plan.index)
        if pts is None:
            pts = self.points[plan.index] = self._points_of(plan)
        return pts

    def roi_time(self, device: str, batch: int = 1) -> float:
        """Expected time of one ROI's whole path on ``device`` (per request, in a batch)."""
        total = 0.0
        for plan, w in zip(self.plans, self.weights):
            for st in plan.stages:
                t = self.mean_time(st.model, device, batch)
                total += w * (t if t is not None else self.reference_time(st.model))
        return total

    def _capacity(self, node, batch: int) -> float:
        """ROI DAGs per second: executors / expected per-ROI time (service models' means)."""
        t = self.roi_time(node.device, batch)
        return node.executors / t if t > 0 else 0.0

    def static_partition(self, cap_cam: float) -> float:
        """VideoEdge-L's point: ``C_cam / (C_cam + C_edge / N_cameras)`` (capacities at the
        nodes' max_batch, from the service models)."""
        share = self.edge_capb / max(1, len(self.cams))
        return cap_cam / (cap_cam + share) if cap_cam + share > 0 else 1.0

    # ---------------------------------------------------------------- placement
    def _decide(self, req) -> Decision:
        pos = self.cam_pos.get(req.origin)
        self.stats["rois"] += 1
        if pos is None:
            return Decision(-1, 0)
        self.arrivals[pos] += 1
        tgt = pos
        if self.balancing:
            probs = self.mig.get(pos)
            if probs:
                u, acc = self._mig_stream.uniform(), 0.0
                for j, p in probs:
                    acc += p
                    if u < acc:
                        tgt = j
                        break
        self.assigned[tgt] += 1
        cut = self._cut(req, tgt)
        if tgt != pos:
            self.stats["migrated"] += 1
        return Decision(self.cams[tgt].index, cut, tgt != pos)

    def _cut(self, req, cam: int) -> int:
        """The ROI's cut at camera position ``cam``'s partition point: drawn (Eq. 1.5) when
        adaptive, the nearest vertex otherwise."""
        pts = self.points_of(req.plan)
        if self.adaptive:
            return part.draw_cut(self.par[cam], pts, self._cut_stream.uniform())
        return part.nearest_cut(self.par[cam], pts)

    def place(self, req, stage: int, candidates: Sequence):
        d = req.note
        if d is None:
            self._setup()
            d = req.note = self._decide(req)
        if stage < d.cut and d.target >= 0:
            if d.target in self._indices(candidates):
                return self.ctx.nodes[d.target]
            d.cut = stage          # this camera cannot run the stage: the rest goes to the edge
        return self._edge(candidates)

    # ---------------------------------------------------------------- control plane
    def start(self) -> None:
        self._setup()
        env = self.ctx.env
        self.network = network_of(self.ctx)
        self.controller_node = self.edges[0].index if self.edges else \
            (self.cams[0].index if self.cams else 0)
        spec = self.ctx.scenario
        self.report_every = spec.policy.report_interval if spec is not None else 0.05
        if self.balancing:
            self.predictor = self._make_predictor()
            self.balancer = bal.BalanceCache()    # unchanged inputs: the last plan, no rerun
            call_in(env, self.report_every, CONTROL, self._report_tick)
        if self.adaptive:
            slo = self.config.slo
            if slo is None and spec is not None:
                slo = spec.metrics.slo
            self.slo = slo if slo is not None else DEFAULT_SLO
            self.meter = CompletionMeter(list(self.cams) + list(self.edges))
            self._last_control = env.now
            call_in(env, self.config.gamma, CONTROL, self._control_tick)

    def _make_predictor(self):
        n, c = len(self.cams), self.config
        if c.predictor == "oracle":
            mine = [s for s in self.ctx.sources if s.origin in self.cam_pos]
            looks = install_lookahead(mine)
            return pred.OraclePredictor(n, [(self.cam_pos[s.origin], la)
                                            for s, la in zip(mine, looks)])
        if c.predictor == "lstm":
            return pred.LSTMPredictor(
                n, window=c.lstm_window, hidden=c.lstm_hidden, epochs=c.lstm_epochs,
                retrain=c.lstm_retrain, min_history=c.lstm_min_history,
                periods=c.lstm_periods, seed=int(self.ctx.stream.uniform() * 2**31),
                alpha=c.ewma_alpha)
        return pred.make(c.predictor, n, alpha=c.ewma_alpha)

    def _pending(self, node) -> int:
        view = self.ctx.view
        return view.queue[node.index] + view.busy[node.index]

    def _log(self, row: dict) -> None:
        if len(self.history) < self.max_history:
            self.history.append(row)

    def _report_tick(self, _arg) -> None:
        """Every report interval: feed the predictor; run the balancer if v' > beta."""
        env, c = self.ctx.env, self.config
        now = env.now
        counts, self.arrivals = self.arrivals, [0] * len(self.cams)
        self.predictor.observe(now, counts)
        self.stats["balancer_checks"] += 1
        w = [self._pending(n) for n in self.cams]
        d = self.mix.inferences
        w_hat = [r * d for r in self.predictor.predict(now, c.horizon)]
        res = self.balancer.balance(w, w_hat, self.capb, c.beta, c.dx, normalise=c.normalise)
        if res.triggered:
            self.stats["balancer_runs"] += 1
            moves: dict[int, list] = {}
            if c.migrate == "queued":
                # the waiting ROIs go first (busy ones cannot move); new ROIs take the rest
                view = self.ctx.view
                waiting = [view.queue[n.index] for n in self.cams]
                planned = bal.queued_moves(res.x, w, w_hat, waiting, self.capb, c.normalise)
                for (i, j), k in sorted(planned.items()):
                    moves.setdefault(i, []).append((j, k))
                rest, w_left = bal.remaining_plan(res.x, planned, w)
                probs = bal.migration_probabilities(rest, w_left, w_hat)
            else:
                probs = bal.migration_probabilities(res.x, w, w_hat)
            self._log({"time": now, "kind": "balance", "v_before": res.v_before,
                       "v_after": res.v_after, "reason": res.reason, "x": dict(res.x),
                       "moves": {(i, j): k for i, jk in moves.items() for j, k in jk}})
            out: dict[int, list] = {}
            for i in sorted(set(probs) | set(self.mig) | set(moves)):
                pairs, mv = probs.get(i, []), moves.get(i, [])
                if pairs == self.mig.get(i, []) and not mv:
                    continue
                g = self._gen[i] = self._gen.get(i, 0) + 1
                # one instruction per camera: control_bytes per target it names
                targets = {j for j, _p in pairs} | {j for j, _k in mv}
                out.setdefault(self.cams[i].index, []).append(
                    (c.control_bytes * max(1, len(targets)), self._apply_migration,
                     (i, g, pairs, mv)))
            self._send(out)
        call_in(env, self.report_every, CONTROL, self._report_tick)

    def _apply_migration(self, arg) -> None:
        """Camera i receives its instruction: new ROIs go by the shares from now on, and the
        waiting requests named go to their targets (``migrate: queued``; those still waiting
        now, at most the number planned)."""
        i, g, pairs, mv = arg
        if g != self._gen.get(i):
            return                 # superseded by a newer instruction (its moves too)
        self.mig[i] = list(pairs)
        move = getattr(self.ctx, "move_queued", None)
        if not mv or move is None:
            return
        src = self.cams[i]

        def camera_part(req, _src=src.index) -> bool:
            # only this camera's share of an ROI: a request bound here and before its cut
            d = req.note
            return isinstance(d, Decision) and d.target == _src and req.stage < d.cut

        for j, k in mv:
            dst = self.cams[j]
            for req in move(src, dst, k, accept=camera_part):
                d = req.note
                d.target = dst.index            # its later camera stages follow it
                d.migrated = True
                if req.stage == 0:
                    # cut as a new ROI migrated to j would be, at j's partition point; the
                    # first stage runs on j now whatever the draw
                    d.cut = max(1, self._cut(req, j))
                self.stats["moved_queued"] += 1

    def _control_tick(self, _arg) -> None:
        """Every gamma: per-camera partition points by the two-phase heuristic (Eq. 1.6-1.8)."""
        env, c = self.ctx.env, self.config
        now = env.now
        dt = max(now - self._last_control, 1e-9)
        self._last_control = now
        done = self.meter.take()
        rates, self.assigned = [a / dt for a in self.assigned], [0] * len(self.cams)
        cams = [ctl.Site(capacity=cap, pending=self._pending(n), rate=r,
                         measured=done.get(n.index, 0) / dt)
                for n, cap, r in zip(self.cams, self.capb, rates)]
        edge = ctl.Site(capacity=self.edge_capb, pending=sum(self._pending(n) for n in self.edges),
                        measured=sum(done.get(n.index, 0) for n in self.edges) / dt)
        result = ctl.plan(cams, edge, self.mix, c.gamma, self.slo, c.step, par0=self.par,
                          ascent=c.ascent, throughput=c.throughput)
        self.stats["controller_runs"] += 1
        ev = result.evaluation
        self._log({"time": now, "kind": "partition", "par": list(result.par),
                   "preliminary": list(result.preliminary), "tp_system": ev.tp_system,
                   "lat_cams": list(ev.lat_cams), "lat_edge": ev.lat_edge,
                   "feasible": ev.feasible, "rates": rates})
        out: dict[int, list] = {}
        for i, p in enumerate(result.par):
            if abs(p - self.par[i]) > 1e-9 and abs(p - self._target_par(i)) > 1e-9:
                g = self._par_gen[i] = self._par_gen.get(i, 0) + 1
                self._pending_par[i] = p
                out.setdefault(self.cams[i].index, []).append(
                    (c.control_bytes, self._apply_partition, (i, g, p)))
        self._send(out)
        call_in(env, c.gamma, CONTROL, self._control_tick)

    def _target_par(self, i: int) -> float:
        return self._pending_par.get(i, self.par[i])

    def _apply_partition(self, arg) -> None:
        i, g, p = arg
        if g != self._par_gen.get(i):
            return
        self.par[i] = p
        self._pending_par.pop(i, None)

    def _send(self, out: dict[int, list]) -> None:
        """Queue control messages from the controller (on the edge cluster) to cameras; they
        leave together once every controller due at this instant has run, so a balancing
        instruction and a partition point for the same camera share an RPC."""
        if not out:
            return
        for dst, items in out.items():
            self._outbox.setdefault(dst, []).extend(items)
        if not self._flush_due:
            self._flush_due = True
            call_in(self.ctx.env, 0.0, CONTROL, self._flush)

    def _flush(self, _arg=None) -> None:
        """Send the queued messages as batched RPCs (``network.rpc_batch`` messages per RPC,
        20 by default, as §1.4); without a network they take effect at once."""
        out, self._outbox, self._flush_due = self._outbox, {}, False
        net = self.network
        src = self.controller_node
        for dst in sorted(out):
            items = out[dst]
            self.stats["control_messages"] += len(items)
            self.stats["control_bytes"] += sum(b for b, _f, _a in items)
            if net is None or dst == src:
                for _b, fn, arg in items:
                    fn(arg)
                continue
            batch = max(1, getattr(net, "batch", 20))
            self.stats["control_rpcs"] += (len(items) + batch - 1) // batch
            net.send_batch(src, dst, items)


@register
class VideoEdgeL(_Partitioned):
    """VideoEdge-Lossless (Distream §1.5.1): a static, workload-agnostic partition of every
    execution path at the vertex whose normalised accumulated cost (full-DAG profile on the
    reference device) is nearest to ``par = C_cam / (C_cam + C_edge / N_cameras)``; C is the
    capacity at the node's max_batch from the service models (executors / mean time per ROI's
    DAG in a full batch). The camera part runs on the ROI's own camera, the rest on the least-loaded edge GPU."""

    name = "videoedge-l"
    description = "static DAG cut at the camera/cluster compute ratio (Distream's VideoEdge-L)"
    Config = PartitionConfig


@register
class DistreamL(_Partitioned):
    """Distream-L (§1.5.3): the cross-camera workload balancer (Eq. 1.1-1.4, checked every
    report interval) with VideoEdge-L's static partition."""

    name = "distream-l"
    description = "Distream's cross-camera balancer with a static partition"
    Config = BalancerParams
    balancing = True


@register
class DistreamP(_Partitioned):
    """Distream-P (§1.5.3): stochastic DAG partitioning (Eq. 1.5) with partition points from the
    adaptation controller every gamma (Eq. 1.6-1.8), no cross-camera balancing."""

    name = "distream-p"
    description = "Distream's adaptive stochastic partitioning, no cross-camera balancing"
    Config = ControllerParams
    adaptive = True


@register
class Distream(_Partitioned):
    """Distream (§1.3): the cross-camera workload balancer (Eq. 1.1-1.4, with a workload
    predictor, checked every report interval and run when v' > beta), stochastic DAG
    partitioning (Eq. 1.5), and the adaptation controller choosing each camera's partition
    point every gamma (Eq. 1.6-1.8). Balancing instructions and partition points travel from
    the edge cluster to the cameras as batched RPCs."""

    name = "distream"
    description = "Distream: cross-camera balancing + adaptive stochastic DAG partitioning"
    Config = DistreamConfig
    balancing = True
    adaptive = True
