"""What the Distream policies reach in a running simulation. The network comes from
`PolicyContext`; the other two go beyond it without changing the engine, and each says which
engine hook would replace it.

* `network_of`: the `Network` (``PolicyContext.network``), to send control messages as
  batched RPCs.
* `CompletionMeter`: completions per node, for measured throughputs (Eq. 1.6, 1.7)
  (hook: a cumulative per-node completion count in `MonitorView`, e.g. ``view.done``).
* `install_lookahead`: lets the oracle predictor count the arrivals the sources will create
  (hook: ``Source.peek(t0, t1)`` or the same wrapper installed by the engine).
"""
from __future__ import annotations

from typing import Optional, Sequence

from edgesim.systems.distream.predictor import Lookahead


def network_of(ctx) -> Optional[object]:
    """The run's `edgesim.network.transfers.Network`, or None when the scenario has no network
    (then data and control messages move instantly)."""
    return getattr(ctx, "network", None)


class CompletionMeter:
    """Counts the requests each node completes (a stage each), by wrapping the nodes'
    ``on_finish`` callback (which the engine sets to `Simulation.advance`)."""

    def __init__(self, nodes: Sequence) -> None:
        self.count: dict[int, int] = {}
        self.mark: dict[int, int] = {}
        for node in nodes:
            self._wrap(node)

    def _wrap(self, node) -> None:
        if node.index in self.count:
            return
        self.count[node.index] = 0
        self.mark[node.index] = 0
        inner = node.on_finish
        count = self.count
        i = node.index

        def finished(req, _inner=inner, _count=count, _i=i):
            _count[_i] += 1
            _inner(req)

        node.on_finish = finished

    def take(self) -> dict[int, int]:
        """Completions per node since the previous call."""
        out = {i: c - self.mark[i] for i, c in self.count.items()}
        self.mark = dict(self.count)
        return out


def install_lookahead(sources: Sequence) -> list[Lookahead]:
    """Wrap each source's arrival process in a `Lookahead` (once). Must run before the sources
    start (policies' ``start()`` does). The arrival times do not change."""
    out = []
    for src in sources:
        la = src.process if isinstance(src.process, Lookahead) else Lookahead(src.process)
        src.process = la
        out.append(la)
    return out
