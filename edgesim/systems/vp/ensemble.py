"""The ensemble job at run time: one query fans out to its members and back in.

A query (one `Request`, created by its source and counted like any other) arrives at the master,
its origin node. `Ensemble.enter` makes one *member request* per member: the same id, source,
creation time, priority and warm-up flag, the member's one-stage plan (input bytes from the
master to the member's node, the member's model, answer bytes back) and ``parent`` pointing at
the query's `Query`. The engine moves member requests like any other (the policy places them
when a member has several candidate nodes; failures, queues and the network apply), except that
`Simulation.finish` hands their end to `Query.ended` instead of recording them.

The master closes the query when every member has answered, or, with ``detect_failures``, when
every member has answered or failed (also as soon as the quorum cannot be met any more), or
when its window (``deadline``, timed from the query's arrival at priority ``CONTROL``, so an
answer arriving at the very deadline counts) expires. With at least ``quorum`` answers the
query completes (after the optional ``aggregate`` step on the master), recording which members
answered and the expected accuracy of that set; otherwise it ends ``timed_out`` (the window
closed) or ``failed`` (every member failed, known before the window closed). Members still
working when the query closes carry on (workers do not know the master gave up; a job
``timeout`` drops them at their service start); their later bytes still count as bytes on air
of the query (`Ensemble.late_bytes`).

The query's row: ``latency`` = close (+ aggregation) - arrival; ``service`` = total service
time of its members (compute spent on its behalf); ``wait`` = the longest queueing delay of a
member; ``bytes`` = input and answer bytes of all members up to the close; ``nodes`` = the
members' nodes in member order; ``answered_by`` = the answering members' models joined by '+'.
"""
from __future__ import annotations

import math
from edgesim.engine.clock import COMPLETION, CONTROL, call_in
from edgesim.engine.request import COMPLETED, FAILED, TIMED_OUT, Request


class Ensemble:
    """Runs the queries of one ensemble job."""

    def __init__(self, sim, name: str, spec, member_plans: list, models: list[str],
                 accuracy, aggregate_stream) -> None:
        self.sim = sim
        self.name = name
        self.spec = spec
        self.member_plans = member_plans
        self.models = models
        self.n = len(member_plans)
        self.quorum = self.n if spec.quorum == "all" else spec.quorum
        self.deadline = spec.deadline
        # Without a window the master could only wait forever for a silent failure.
        self.detect = spec.detect_failures or spec.deadline is None
        self.accuracy = accuracy            # vp.accuracy.Accuracy, or None
        self.aggregate = spec.aggregate
        self.aggregate_stream = aggregate_stream
        self._labels: dict[tuple, str] = {}
        # measured queries only (not created in the warm-up)
        self.late_bytes = 0.0
        self.answers = 0
        self.answer_bytes = 0.0

    def enter(self, req: Request) -> None:
        """A new query at the master: send it to every member and open the window."""
        q = Query(self, req)
        sim = self.sim
        members = []
        for plan in self.member_plans:
            m = Request(req.id, req.src, plan, req.created, req.origin, req.prio, req.warm)
            m.parent = q
            members.append(m)
        q.members = members
        if self.deadline is not None:
            q.timer = call_in(sim.env, self.deadline, CONTROL, q.close, True)
        for m in members:
            sim.advance(m)

    def label(self, answered: tuple[int, ...]) -> str:
        hit = self._labels.get(answered)
        if hit is None:
            hit = self._labels[answered] = "+".join(self.models[i] for i in answered)
        return hit


class Query:
    """One query's state at the master."""

    __slots__ = ("ens", "req", "members", "answered", "failed", "timer", "done", "counted")

    def __init__(self, ens: Ensemble, req: Request) -> None:
        self.ens = ens
        self.req = req
        self.members: list[Request] = []
        self.answered: list[Request] = []
        self.failed = 0
        self.timer = None
        self.done = False
        self.counted: list[float] = []      # each member's bytes in the query's row

    def ended(self, member: Request, outcome: int) -> None:
        """A member request ended (its answer reached the master, or it failed somewhere)."""
        ens = self.ens
        if self.done:                          # too late: only its bytes still count
            if not member.warm:
                ens.late_bytes += member.nbytes - self.counted[self.members.index(member)]
            return
        if outcome == COMPLETED:
            self.answered.append(member)
        else:
            self.failed += 1
        n = ens.n
        if len(self.answered) == n:
            self.close(False)
        elif ens.detect and (len(self.answered) + self.failed == n or
                             self.failed > n - ens.quorum):
            self.close(False)

    def close(self, by_deadline: bool) -> None:
        if self.done:
            return
        self.done = True
        if self.timer is not None and not by_deadline:
            self.timer.cancel()
        ens, req, sim = self.ens, self.req, self.ens.sim
        members = self.members
        index = {id(m): i for i, m in enumerate(members)}
        answered = tuple(sorted(index[id(m)] for m in self.answered))
        started = [m.started for m in members if m.started >= 0.0]
        req.started = min(started) if started else -1.0
        req.service = sum(m.service for m in members)
        req.wait = max((m.wait for m in members), default=0.0)
        req.batch = max((m.batch for m in members), default=0)
        self.counted = [m.nbytes for m in members]
        req.nbytes = sum(self.counted)
        req.path = [i for m in members for i in m.path]
        label = ens.label(answered)
        ok = len(answered) >= ens.quorum
        acc = ens.accuracy.of(answered) if ok and ens.accuracy is not None else None
        req.answer = (label, acc if acc is not None else math.nan)
        if not req.warm and ok:
            ens.answers += len(answered)
            ens.answer_bytes += sum(m.plan.result_bytes for m in self.answered)
        if not ok:
            sim.finish(req, TIMED_OUT if by_deadline else FAILED)
            return
        if ens.aggregate is not None and req.origin >= 0:
            node = sim.nodes[req.origin]
            delay = node.services[ens.aggregate].sample(1, ens.aggregate_stream)
            call_in(sim.env, delay, COMPLETION, _complete, (sim, req))
            return
        sim.finish(req, COMPLETED)


def _complete(arg) -> None:
    sim, req = arg
    sim.finish(req, COMPLETED)
