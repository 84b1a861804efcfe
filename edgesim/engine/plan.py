"""Resolved, immutable pieces of a scenario that the runtime uses: jobs with their stages'
candidate nodes, and the naming of group members."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


def member_names(group: str, count: int) -> list[str]:
    """`cam` x 3 -> cam0, cam1, cam2 (always indexed, so counts can change without renaming)."""
    return [f"{group}{i}" for i in range(count)]


@dataclass
class StagePlan:
    model: str
    candidates: list            # Node objects; one candidate means the placement is fixed
    nbytes: float
    vertex: Optional[str] = None    # the DAG vertex this stage runs, for DAG jobs
    at_origin: bool = False         # runs on the node the request came from ('@origin')


@dataclass
class JobPlan:
    index: int
    name: str
    stages: list[StagePlan]
    result_bytes: float
    timeout: Optional[float]
    group: str = ""             # the scenario job this plan belongs to
    weight: float = 1.0         # probability that a request of the job takes this path
    accuracy: Optional[float] = None    # expected accuracy of a completed request, if known
    coordinator: Optional[object] = None    # what runs a job of a system's shape (VP's Ensemble)
    n: int = field(init=False)

    def __post_init__(self) -> None:
        self.n = len(self.stages)
        self.group = self.group or self.name


class JobGroup:
    """A scenario job: one plan (stages) or one plan per DAG execution path, drawn by weight."""

    def __init__(self, name: str, plans: list[JobPlan], enter=None) -> None:
        self.name = name
        self.plans = plans
        #: What takes a new request of this job (default: Simulation.advance); an ensemble
        #: job's coordinator fans the request out to its members instead.
        self.enter = enter
        total, self.cumulative = 0.0, []
        for p in plans:
            total += p.weight
            self.cumulative.append(total)
        self.total = total

    def pick(self, u: float) -> Optional[JobPlan]:
        """The plan for a uniform draw u in [0, 1); None when the request stops before any
        vertex (probabilities out of the entry summing to less than 1 cannot happen: the
        entry always runs)."""
        x = u * self.total
        for plan, c in zip(self.plans, self.cumulative):
            if x < c:
                return plan
        return self.plans[-1]
