"""Decentralized sub-model training's bookkeeping (Chen and Qin, "Exploring Decentralized
Collaboration in Heterogeneous Edge Training"): which tasks each node trains, which slices of
the flat weight vector form each structure, neighbour averaging and the recomposition of the
global model. Pure numpy, so the consensus arithmetic is testable without torch.

The global model's flat vector is laid out ``[shared | branch 0 | ... | branch C-1]`` (see
:mod:`.branched`), so every structure is one contiguous slice and a node's sub-model is the
shared slice plus the slices of its tasks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


class AllocationError(ValueError):
    """Tasks that cannot be allocated as asked, in words."""


def allocate(nodes: int, classes: int, per_node: int, overlap: int) -> list[list[int]]:
    """The paper's ring allocation with ``overlap`` shared tasks between ring neighbours: node
    k trains classes (k (m - n) + j) mod C for j < m, and the classes no node covers (the
    residue) go to the last node as extra work. Each list is sorted."""
    if nodes < 1:
        raise AllocationError("needs at least one node")
    if not 1 <= per_node <= classes:
        raise AllocationError(f"tasks_per_node must be between 1 and the {classes} classes, "
                              f"got {per_node}")
    if not 0 <= overlap < per_node:
        raise AllocationError(f"overlap must be at least 0 and less than tasks_per_node "
                              f"({per_node}), got {overlap}")
    step = per_node - overlap
    out = [sorted({(k * step + j) % classes for j in range(per_node)}) for k in range(nodes)]
    covered = set().union(*map(set, out))
    residue = [c for c in range(classes) if c not in covered]
    out[-1] = sorted(set(out[-1]) | set(residue))
    return out


def residue(nodes: int, classes: int, per_node: int, overlap: int) -> list[int]:
    """The classes the ring stride leaves uncovered (given to the last node by :func:`allocate`)."""
    step = per_node - overlap
    covered = {(k * step + j) % classes for k in range(nodes) for j in range(per_node)}
    return [c for c in range(classes) if c not in covered]


@dataclass(frozen=True)
class Layout:
    """Where each structure lies in the flat vector: the shared layers, then C branches of
    equal size."""

    shared: int              # parameters of the shared layers
    branch: int              # parameters of one branch
    classes: int

    @property
    def size(self) -> int:
        return self.shared + self.classes * self.branch

    def shared_slice(self) -> slice:
        return slice(0, self.shared)

    def branch_slice(self, c: int) -> slice:
        a = self.shared + c * self.branch
        return slice(a, a + self.branch)

    def sub_params(self, tasks: Sequence[int]) -> int:
        """Parameters of the sub-model with these tasks (shared layers + their branches)."""
        return self.shared + len(tasks) * self.branch


def common(tasks_a: Sequence[int], tasks_b: Sequence[int]) -> list[int]:
    """The tasks two nodes both train: the branches they exchange besides the shared layers."""
    return sorted(set(tasks_a) & set(tasks_b))


def exchange_params(layout: Layout, tasks_a: Sequence[int], tasks_b: Sequence[int]) -> int:
    """Parameters one node sends a neighbour: the shared layers and the common branches."""
    return layout.shared + len(common(tasks_a, tasks_b)) * layout.branch


def neighbour_average(vectors: Sequence[np.ndarray], tasks: Sequence[Sequence[int]],
                      neighbours: Sequence[Sequence[int]], layout: Layout
                      ) -> tuple[list[np.ndarray], list[int]]:
    """One synchronous exchange: every node replaces its shared layers by the mean of its own
    and its neighbours', and each of its branches by the mean over itself and the neighbours
    that hold that branch, all from the values before the exchange (what was sent).

    Returns the new vectors and, per node, the additions and divisions it did (the aggregation
    overhead in FLOPs: one per received value and one per averaged value). Sums run in a fixed
    order (own, then neighbours in index order) in float64, so the result is bit-reproducible."""
    held = [set(t) for t in tasks]
    out: list[np.ndarray] = []
    flops: list[int] = []
    for i, v in enumerate(vectors):
        new = v.copy()
        nbrs = sorted(neighbours[i])
        work = 0
        groups = [(layout.shared_slice(), [i] + nbrs)]
        groups += [(layout.branch_slice(c), [i] + [j for j in nbrs if c in held[j]])
                   for c in sorted(held[i])]
        for sl, members in groups:
            if len(members) == 1:
                continue
            acc = np.zeros(sl.stop - sl.start, dtype=np.float64)
            for j in members:
                acc += vectors[j][sl]
            new[sl] = (acc / len(members)).astype(v.dtype)
            work += len(members) * (sl.stop - sl.start)
        out.append(new)
        flops.append(work)
    return out, flops


def recompose(vectors: Sequence[np.ndarray], tasks: Sequence[Sequence[int]], layout: Layout,
              fallback: np.ndarray) -> np.ndarray:
    """The global model: shared layers averaged over every node, each task's branch over the
    nodes that hold it (``fallback``'s branch for a task nobody holds)."""
    out = fallback.astype(np.float32, copy=True)
    sl = layout.shared_slice()
    out[sl] = _mean([v[sl] for v in vectors])
    for c in range(layout.classes):
        holders = [v for v, t in zip(vectors, tasks) if c in t]
        if holders:
            b = layout.branch_slice(c)
            out[b] = _mean([v[b] for v in holders])
    return out


def _mean(parts: list[np.ndarray]) -> np.ndarray:
    acc = np.zeros(len(parts[0]), dtype=np.float64)
    for p in parts:
        acc += p
    return (acc / len(parts)).astype(np.float32)


def node_data(labels: np.ndarray, positions: np.ndarray, tasks: Sequence[Sequence[int]],
              mode: str, gen: np.random.Generator) -> list[np.ndarray]:
    """Each node's training examples (data-set positions): the examples of its task classes,
    'split' evenly among the nodes that hold a class (no example on two nodes) or 'duplicate'd
    to each. The shuffle comes from ``gen``."""
    per: list[list[np.ndarray]] = [[] for _ in tasks]
    for c in sorted(set().union(*map(set, tasks))):
        mine = positions[labels[positions] == c]
        mine = mine[gen.permutation(len(mine))]
        holders = [k for k, t in enumerate(tasks) if c in t]
        if mode == "split":
            for k, part in zip(holders, np.array_split(mine, len(holders))):
                per[k].append(part)
        else:
            for k in holders:
                per[k].append(mine)
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, dtype=np.int64) for p in per]


def disconnected_tasks(tasks: Sequence[Sequence[int]], neighbours: Sequence[Sequence[int]],
                       classes: int) -> list[int]:
    """Tasks whose holders do not form one connected piece of the topology: their branches
    never reach consensus through exchanges (only the final recomposition averages them)."""
    bad = []
    for c in range(classes):
        holders = {k for k, t in enumerate(tasks) if c in t}
        if len(holders) < 2:
            continue
        start = min(holders)
        seen, todo = {start}, [start]
        while todo:
            k = todo.pop()
            for j in neighbours[k]:
                if j in holders and j not in seen:
                    seen.add(j)
                    todo.append(j)
        if seen != holders:
            bad.append(c)
    return bad
