"""Network topology: nodes, bidirectional links as pairs of directed channels, and routing.

A link between ``a`` and ``b`` is two directed channels that a :class:`~edgesim.network.flows.
FlowNetwork` shares independently (a full-duplex link), named::

    f"{link}:{a}->{b}"   capacity up_bps   (default bandwidth_bps)
    f"{link}:{b}->{a}"   capacity down_bps (default bandwidth_bps)

where ``link`` is the ``name`` given to :meth:`Topology.add_link`, or ``f"{a}--{b}"``.  Both
channels have the link's latency.  "Up" is the direction in which the link was declared, so
declare access links host-first (``add_link("phone", "ap", ..., up_bps=..., down_bps=...)``).

Routes are lowest total latency (Dijkstra), ties broken by fewer hops, then by the
lexicographically smallest node path, so the choice depends on the topology alone, never on
insertion or hash order.  Latencies are compared as integer femtoseconds: sums of integers are
exact and associative, so paths whose latencies are equal on paper tie exactly instead of
differing in the last bit of a float sum.  Pinned routes override the computed ones.
"""
from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING, Sequence

from edgesim.network.flows import FlowNetwork

if TYPE_CHECKING:  # pragma: no cover - networkx is imported when a Topology is made
    import networkx as nx

__all__ = ["NoRoute", "Topology", "NODE_KINDS"]

NODE_KINDS = ("host", "switch", "ap")
_FS = 1e15    # femtoseconds per second: the resolution of route latency comparisons


class NoRoute(ValueError):
    """No path between two nodes."""


class Topology:
    """Nodes and links as a networkx ``DiGraph`` (one edge per directed channel).

    Edge ``(a, b)`` carries ``channel`` (name), ``capacity`` (bits/s), ``latency`` (s) and
    ``link`` (the link name).  ``graph`` is a read-only view of it.
    """

    def __init__(self) -> None:
        import networkx as nx
        self._g = nx.DiGraph()
        self._links: set[str] = set()
        self._pinned: dict[tuple[str, str], tuple[str, ...]] = {}
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}   # (src, dst) -> channels
        # src -> {node: best node path}: one Dijkstra serves every destination of a source
        self._trees: dict[str, dict[str, tuple[str, ...]]] = {}
        self._chans: dict[str, tuple[float, float]] = {}   # declaration order, for channels()

    @property
    def graph(self) -> nx.DiGraph:
        """A read-only view of the topology graph."""
        return self._g.copy(as_view=True)

    # ------------------------------------------------------------------ building
    def add_node(self, name: str, kind: str = "host") -> None:
        """Add a node of kind ``host``, ``switch`` or ``ap`` (access point)."""
        if kind not in NODE_KINDS:
            raise ValueError(f"node kind must be one of {NODE_KINDS}, got {kind!r}")
        if name in self._g:
            raise ValueError(f"node {name!r} already exists")
        self._g.add_node(name, kind=kind)
        self._cache.clear()
        self._trees.clear()

    def add_link(self, a: str, b: str, bandwidth_bps: float, latency_s: float = 0.0,
                 up_bps: float | None = None, down_bps: float | None = None,
                 name: str | None = None) -> None:
        """Link existing nodes ``a`` and ``b``: channel a->b gets ``up_bps``, b->a ``down_bps``
        (both default to ``bandwidth_bps``), both ``latency_s``.  See the module docstring."""
        for n in (a, b):
            if n not in self._g:
                raise ValueError(f"cannot link {a!r} and {b!r}: unknown node {n!r}")
        if a == b:
            raise ValueError(f"cannot link node {a!r} to itself")
        if self._g.has_edge(a, b):
            raise ValueError(f"nodes {a!r} and {b!r} are already linked")
        link = name if name is not None else f"{a}--{b}"
        if link in self._links:
            raise ValueError(f"link name {link!r} already used")
        up = bandwidth_bps if up_bps is None else up_bps
        down = bandwidth_bps if down_bps is None else down_bps
        for what, v in (("up_bps", up), ("down_bps", down), ("latency_s", latency_s)):
            if not (math.isfinite(v) and v >= 0.0) or (what != "latency_s" and v == 0.0):
                raise ValueError(f"link {link!r}: {what} must be finite and positive, got {v}")
        self._links.add(link)
        self._g.add_edge(a, b, channel=f"{link}:{a}->{b}", capacity=float(up),
                         latency=float(latency_s), link=link)
        self._g.add_edge(b, a, channel=f"{link}:{b}->{a}", capacity=float(down),
                         latency=float(latency_s), link=link)
        self._chans[f"{link}:{a}->{b}"] = (float(up), float(latency_s))
        self._chans[f"{link}:{b}->{a}"] = (float(down), float(latency_s))
        self._cache.clear()
        self._trees.clear()

    def pin_route(self, src: str, dst: str, hops: Sequence[str]) -> None:
        """Use the node path ``hops`` for traffic from ``src`` to ``dst`` (that direction only).

        ``hops`` may include or omit ``src`` and ``dst``; every consecutive pair must be linked
        and no node may repeat.
        """
        path = list(hops)
        if not path or path[0] != src:
            path.insert(0, src)
        if path[-1] != dst:
            path.append(dst)
        for n in path:
            if n not in self._g:
                raise ValueError(f"pinned route {src!r}->{dst!r}: unknown node {n!r}")
        if len(set(path)) != len(path):
            raise ValueError(f"pinned route {src!r}->{dst!r} repeats a node: {path}")
        for i, (u, v) in enumerate(zip(path, path[1:]), start=1):
            if not self._g.has_edge(u, v):
                raise ValueError(f"pinned route {src!r}->{dst!r}: hop {i} {u!r}->{v!r} is not a "
                                 f"link (path {path})")
        self._pinned[(src, dst)] = tuple(path)
        self._cache.pop((src, dst), None)

    # ------------------------------------------------------------------ queries
    def nodes(self, kind: str | None = None) -> list[str]:
        """Node names (of one kind, if given), sorted."""
        return sorted(n for n, k in self._g.nodes(data="kind") if kind is None or k == kind)

    def route(self, src: str, dst: str) -> list[str]:
        """Directed channel names from ``src`` to ``dst`` ([] when equal); see module docstring.

        Raises :class:`NoRoute` when ``dst`` cannot be reached from ``src``.
        """
        key = (src, dst)
        hit = self._cache.get(key)
        if hit is None:
            path = self._pinned.get(key) or self._shortest(src, dst)
            g = self._g
            hit = tuple(g.edges[u, v]["channel"] for u, v in zip(path, path[1:]))
            self._cache[key] = hit
        return list(hit)

    def route_latency(self, src: str, dst: str) -> float:
        """Total propagation latency of ``route(src, dst)`` in seconds."""
        chans = self._chans
        return sum(chans[c][1] for c in self.route(src, dst))

    def channels(self) -> dict[str, tuple[float, float]]:
        """Every directed channel: name -> (capacity_bps, latency_s), in declaration order."""
        return dict(self._chans)

    def build(self, net: FlowNetwork) -> None:
        """Add every channel to ``net``."""
        for name, (cap, lat) in self.channels().items():
            net.add_channel(name, cap, lat)

    # ------------------------------------------------------------------ routing
    def _shortest(self, src: str, dst: str) -> tuple[str, ...]:
        """The best node path from ``src`` to ``dst`` (from the cached tree of ``src``)."""
        g = self._g
        for n in (src, dst):
            if n not in g:
                raise NoRoute(f"no route from {src!r} to {dst!r}: unknown node {n!r}")
        tree = self._trees.get(src)
        if tree is None:
            tree = self._trees[src] = self._dijkstra(src)
        path = tree.get(dst)
        if path is None:
            reach = sorted(tree)
            shown = ", ".join(repr(n) for n in reach[:20])
            more = f", ... ({len(reach)} nodes)" if len(reach) > 20 else ""
            raise NoRoute(f"no route from {src!r} to {dst!r}; reachable from {src!r}: "
                          f"[{shown}{more}]")
        return path

    def _dijkstra(self, src: str) -> dict[str, tuple[str, ...]]:
        """Best paths from ``src`` to every reachable node under the key (latency fs, hops, path).

        The key is a total order preserved by extending two paths to the same node by the same
        edge (latency and hops add equally; two distinct simple paths to one node are not
        prefixes of each other, so their lexicographic order is kept), and every edge strictly
        increases it (hops), so label-setting Dijkstra finds the minimum for every node.
        """
        adj = self._g.adj
        best: dict[str, tuple[int, int, tuple[str, ...]]] = {src: (0, 0, (src,))}
        heap = [(0, 0, (src,))]
        settled: dict[str, tuple[str, ...]] = {}
        while heap:
            lat, hops, path = heapq.heappop(heap)
            u = path[-1]
            if u in settled:
                continue
            settled[u] = path
            for v, d in adj[u].items():
                if v in settled:
                    continue
                cand = (lat + round(d["latency"] * _FS), hops + 1, path + (v,))
                old = best.get(v)
                if old is None or cand < old:
                    best[v] = cand
                    heapq.heappush(heap, cand)
        return settled
