"""DMML-Par's allocation rule: which model each idle worker trains next (DEEPCON Alg. 2, Fig. 5).

Alg. 2 walks the workers in order and gives each idle one "the first model not running". Read
literally that would starve the last models (an idle worker always finds a low-index model free
first), yet the paper's Fig. 5 walk-through gives worker 4 model 5 "since only model 5 is not
trained", and the paper ensures "that all models get the same rounds of training". So a worker
takes, among the models that are not running and still need rounds, one with the fewest
completed rounds. Among those, "since M3 was trained on worker 3 already, we directly run the
second-round training for M3 on worker 3": model affinity. Affinity is applied first, for every
idle worker whose own last model is among its choices, so that a model finishing on a worker is
not handed to another worker that happens to come earlier in the walk; the remaining idle
workers then take models in worker order, the first in model order among the fewest rounds.

The rule is a plain function so that Fig. 5 can be checked without a simulation.
"""
from __future__ import annotations

from typing import Optional, Sequence


def _best(rounds: Sequence[int], running: Sequence[bool], target: int) -> list[int]:
    """Models due (not running, fewer than ``target`` rounds) with the fewest rounds."""
    due = [m for m in range(len(rounds)) if not running[m] and rounds[m] < target]
    if not due:
        return []
    fewest = min(rounds[m] for m in due)
    return [m for m in due if rounds[m] == fewest]


def allocate(idle: Sequence[int], rounds: Sequence[int], running: Sequence[bool], target: int,
             last: Sequence[Optional[int]], affinity: bool = True) -> list[tuple[int, int]]:
    """(worker, model) pairs for the idle workers (in worker order) at one instant.

    ``rounds[m]``: rounds model m has completed; ``running[m]``: m is being trained now;
    ``target``: rounds every model must reach; ``last[w]``: the model worker w trained last.
    """
    running = list(running)
    out: list[tuple[int, int]] = []
    waiting = list(idle)
    if affinity:
        for w in list(waiting):
            m = last[w]
            if m is not None and m in _best(rounds, running, target):
                out.append((w, m))
                running[m] = True
                waiting.remove(w)
    for w in waiting:
        best = _best(rounds, running, target)
        if best:
            out.append((w, best[0]))
            running[best[0]] = True
    return sorted(out)
