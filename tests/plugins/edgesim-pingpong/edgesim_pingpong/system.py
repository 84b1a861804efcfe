"""The run: a -> b -> a, `rounds` times, each transfer through the scenario's network."""
from edgesim.training.build import node_devices
from edgesim.training.devices import ScheduleLog, Transfers
from edgesim.training.protocol import TrainingSystem

BASE = "training.pingpong"


class PingPong(TrainingSystem):
    name = "pingpong"

    def __init__(self, sim, spec) -> None:
        self.spec = spec
        self.a = (node_devices(sim, spec.a, f"{BASE}.a") or [None])[0]
        self.b = (node_devices(sim, spec.b, f"{BASE}.b") or [None])[0]
        self.tx = Transfers(sim.env, sim.network)
        self.log = ScheduleLog([spec.a, spec.b], ["model"])
        self.env = sim.env
        self.round_ends: list = []

    def routes(self) -> list:
        return [(self.a, self.b, f"{BASE}.b"), (self.b, self.a, f"{BASE}.a")]

    def process(self):
        for r in range(self.spec.rounds):
            for lane, (src, dst) in enumerate(((self.a, self.b), (self.b, self.a))):
                start = self.env.now
                yield self.tx.send(src.index, dst.index, self.spec.bytes, "model")
                self.log.add(lane, 0, "push", start, self.env.now, round_=r,
                             nbytes=self.spec.bytes)
            self.round_ends.append(self.env.now)

    def summary(self, sim) -> dict:
        ends = self.round_ends
        return {"rounds": len(ends), "round_trip_s": ends[0] if ends else None,
                "total_s": ends[-1] if ends else None}

    def describe(self) -> str:
        return f"{self.spec.rounds} round trips of {self.spec.bytes:g} bytes"


def report_rows(summary: dict) -> list:
    body = summary["pingpong"]
    return [("rounds", str(body["rounds"])), ("round trip", f"{body['round_trip_s']:.6g} s")]
