"""Max-min fair allocation for :mod:`edgesim.network.flows`: progressive filling of whole
components, and the local re-solve that recomputes only the flows a change can move.

This module owns no objects.  It reads a flow's ``id``, ``cap``, ``rate``, ``_channels`` and
``_bneck`` and a channel's ``capacity``, ``index``, ``load``, ``flows``, ``_nbk``, ``_touch``
and ``_tpos``; it writes scratch fields (``Flow._new`` / ``_newb``: the new rate and where it
froze, ``Flow._mark``, ``_Channel._mark`` / ``_rem`` / ``_cnt`` / ``_sf`` / ``_sold`` /
``_delta`` / ``_frz`` / ``_tk``).  The caller applies the result.

Why a local re-solve is exact.  A max-min allocation is the unique feasible one in which every
flow is at its cap or has a *bottleneck*: a saturated channel on which no flow is faster
(progressive filling freezes a flow at such a channel, recorded as ``_bneck``).  After a change,
only flows whose certificate can break need new rates: new flows and flows bottlenecked at a
changed channel.  :func:`local` re-solves that set ``S`` by progressive filling on the capacity
the other flows leave, then re-checks the certificate wherever loads moved (feasibility, every
flow bottlenecked there still a fastest flow of a saturated channel, every newly frozen flow
not slower than the others there); flows that fail join ``S`` and ``S`` is solved again.  When
the check passes, uniqueness says the result *is* the max-min allocation, equal to a full
recomputation up to float rounding (sums taken in another order); comparisons use the relative
slack ``TOL``, far above rounding and far below any rate difference that matters.
"""
from __future__ import annotations

import heapq
import itertools
import math
from operator import attrgetter
from typing import Iterable, Optional

from edgesim.network.flow_types import Flow, _Channel

__all__ = ["TOL", "components", "fill", "local", "next_stamp", "solo"]

#: Relative slack of the certificate checks (float rounding is ~1e-16 per operation).
TOL = 1e-10
#: Absolute slack, bits/s: a paused (capacity 0) channel's load is 0 up to rounding residue.
ABS = 1e-6

_flow_id = attrgetter("id")

#: Visit markers shared by every traversal, so marks of one never read as fresh in another.
next_stamp = itertools.count(1).__next__


def fill(flows: list[Flow], chans: list[_Channel]) -> None:
    """Exact progressive filling of ``flows``; sets ``_new`` and ``_newb`` (``None``: its cap).

    The caller sets, for every channel of those flows, ``_rem`` (capacity left to them),
    ``_cnt`` (how many of them cross it) and ``_sf`` (those flows, in a deterministic order).
    The next bottleneck is the smallest of (remaining capacity / unfrozen flows) and the
    unfrozen flows' caps.  Freezing flows at the bottleneck's share never lowers another
    channel's share (the share removed is at most its own), so a heap with stale keys is exact:
    a popped channel whose share has since grown is pushed back with the new share.  Cost
    O(E log C) for E flow-channel incidences.  Heap keys end in a unique channel index or flow
    id, so ties resolve deterministically and the result does not depend on list order.
    """
    heap: list[tuple[float, int, int, object]] = []
    for c in chans:
        n = c._cnt
        if n:
            rem = c._rem
            heap.append((rem / n if rem > 0.0 else 0.0, 0, c.index, c))
    for f in flows:
        f._new = -1.0                       # unfrozen
        if f.cap is not None:
            heap.append((f.cap, 1, f.id, f))
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        share, kind, key, obj = pop(heap)
        if kind:                            # a flow's own cap is its private bottleneck
            f = obj  # type: ignore[assignment]
            if f._new < 0.0:
                f._new = share
                f._newb = None
                for c in f._channels:
                    c._rem -= share
                    c._cnt -= 1
            continue
        c = obj  # type: ignore[assignment]
        n = c._cnt
        if n == 0:
            continue
        cur = c._rem / n if c._rem > 0.0 else 0.0   # rounding can leave -epsilon: clamp
        if cur > share:
            push(heap, (cur, 0, key, c))
            continue
        for f in c._sf:
            if f._new < 0.0:
                f._new = cur
                f._newb = c
                for c2 in f._channels:
                    c2._rem -= cur
                    c2._cnt -= 1


def solo(f: Flow) -> None:
    """:func:`fill` for a flow that is alone on every channel it crosses, without the heap and
    with the same result: its least capacity (ties: the lowest channel index) or its cap if
    smaller (a tie goes to the channel, as in the heap: channels sort before caps)."""
    best = None
    share = 0.0
    for c in f._channels:
        v = c.capacity if c.capacity > 0.0 else 0.0      # rem / 1, clamped as in fill
        if best is None or v < share or (v == share and c.index < best.index):
            best, share = c, v
    if f.cap is not None and f.cap < share:
        f._new = f.cap
        f._newb = None
    else:
        f._new = share
        f._newb = best


def components(seeds: Iterable[_Channel]) -> tuple[list[Flow], list[int], list[_Channel]]:
    """Solve the whole connected components reachable from ``seeds`` (every flow's ``_new``,
    ``_newb``).  Returns their flows, component after component (see :func:`_in_order`), where
    each component ends in that list, and their channels."""
    stamp = next_stamp()
    flows: list[Flow] = []
    chans: list[_Channel] = []
    bounds: list[tuple[int, int, int]] = []  # each component's first flow, its channels' span
    for seed in seeds:
        if seed._mark == stamp:
            continue
        # Breadth-first search channel -> flows -> channels: one connected component.
        seed._mark = stamp
        i = j = len(chans)
        chans.append(seed)
        k = len(flows)
        while i < len(chans):
            for f in chans[i].flows.values():
                if f._mark != stamp:
                    f._mark = stamp
                    flows.append(f)
                    for c in f._channels:
                        if c._mark != stamp:
                            c._mark = stamp
                            chans.append(c)
            i += 1
        if len(flows) > k:
            bounds.append((k, j, len(chans)))
    if len(flows) == 1:                     # one flow alone (a lightly loaded cell): no heap
        solo(flows[0])
        return flows, [1], chans
    for c in chans:
        c._rem = c.capacity
        c._cnt = len(c.flows)
        c._sf = c.flows.values()
    # Components are independent and the result does not depend on list order (see fill),
    # so one filling over all of them equals one per component.
    fill(flows, chans)
    if len(bounds) == 1:                    # the common case: no order to decide
        if len(flows) > 1:
            flows.sort(key=_flow_id)
        return flows, [len(flows)], chans
    bounds.append((len(flows), 0, 0))
    parts = [(_last_change(chans[j:e]), flows[k:bounds[n + 1][0]])
             for n, (k, j, e) in enumerate(bounds[:-1])]
    ordered, ends = _in_order(parts)
    return ordered, ends, chans


def _last_change(chans: Iterable[_Channel]) -> tuple[int, int]:
    """(number of the last change that touched these channels, -first position in its seeds)."""
    key = (0, 0)
    for c in chans:
        k = (c._touch, -c._tpos)
        if k > key:
            key = k
    return key


def _in_order(parts: list[tuple[tuple[int, int], list[Flow]]]) -> tuple[list[Flow], list[int]]:
    """Groups in the order immediate re-sharing would have made them, members in start order.

    Re-sharing at every change made a group for each component it reached, in the order of
    that change's seeds; a later change superseded the groups it reached.  So the groups left
    are ordered by the last change that reached them, then by the position of their first
    seed in it.  That order decides which of two exactly tied completions runs first, and
    keeping it keeps whole simulations (queues fed by same-time deliveries) as they were.
    Returns the flows, group after group, and where each group ends.
    """
    parts.sort(key=lambda p: (p[0][0], -p[0][1]))
    flows: list[Flow] = []
    ends: list[int] = []
    for _key, members in parts:
        members.sort(key=_flow_id)
        flows.extend(members)
        ends.append(len(flows))
    return flows, ends


def local(seeds: Iterable[_Channel], fresh: Iterable[Flow], budget: int,
          rounds: int = 8) -> Optional[tuple[list[Flow], list[int], list[_Channel]]]:
    """Re-solve only what the changes at ``seeds`` (and the new flows ``fresh``) can move.

    Returns the re-solved flows (``_new``, ``_newb`` set) as groups (see :func:`_pieces`),
    where each group ends, and their channels (``_delta``: the change of load); or ``None``
    when the rounds would take more than ``budget`` flow-channel incidences in all, or more
    than ``rounds`` rounds: then recomputing the components (one pass over their incidences)
    is cheaper.  ``seeds`` must hold every channel whose capacity or flow set changed, with
    ``load`` already net of removed flows.
    """
    seeds = list(seeds)
    sm = next_stamp()                       # membership of S
    S: list[Flow] = []
    for f in fresh:
        if f._mark != sm:
            f._mark = sm
            S.append(f)
    for c in seeds:
        if c._nbk:
            _take_bottlenecked(c, sm, S)
    work = 0
    for _ in range(rounds):
        for f in S:
            work += len(f._channels)
        if work > budget:
            return None
        cm = next_stamp()                   # channels of S
        chans: list[_Channel] = []
        for f in S:
            r = f.rate
            for c in f._channels:
                if c._mark != cm:
                    c._mark = cm
                    c._sold = r
                    c._cnt = 1
                    c._sf = [f]
                    chans.append(c)
                else:
                    c._sold += r
                    c._cnt += 1
                    c._sf.append(f)  # type: ignore[attr-defined]
        for c in chans:
            # what the flows outside S leave; exactly the capacity when S holds them all
            c._rem = c.capacity if c._cnt == len(c.flows) else c.capacity - (c.load - c._sold)
            c._delta = 0.0
        fill(S, chans)
        for f in S:
            b = f._newb
            if b is not None:
                b._frz = cm                 # some flow of S froze here
            d = f._new - f.rate
            if d:
                for c in f._channels:
                    c._delta += d
        grow: list[Flow] = []
        # The certificate can only break where loads moved or capacities changed.  Most such
        # channels are nobody's bottleneck (no flow outside S froze there, none inside S
        # froze there now): a feasibility test is all they need.
        for c in chans:
            c._mark = -cm                   # checked: a seed in chans is not checked twice
            load = c.load + c._delta
            if load > c.capacity * (1.0 + TOL) + ABS:
                grow.extend(f for f in c.flows.values() if f._mark != sm)
            elif c._nbk or c._frz == cm:
                _check(c, load, c._sf, sm, grow)
        for c in seeds:
            if c._mark == -cm:
                continue
            c._mark = -cm
            if c.load > c.capacity * (1.0 + TOL) + ABS:   # outside S: lowered below the others
                grow.extend(f for f in c.flows.values() if f._mark != sm)
            elif c._nbk:
                _check(c, c.load, (), sm, grow)
        if not grow:
            ordered, ends = _pieces(S)
            return ordered, ends, chans
        added: list[Flow] = []
        for f in grow:
            if f._mark != sm:
                f._mark = sm
                S.append(f)
                added.append(f)
        # A flow that failed its certificate will change rate and so move the loads of its
        # other channels: the flows bottlenecked there would fail next round.  Taking them now
        # cuts the rounds of a cascade (each round re-solves all of S).
        for g in added:
            for c in g._channels:
                if c._nbk:
                    _take_bottlenecked(c, sm, S)
    return None


def _pieces(S: list[Flow]) -> tuple[list[Flow], list[int]]:
    """S split into the pieces its flows connect through shared channels (each inside one
    component), as groups in :func:`_in_order`; uses the last round's ``_sf`` lists."""
    pm = next_stamp()
    parts: list[tuple[tuple[int, int], list[Flow]]] = []
    for f0 in S:
        if f0._mark == pm:
            continue
        f0._mark = pm
        piece = [f0]
        key = (0, 0)
        i = 0
        while i < len(piece):
            for c in piece[i]._channels:
                if c._tk != pm:
                    c._tk = pm
                    k = (c._touch, -c._tpos)
                    if k > key:
                        key = k
                    for g in c._sf:
                        if g._mark != pm:
                            g._mark = pm
                            piece.append(g)
            i += 1
        parts.append((key, piece))
    return _in_order(parts)


def _take_bottlenecked(c: _Channel, sm: int, S: list[Flow]) -> None:
    """Add to S the flows bottlenecked at ``c`` that are not in it yet (once per solve:
    bottlenecks do not move while it runs)."""
    if c._tk == sm:
        return
    c._tk = sm
    for f in c.flows.values():
        if f._bneck is c and f._mark != sm:
            f._mark = sm
            S.append(f)


def _check(c: _Channel, load: float, mine: Iterable[Flow], sm: int, grow: list[Flow]) -> None:
    """The certificate on a feasible channel that is (or becomes) someone's bottleneck: every
    flow outside S bottlenecked here is a fastest flow of a saturated channel (``mine``: S's
    flows on ``c``, at their new rates), and no flow outside S is faster than one of S frozen
    here.  Flows that fail go to ``grow``."""
    top_out = 0.0                            # fastest flow outside S
    for f in c.flows.values():
        if f._mark != sm and f.rate > top_out:
            top_out = f.rate
    top = top_out
    least = math.inf                         # slowest flow of S frozen here
    for f in mine:
        if f._new > top:
            top = f._new
        if f._newb is c and f._new < least:
            least = f._new
    sat = load >= c.capacity * (1.0 - TOL) - ABS
    low = top * (1.0 - TOL) - ABS
    if c._nbk:
        for f in c.flows.values():
            if f._mark != sm and f._bneck is c and (not sat or f.rate < low):
                grow.append(f)
    if least < top_out * (1.0 - TOL) - ABS:
        bar = least * (1.0 + TOL) + ABS
        grow.extend(f for f in c.flows.values() if f._mark != sm and f.rate > bar)
