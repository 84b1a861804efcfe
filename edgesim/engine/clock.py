"""Callback scheduling on a SimPy environment without a process per action.

The hot path of edgesim (arrivals, service completions, flow completions) schedules plain
callbacks rather than SimPy processes: one heap entry per action instead of the three or four
events a process-based request costs. Every callback is scheduled with one of the priorities
below, which is how same-time events get their documented order (see docs/architecture.md):

    COMPLETION < ARRIVAL < CONTROL < SAMPLE

At equal simulated time, work that finishes (service and transfer completions, failures and
repairs) is processed before new work arrives, policies' periodic controllers run after both,
and measurement samples are taken last, so a sample sees the state after every same-time change.
Events of equal time and priority run in the order they were scheduled (SimPy's event id).
"""
from __future__ import annotations

from typing import Any, Callable

from simpy import Environment
from simpy.events import Event

#: Same-time ordering, smallest first.  SimPy's own process events use 0 (URGENT) and 1 (NORMAL).
COMPLETION = 2
ARRIVAL = 3
CONTROL = 4
SAMPLE = 5


class Call(Event):
    """An already-triggered event that runs one callback at its scheduled time.

    ``cancel()`` turns it into a no-op; the heap entry stays (SimPy has no removal) but costs
    one pop and nothing else.
    """

    __slots__ = ("fn", "arg")

    def __init__(self, env: Environment, fn: Callable[[Any], None], arg: Any = None) -> None:
        self.env = env
        self.fn = fn
        self.arg = arg
        self.callbacks = [self._fire]
        self._ok = True
        self._value = None

    def _fire(self, _event: Event) -> None:
        fn = self.fn
        if fn is not None:
            fn(self.arg)

    def cancel(self) -> None:
        self.fn = None


def call_in(env: Environment, delay: float, priority: int, fn: Callable[[Any], None],
            arg: Any = None) -> Call:
    """Run ``fn(arg)`` after ``delay`` simulated seconds with the given same-time ``priority``."""
    ev = Call(env, fn, arg)
    env.schedule(ev, priority, delay)
    return ev


def call_at(env: Environment, when: float, priority: int, fn: Callable[[Any], None],
            arg: Any = None) -> Call:
    """Run ``fn(arg)`` at absolute time ``when`` (not before now)."""
    delay = when - env.now
    return call_in(env, delay if delay > 0.0 else 0.0, priority, fn, arg)
