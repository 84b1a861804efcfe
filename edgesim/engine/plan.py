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


@dataclass
class JobPlan:
    index: int
    name: str
    stages: list[StagePlan]
    result_bytes: float
    timeout: Optional[float]
    n: int = field(init=False)

    def __post_init__(self) -> None:
        self.n = len(self.stages)
