"""FedAvg and FedAce (dissertation ch. 3) on the simulated clock, with real learning.

Every round the server picks C of the online clients (uniformly, or by importance, Eq. 3.3-3.5),
they download the global model through the scenario's network, compute their example losses
when importance needs them, train locally, and upload. The SimPy process charges each piece
its time on the client's device and link; the learning itself (losses, local SGD, averaging,
masks) is done for real by :mod:`edgesim.learning` when its result is needed:

* a client's loss pass when it finishes in simulated time (its importance enters the cache
  then, with the model version it was measured on);
* a client's local training when the round closes, for the updates that arrived in time
  (stragglers cut off by the completion rule, crashed clients and lost messages never train
  for real: their work is wasted in simulated time only), in client order.

Both are pure functions of (weights, data, example order, learning rate, mask), and example
orders come from a generator named by (client, round), so the result does not depend on the
order in which same-time events ran: one seed gives the same rounds, bit for bit.
"""
from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np
import simpy

from edgesim.engine.rng import generator
from edgesim.learning import compression as comp
from edgesim.learning.importance import ImportanceCache, draw_without_replacement, example_order
from edgesim.learning.server import ServerOptimizer, weighted_average
from edgesim.training.devices import TransferLost
from edgesim.training.timed import wire_nonzero
from edgesim.training.learning_build import round_lr


class _RoundState:
    """The clients of one round as they report back."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.arrived: list = []          # (client, losses, record) of updates in time
        self.finished = 0                # train processes ended, however
        self.changed = env.event()
        self.procs: list = []

    def poke(self) -> None:
        if not self.changed.triggered:
            self.changed.succeed()


class FederatedRun:
    """The rounds of one federated training."""

    def __init__(self, sim, spec, server, clients, learner, data, test, tx, log, lane,
                 wire_params: Optional[int] = None) -> None:
        self.sim, self.env, self.spec = sim, sim.env, spec
        self.server, self.clients = server, clients
        self.learner, self.data, self.test = learner, data, test
        self.tx, self.log, self.lane = tx, log, lane
        self.P = learner.params
        # The timed model's size: what the bytes on the wire count (the learned model's when
        # the scenario names no other).
        self.P_wire = wire_params if wire_params is not None else self.P
        self.optimizer = ServerOptimizer(spec.server_optimizer.optimizer,
                                         spec.server_optimizer.lr, spec.server_optimizer.betas,
                                         spec.server_optimizer.eps)
        sizes = [len(c.shard) for c in clients]
        self.cache = ImportanceCache(sizes, spec.selection.beta)
        cmp = spec.compression
        self.masks = comp.MaskCache(cmp.cache, cmp.vote) if cmp is not None else None
        self.select_gen = generator(sim.seed, "federated:select")
        self.avail = sim.streams("federated:availability")
        self.step_streams = {c.index: sim.streams(f"federated:{c.name}:compute")
                             for c in clients}
        self.need_losses = spec.data_sampling.scheme == "importance"
        self.client_is = spec.selection.scheme == "importance"
        self.weights = learner.initial.copy()
        self.mask: Optional[np.ndarray] = None
        self.versions: dict[int, np.ndarray] = {}
        self.rounds: list[dict] = []
        self.participation: list[dict] = []
        self.target_round: Optional[int] = None
        self.target_time: Optional[float] = None
        # Examples local training visited, and how many of them carry a noisy label (a
        # difficulty set): what data importance sampling does with wrong labels.
        self.visits = [0, 0]

    # ------------------------------------------------------------------ the rounds
    def run(self):
        spec = self.spec
        for r in range(spec.rounds):
            yield from self._round(r)
            if spec.stop_at_target and self.target_round is not None:
                break

    def _online(self) -> list:
        out = []
        for c in self.clients:
            # One draw per client and round, online or not, so one client's availability
            # does not shift another's draws.
            u = self.avail.uniform()
            if c.up and u < c.availability:
                out.append(c)
        return out

    def _select(self, online: list, count: int) -> tuple[list, list]:
        if not self.client_is:
            pick = self.select_gen.choice(len(online), size=count, replace=False)
        else:
            w = self.cache.weights([c.index for c in online], self.versions, self.weights)
            pick = draw_without_replacement(self.select_gen, w, count)
        chosen = sorted((online[i] for i in pick), key=lambda c: c.index)
        refresh: list = []
        if self.client_is and self.spec.selection.refresh:
            rest = [c.index for c in online if c not in chosen]
            ids = set(self.cache.least_recent(rest, self.spec.selection.refresh))
            refresh = [c for c in online if c.index in ids]
        return chosen, refresh

    def _round(self, r: int):
        env, spec = self.env, self.spec
        t0, wall0 = env.now, time.perf_counter()
        online = self._online()
        count = min(spec.per_round, len(online))
        chosen, refresh = self._select(online, count) if count else ([], [])
        self.versions[r] = self.weights
        target = self._sparsity(r)
        nnz = int(self.mask.sum()) if self.mask is not None else self.P
        nnz = wire_nonzero(nnz, self.P, self.P_wire)
        b = spec.dtype_bytes
        down = comp.model_bytes(nnz, self.P_wire, b)      # dense while nothing is pruned
        compressed = spec.compression is not None and (self.mask is not None or target > 0)
        up = comp.update_bytes(nnz, self.P_wire, b, spec.compression.mask_encoding
                               if spec.compression else "bitmap", compressed)
        state = _RoundState(env)
        first = len(self.participation)
        for c in chosen:
            state.procs.append(self._start(c, self._train(c, r, down, up, state)))
        for c in refresh:
            state.procs.append(self._start(c, self._refresh(c, r, down, state)))
        if chosen:
            yield from self._wait(state, len(chosen), t0)
        elif not online:
            yield env.timeout(spec.retry)
        for p in state.procs:
            if p.is_alive:
                p.interrupt("late")
        # An interrupt reaches its process at the next step; the round's record is now.
        for rec in self.participation[first:]:
            if rec["outcome"] == "running":
                rec.update(outcome="late", end=env.now)
        wall1 = time.perf_counter()
        train_loss = self._aggregate(r, state, target)
        if spec.server_optimizer.aggregate_time > 0:
            yield env.timeout(spec.server_optimizer.aggregate_time)
        self._record(r, t0, online, chosen, refresh, self.participation[first:], target, down,
                     up, train_loss, wall0, wall1)
        self._forget()

    def _start(self, client, gen):
        proc = self.env.process(gen)
        client.process = proc
        return proc

    def _wait(self, state: _RoundState, n: int, t0: float):
        rule = self.spec.completion
        deadline = t0 + rule.deadline if rule.rule == "deadline" else None
        while state.finished < n:
            if rule.rule == "first-k" and len(state.arrived) >= rule.k:
                return
            state.changed = self.env.event()
            waits = [state.changed]
            if deadline is not None:
                if self.env.now >= deadline:
                    return
                waits.append(self.env.timeout(deadline - self.env.now))
            yield simpy.AnyOf(self.env, waits)

    def _sparsity(self, r: int) -> float:
        c = self.spec.compression
        if c is None:
            return 0.0
        return comp.sparsity_at(r, c.sparsity, c.schedule, c.warmup, c.ramp)

    # ------------------------------------------------------------------ one client
    def _compute(self, client, model, batches: list[int]) -> float:
        stream = self.step_streams[client.index]
        return sum(model.sample(bb, stream) for bb in batches) * client.factor()

    def _batches(self, count: int) -> list[int]:
        bsz = self.spec.learning.local.batch
        full, rem = divmod(count, bsz)
        return [bsz] * full + ([rem] if rem else [])

    def _record_part(self, client, r: int, role: str) -> dict:
        rec = {"round": r, "client": client.name, "group": client.group, "role": role,
               "device": client.device.node.device, "start": self.env.now,
               "downloaded": math.nan, "computed": math.nan, "end": math.nan,
               "outcome": "running", "examples": 0, "steps": 0, "bytes_down": 0.0,
               "bytes_up": 0.0, "up_bps": math.nan, "down_bps": math.nan}
        self.participation.append(rec)
        return rec

    def _download(self, client, r: int, nbytes: float, rec: dict, kind: str):
        env = self.env
        up_bps, down_bps = client.bandwidth.rates() if client.bandwidth else (None, None)
        if client.bandwidth is not None:
            rec["up_bps"], rec["down_bps"] = up_bps, down_bps
        t = env.now
        rec["bytes_down"] += nbytes
        yield self.tx.send(self.server.index, client.device.index, nbytes, kind, down_bps)
        self.log.add(self.lane[client.name], 0, "pull", t, env.now, r, nbytes)
        rec["downloaded"] = env.now
        return up_bps

    def _loss_pass(self, client, r: int, weights: np.ndarray):
        env, t = self.env, self.env.now
        yield env.timeout(self._compute(client, client.forward,
                                        self._batches(len(client.shard))))
        self.log.add(self.lane[client.name], 0, "importance", t, env.now, r)
        losses = self.learner.losses(weights, client.shard)
        if self.client_is:
            self.cache.update(client.index, float(losses.mean()), r, env.now)
        return losses

    def _guarded(self, client, rec: dict, body, state: Optional[_RoundState] = None):
        """Run one client's work, recording how it ended: arrived, or cut off ('late'), its
        client 'crashed', or a message 'lost'."""
        try:
            yield from body
            rec.update(end=self.env.now, outcome="arrived")
        except simpy.Interrupt as stop:
            rec.update(end=self.env.now, outcome=str(stop.cause))
        except TransferLost:
            rec.update(end=self.env.now, outcome="lost")
        finally:
            client.process = None
            if state is not None:
                state.finished += 1
                state.poke()

    def _train(self, client, r: int, down: float, up: float, state: _RoundState):
        rec = self._record_part(client, r, "train")
        yield from self._guarded(client, rec, self._train_body(client, r, down, up, state, rec),
                                 state)

    def _train_body(self, client, r: int, down: float, up: float, state: _RoundState,
                    rec: dict):
        env, spec = self.env, self.spec
        weights = self.weights
        up_bps = yield from self._download(client, r, down, rec, "download")
        losses = None
        if self.need_losses:
            losses = yield from self._loss_pass(client, r, weights)
        per_epoch = self._examples(client)
        batches = self._batches(per_epoch) * spec.learning.local.epochs
        t = env.now
        yield env.timeout(self._compute(client, client.step, batches))
        self.log.add(self.lane[client.name], 0, "train", t, env.now, r)
        rec.update(computed=env.now, examples=per_epoch * spec.learning.local.epochs,
                   steps=len(batches))
        t = env.now
        rec["bytes_up"] += up
        yield self.tx.send(client.device.index, self.server.index, up, "upload", up_bps)
        self.log.add(self.lane[client.name], 0, "push", t, env.now, r, up)
        state.arrived.append((client, losses, rec))

    def _refresh(self, client, r: int, down: float, state: _RoundState):
        """Importance collection by a client that does not train this round (§3.4.2.2)."""
        rec = self._record_part(client, r, "importance")
        yield from self._guarded(client, rec, self._refresh_body(client, r, down, rec))

    def _refresh_body(self, client, r: int, down: float, rec: dict):
        env = self.env
        weights = self.weights
        up_bps = yield from self._download(client, r, down, rec, "importance-download")
        yield from self._loss_pass(client, r, weights)
        nbytes = self.spec.selection.loss_bytes
        rec.update(computed=env.now, examples=len(client.shard))
        rec["bytes_up"] += nbytes
        yield self.tx.send(client.device.index, self.server.index, nbytes,
                           "importance-upload", up_bps)

    def _examples(self, client) -> int:
        n = len(client.shard)
        return max(1, min(n, int(math.ceil(self.spec.data_sampling.fraction * n))))

    # ------------------------------------------------------------------ the server
    def _order(self, client, ex_losses: Optional[np.ndarray], r: int) -> np.ndarray:
        """The examples a client visits in round ``r``, from its own (client, round) stream."""
        gen = generator(self.sim.seed, f"federated:order:{client.name}:{r}")
        per_epoch = self._examples(client)
        return np.concatenate([
            client.shard[example_order(gen, ex_losses, len(client.shard), per_epoch)]
            for _ in range(self.spec.learning.local.epochs)])

    def _lr(self, r: int) -> float:
        return round_lr(self.spec.learning.local, r, self.spec.rounds)

    def _aggregate(self, r: int, state: _RoundState, target: float) -> Optional[float]:
        """Train the updates that arrived (for real), average them, step the server."""
        spec = self.spec
        arrived = sorted(state.arrived, key=lambda a: a[0].index)
        models, weights, masks, losses = [], [], [], []
        lr = self._lr(r)
        orders = [self._order(client, ex_losses, r) for client, ex_losses, _ in arrived]
        for order in orders:
            self.visits[0] += len(order)
            if self.data.clean_y is not None:
                self.visits[1] += int(self.data.flipped[order].sum())
        if spec.learning.vectorise:
            trained = self.learner.train_many(self.weights, orders, lr, self.mask)
        else:
            trained = (self.learner.train(self.weights, o, lr, self.mask) for o in orders)
        for (client, _, rec), (w_k, _steps, loss) in zip(arrived, trained):
            if spec.compression is not None and target > 0:
                local = comp.local_mask(w_k, self.learner.prunable, self.learner.layers,
                                        target, spec.compression.scope)
                if spec.compression.mask_encoding == "last-bit":
                    w_k = comp.encode_last_bit(w_k, local)
                    local = comp.decode_last_bit(w_k)    # what the server reads back
                masks.append(local)
            models.append(w_k)
            weights.append(len(client.shard))
            losses.append(loss)
            rec["train_loss"] = loss
        if models:
            avg = weighted_average(models, weights)
            new = self.optimizer.step(self.weights, avg)
        else:
            new = self.weights
        if self.masks is not None:
            self.masks.add(masks)
            voted = self.masks.end_round()
            if voted is not None:
                self.mask = voted if self.mask is None else (voted & self.mask)
        if self.mask is not None:
            new = new * self.mask
        self.weights = new.astype(np.float32)
        return float(np.mean(losses)) if losses else None

    def _record(self, r, t0, online, chosen, refresh, parts, target, down, up, train_loss,
                wall0, wall1) -> None:
        spec, env = self.spec, self.env
        evaluate = (r + 1) % spec.learning.eval_every == 0 or r == spec.rounds - 1
        loss = acc = math.nan
        if evaluate:
            loss, acc = self.learner.evaluate(self.weights, self.test)
        outcomes = [p["outcome"] for p in parts if p["role"] == "train"]
        prunable = self.learner.prunable
        kept = self.mask if self.mask is not None else np.ones(self.P, dtype=bool)
        nnz = int(kept.sum())
        row = {
            "round": r, "start": t0, "end": env.now, "duration": env.now - t0,
            "wall_s": time.perf_counter() - wall0, "learn_wall_s": time.perf_counter() - wall1,
            "online": len(online), "selected": [c.name for c in chosen],
            "refreshed": [c.name for c in refresh],
            "updates": outcomes.count("arrived"), "late": outcomes.count("late"),
            "crashed": outcomes.count("crashed"), "lost": outcomes.count("lost"),
            "bytes_down": sum(p["bytes_down"] for p in parts if p["role"] == "train"),
            "bytes_up": sum(p["bytes_up"] for p in parts if p["role"] == "train"),
            "bytes_importance": sum(p["bytes_down"] + p["bytes_up"] for p in parts
                                    if p["role"] == "importance"),
            "model_down_bytes": down, "update_up_bytes": up,
            "accuracy": acc, "loss": loss, "train_loss": train_loss,
            "sparsity_target": target,
            "sparsity": float(1.0 - kept[prunable].mean()) if prunable.any() else 0.0,
            "nonzero": nnz,
            "model_bytes": comp.model_bytes(wire_nonzero(nnz, self.P, self.P_wire), self.P_wire,
                                            spec.dtype_bytes),
        }
        self.rounds.append(row)
        if (self.target_round is None and spec.target_accuracy is not None and evaluate
                and acc >= spec.target_accuracy):
            self.target_round, self.target_time = r + 1, env.now

    def _forget(self) -> None:
        """Drop model versions no cached importance refers to (memory stays ~ clients)."""
        keep = self.cache.versions()
        for v in [v for v in self.versions if v not in keep]:
            del self.versions[v]

    # ------------------------------------------------------------------ failures
    def crash(self, client) -> None:
        client.up = False
        p = client.process
        if p is not None and p.is_alive:
            p.interrupt("crashed")

    def repair(self, client) -> None:
        client.up = True
