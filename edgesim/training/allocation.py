"""DMML-Par's allocation rule: which model an idle worker trains next (DEEPCON Alg. 2, Fig. 5).

Alg. 2 walks the workers in order and gives each idle one "the first model not running". Read
literally that would starve the last models (an idle worker always finds a low-index model free
first), yet the paper's Fig. 5 walk-through gives worker 4 model 5 "since only model 5 is not
trained", and the paper ensures "that all models get the same rounds of training". So among the
models that are not running and still need rounds, the worker takes one with the fewest
completed rounds. Among those, "since M3 was trained on worker 3 already, we directly run the
second-round training for M3 on worker 3": the model the worker has just trained, if it is
among them (model affinity); otherwise the first in model order.

The rule is a plain function so that Fig. 5 can be checked without a simulation.
"""
from __future__ import annotations

from typing import Optional, Sequence


def pick_model(rounds: Sequence[int], running: Sequence[bool], target: int,
               last: Optional[int], affinity: bool = True) -> Optional[int]:
    """The model (index) an idle worker should train next, or None when none is due.

    ``rounds[m]``: rounds model m has completed; ``running[m]``: m is being trained now;
    ``target``: rounds every model must reach; ``last``: the model this worker trained last.
    """
    due = [m for m in range(len(rounds)) if not running[m] and rounds[m] < target]
    if not due:
        return None
    fewest = min(rounds[m] for m in due)
    best = [m for m in due if rounds[m] == fewest]
    if affinity and last is not None and last in best:
        return last
    return best[0]
