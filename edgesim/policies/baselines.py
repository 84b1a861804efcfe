"""The generic placement policies: static, round-robin, random, least-loaded."""
from __future__ import annotations

from typing import Sequence

from pydantic import Field

from edgesim.policies.base import LeastLoadedPicker, Policy, PolicyConfig
from edgesim.policies.registry import register


@register
class Static(Policy):
    """Placement fixed by the scenario. A stage naming a group of n members sends the requests of
    source member i to member i mod n, so each camera keeps its own server."""

    name = "static"
    description = "placement fixed in the scenario; source i -> member i mod n"

    def place(self, req, stage: int, candidates: Sequence):
        return candidates[self.ctx.sources[req.src].member % len(candidates)]


@register
class RoundRobin(Policy):
    """Cycles through the candidates, one cycle per (job, stage)."""

    name = "round-robin"
    description = "cycle through the candidate nodes of each stage"

    def __init__(self, config, ctx) -> None:
        super().__init__(config, ctx)
        self._next: dict = {}

    def place(self, req, stage: int, candidates: Sequence):
        key = (id(req.plan), stage)
        i = self._next.get(key, 0)
        self._next[key] = i + 1
        return candidates[i % len(candidates)]


@register
class Random(Policy):
    """Uniform choice among the candidates, from the policy's own random stream."""

    name = "random"
    description = "uniformly random candidate node"

    def place(self, req, stage: int, candidates: Sequence):
        return candidates[int(self.ctx.stream.uniform() * len(candidates))]


class LeastLoadedConfig(PolicyConfig):
    count_own: bool = Field(True, description="add the requests this policy sent since the last "
                                              "report, so a burst does not all go to one node")


@register
class LeastLoaded(Policy):
    """Fewest (queued + in service) per executor in the monitor view; ties to the first."""

    name = "least-loaded"
    description = "fewest requests per executor in the (periodically refreshed) monitor view"
    Config = LeastLoadedConfig
    uses_monitor = True

    def __init__(self, config, ctx) -> None:
        super().__init__(config, ctx)
        self._picker = LeastLoadedPicker(ctx.view, config.count_own)

    def place(self, req, stage: int, candidates: Sequence):
        return self._picker.pick(candidates)
