"""The request record that travels through a simulation: small, slotted, no process per request."""
from __future__ import annotations

COMPLETED, DROPPED, FAILED, TIMED_OUT = 0, 1, 2, 3
OUTCOMES = ("completed", "dropped", "failed", "timed_out")


class Request:
    __slots__ = ("id", "src", "plan", "created", "stage", "model", "loc", "origin", "enq",
                 "wait", "service", "started", "batch", "nbytes", "path", "prio", "warm", "note",
                 "parent", "answer", "units")

    def __init__(self, rid: int, src: int, plan, created: float, origin: int, prio: int,
                 warm: bool) -> None:
        self.id = rid
        self.src = src
        self.plan = plan            # the JobPlan: stages, candidates, byte counts
        self.created = created
        self.stage = 0
        self.model = None           # model of the current stage (set when routed)
        self.loc = origin           # node index where the request's data is now; -1: nowhere
        self.origin = origin
        self.enq = created          # when it joined its current queue
        self.wait = 0.0
        self.service = 0.0
        self.started = -1.0         # first service start
        self.batch = 0
        self.nbytes = 0.0
        self.path: list = []        # node indices visited
        self.prio = prio
        self.warm = warm            # created during warm-up
        self.note = None            # scratch space for the policy (e.g. a partition decision)
        self.parent = None          # an ensemble member's query: it, not the recorder, ends it
        self.answer = None          # (answering members' label, expected accuracy) of a query
        self.units = 1              # arrivals this request carries (source 'aggregate')
