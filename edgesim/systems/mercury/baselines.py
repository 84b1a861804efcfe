"""The dissertation's other baselines for Mercury (§2.6.1), on the same devices, network and
multi-parameter-server aggregation as :class:`.mercury.Mercury`:

* **TicTac** (Hashemi et al., SysML 2019) overlaps communication with computation by ordering
  transfers. Back-propagation produces gradients last layer first, and each layer's gradient
  leaves as soon as it exists; every transfer (a gradient shard to its server, a summed shard
  back) waits its turn on the sender's network interface in the order the next forward pass
  needs the parameters (first layer first), and the next forward pass computes a layer as soon
  as that layer's summed parameters are in. It computes exactly what SGD computes (random
  sampling, one synchronous step per iteration): only the time per iteration changes.
* **AdaComm** (Wang and Joshi, SysML 2019) is local-update SGD: every device takes tau SGD
  steps on its own copy of the model, then the copies are averaged by the same all-reduce as a
  gradient. Every `interval` of wall-clock time tau becomes ceil(sqrt(F / F0) tau0) (the
  AdaComm paper's rule for a fixed learning rate), F0 the training loss at the start and F the
  latest; both are the mean mini-batch loss of a round's first local steps, taken at the
  averaged model (our estimator: AdaComm uses the training loss without saying how it is
  sampled). One round is one communication: E counts rounds.
"""
from __future__ import annotations

import math

import simpy

from edgesim.training.devices import URGENT, hold_compute
from edgesim.systems.mercury.schedules import Mercury


class TicTac(Mercury):
    """Layer-wise, ordered gradient exchange overlapping back-propagation and the next
    forward pass. ``layers``: (parameters, relative compute) of each layer, forward order."""

    def __init__(self, *args, layers: list[tuple[float, float]], forward_share: float,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        params = sum(p for p, _ in layers)
        compute = sum(c for _, c in layers)
        # (bytes per server, share of the step's compute, share of the parameters)
        self.layers = [(p * self.spec.dtype_bytes / self.K, c / compute, p / params)
                       for p, c in layers]
        self.forward_share = forward_share
        self.ready: dict[tuple[int, int, int], simpy.Event] = {}   # (device, iteration, layer)

    def _loop(self, k: int):
        env, dev, spec = self.env, self.devices[k], self.spec
        step, step_stream = self.step[dev.node.device], self.streams[k][0]
        learn = self.learning
        n = len(self.layers)
        finish = None
        for t in range(spec.iterations):
            if learn is not None and learn.done:
                return
            self.iteration[k] = t
            d = step.sample(spec.batch, step_stream)
            for pos, (_, share, _) in enumerate(self.layers):
                if t > 0:
                    yield self.ready.pop((k, t - 1, pos))
                    if learn is not None and learn.done:
                        return
                if pos == 0 and learn is not None:
                    learn.draw(k, t)
                yield from self._compute(k, t, d * self.forward_share * share)
            sent = []
            for pos in reversed(range(n)):
                shard, share, params = self.layers[pos]
                yield from self._compute(k, t, d * (1 - self.forward_share) * share)
                ev = self.ps.reduce(k, (t, pos), shard, t, spec.aggregate_time * params,
                                    priority=pos)
                self.ready[(k, t, pos)] = ev
                sent.append(ev)
            self.t_cp.append(d)
            finish = env.process(self._finish(k, t, sent))
        if finish is not None:
            yield finish            # the run ends when the last exchange is in

    def _compute(self, k: int, t: int, seconds: float):
        dev = self.devices[k]
        yield from hold_compute(self.env, dev, seconds, self.log, self.lane[dev.name],
                                "compute", t)

    def _finish(self, k: int, t: int, sent: list):
        """Iteration t ends on device k when it holds every layer's sum; T_cm is the part
        of the exchange that back-propagation did not hide."""
        t0 = self.env.now
        yield simpy.AllOf(self.env, sent)
        self.t_cm.append(self.env.now - t0)
        if self.learning is not None:
            self.learning.apply(t, self.env.now)
        self._ended(k, t)


class AdaComm(Mercury):
    """Rounds of tau local steps and one model average; tau adapts to the training loss."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.taus: list[int] = []
        self._next_change = 0.0

    def tau(self, r: int) -> int:
        """tau of round r, fixed by the first device to start it (all take the same)."""
        if r < len(self.taus):
            return self.taus[r]
        a, now = self.spec.adacomm, self.env.now
        if r == 0:
            tau = a.tau0
            self._next_change = now + a.interval
        elif a.adapt and now >= self._next_change:
            f0, f = self.learning.first_loss(0), self.learning.first_loss(r - 1)
            tau = max(1, math.ceil(math.sqrt(f / f0) * a.tau0)) if f0 > 0 else a.tau0
            while self._next_change <= now:
                self._next_change += a.interval
        else:
            tau = self.taus[-1]
        self.taus.append(tau)
        return tau

    def _loop(self, k: int):
        env, dev, spec = self.env, self.devices[k], self.spec
        step, step_stream = self.step[dev.node.device], self.streams[k][0]
        learn = self.learning
        for r in range(spec.iterations):
            if learn.done:
                return
            self.iteration[k] = r
            for s in range(self.tau(r)):
                with dev.compute.request(priority=URGENT) as req:
                    yield req
                    t0 = env.now
                    learn.local_step(k, r, s)
                    d = step.sample(spec.batch, step_stream)
                    yield env.timeout(d)
                    dev.busy += d
                    self.t_cp.append(d)
                    self.log.add(self.lane[dev.name], 0, "compute", t0, env.now, r)
            yield from self._exchange(k, r, learn.average)
