"""Capacity search: the largest (or smallest) whole value of one scenario key that meets a
target on a summary metric, by bisection with replications at each probe.

The search assumes the target is monotone in the value: met up to the capacity and missed
beyond it (``largest``: cameras per server, arrival rate), or missed below and met from it on
(``smallest``: servers needed for a waiting-time target). Each probe runs ``replications``
independent seeds, the same seeds at every probe (common random numbers, so neighbouring
probes differ by the value, not by luck); a probe meets the target when the *mean* does, and
its Student-t interval is reported with it, so a decision that the interval does not support
is visible (``sure`` is false).
"""
from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import pandas as pd

from edgesim.errors import UserError
from edgesim.metrics.atomic import write_text_atomic
from edgesim.study.sweep import execute
from edgesim.study.plan import Setting, Task, cli_settings, prepare, replication_seed, study_seed
from edgesim.study.tables import flatten
from edgesim.study.tstats import mean_ci

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
DIRECTIONS = ("largest", "smallest")
_TARGET = re.compile(r"^\s*([A-Za-z_][\w.:\-]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Target:
    """'slo_miss_rate<=0.01': a summary metric (dotted for nested keys), an operator, a number."""

    metric: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> "Target":
        m = _TARGET.match(text)
        try:
            threshold = float(m.group(3)) if m else math.nan
        except ValueError:
            threshold = math.nan
        if not m or not math.isfinite(threshold):
            raise UserError(f"--target {text!r}: expected METRIC OP NUMBER with OP one of "
                            f"{', '.join(OPS)}, e.g. 'slo_miss_rate<=0.01' or 'wait_s.mean<0.5'")
        return cls(m.group(1), m.group(2), threshold)

    def met(self, value: float) -> bool:
        return OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


@dataclass
class Probe:
    """The replications at one value: the metric's mean, std and interval, and the verdict."""

    value: int
    n: int
    mean: Optional[float]
    std: Optional[float]
    ci_half: Optional[float]
    met: bool
    sure: bool
    failed: int
    keys: list = field(default_factory=list)


@dataclass
class CapacityResult:
    scenario: str
    vary: str
    target: str
    direction: str
    answer: Optional[int]
    note: str
    replications: int
    confidence: float
    seed: int
    probes: list

    def table(self) -> pd.DataFrame:
        """The probes in the order they ran."""
        rows = [{k: v for k, v in asdict(p).items() if k != "keys"} for p in self.probes]
        return pd.DataFrame(rows, columns=["value", "n", "mean", "std", "ci_half", "met", "sure",
                                           "failed"])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["probes"] = [asdict(p) for p in self.probes]
        return d


class _Prober:
    """Runs and remembers probes; each value is simulated once per search."""

    def __init__(self, base: Path, vary: str, target: Target, sets: Sequence[Setting],
                 seeds: list, out: Path, executor, confidence: float, progress) -> None:
        self.base, self.vary, self.target, self.sets = base, vary, target, list(sets)
        self.seeds, self.out, self.executor = seeds, out, executor
        self.confidence, self.progress = confidence, progress
        self.done: dict[int, Probe] = {}
        self.order: list[Probe] = []

    def __call__(self, value: int) -> bool:
        if value in self.done:
            return self.done[value].met
        settings = self.sets + [Setting(self.vary, int(value), (f"--vary {self.vary}", None))]
        tasks = []
        for s in self.seeds:
            sf, key = prepare(self.base, settings, s)
            tasks.append(Task(key, str(self.base.resolve()), tuple(x.text() for x in settings),
                              s, str(self.out / "runs" / key)))
        outcomes, _, _ = execute(tasks, self.executor, self.progress, f"{self.vary}={value}")
        values, failed, errors = [], 0, []
        for t in tasks:
            o = outcomes[t.key]
            if o["status"] != "ok":
                failed += 1
                errors.append(o["error"])
                continue
            flat = flatten(o["summary"])
            if self.target.metric not in flat:
                numeric = sorted(k for k in flat if k not in ("seed",))
                raise UserError(f"--target: {self.target.metric!r} is not a numeric summary "
                                f"metric; valid: {', '.join(numeric)}")
            values.append(flat[self.target.metric])
        if not values and failed:
            raise UserError(f"every run at {self.vary}={value} failed: {errors[0]}")
        n, mean, std, half = mean_ci(values, self.confidence)
        met = mean is not None and self.target.met(mean)
        sure = mean is not None and half is not None and (
            self.target.met(mean - half) == self.target.met(mean + half) == met)
        probe = Probe(int(value), n, mean, std, half, met, sure, failed, [t.key for t in tasks])
        self.done[value] = probe
        self.order.append(probe)
        return met


def _edge(low_side: Callable[[int], bool], lo: int, hi: Optional[int], max_value: int
          ) -> tuple[Optional[int], Optional[int]]:
    """(last value with low_side true, first with it false) for a predicate true up to some
    value and false after; None where [lo, hi] (or [lo, max_value]) holds no such value.

    Without ``hi`` the step from ``lo`` doubles (lo+1, lo+2, lo+4, ... up to max_value) until
    the predicate turns; then bisection between the last true and the first false value.
    """
    if not low_side(lo):
        return None, lo
    good = lo
    if hi is None:
        step = 1
        while True:
            nxt = min(lo + step, max_value)
            if nxt <= good:                 # max_value reached, and it is on the low side
                return good, None
            if not low_side(nxt):
                bad = nxt
                break
            good, step = nxt, step * 2
    elif low_side(hi):
        return hi, None
    else:
        bad = hi
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if low_side(mid) else (good, mid)
    return good, bad


def _search(ok: Callable[[int], bool], direction: str, lo: int, hi: Optional[int],
            max_value: int) -> tuple[Optional[int], str]:
    """(answer, why) for the largest value meeting the target (met below the capacity) or the
    smallest (met from the answer on)."""
    end = f"the highest value, {hi}," if hi is not None else f"the search cap, {max_value},"
    if direction == "largest":
        good, bad = _edge(ok, lo, hi, max_value)
        if good is None:
            return None, f"the lowest value, {lo}, does not meet the target"
        if bad is None:
            return good, f"{end} meets the target: the answer may be larger"
        return good, f"{good} meets the target and {bad} does not"
    good, bad = _edge(lambda v: not ok(v), lo, hi, max_value)
    if good is None:
        return lo, f"the lowest value, {lo}, already meets the target"
    if bad is None:
        return None, f"not even {end} meets the target"
    return bad, f"{bad} meets the target and {good} does not"


def capacity_search(scenario: Union[str, Path], vary: str, target: Union[str, Target], *,
                    out: Union[str, Path], direction: str = "largest", lo: Optional[int] = None,
                    hi: Optional[int] = None, replications: int = 3, seed: Optional[int] = None,
                    sets: Sequence[str] = (), executor=None, confidence: float = 0.95,
                    max_value: int = 1 << 20, progress=None) -> CapacityResult:
    """Search, writing every probe's runs under ``out``/runs and capacity.json in ``out``.

    ``executor`` is an entered executor (see :mod:`edgesim.study.executors`); by default the
    runs execute in this process. Finished runs in ``out`` are reused, so an interrupted search
    resumes.
    """
    from edgesim.study.executors import LocalExecutor
    if direction not in DIRECTIONS:
        raise UserError(f"--direction {direction!r}; valid: {', '.join(DIRECTIONS)}")
    if replications < 1:
        raise UserError("--replications must be >= 1")
    tgt = target if isinstance(target, Target) else Target.parse(target)
    base = Path(scenario)
    if not base.is_file():
        raise UserError(f"no scenario file at {base}")
    lo = 1 if lo is None else int(lo)
    if hi is not None and hi < lo:
        raise UserError(f"--hi {hi} is below --lo {lo}")
    seed = study_seed(base, seed)
    seeds = [replication_seed(seed, r) for r in range(replications)]
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    own = executor is None
    ex = LocalExecutor(1).__enter__() if own else executor
    try:
        prober = _Prober(base, vary, tgt, cli_settings(sets), seeds, out, ex, confidence, progress)
        answer, note = _search(prober, direction, lo, hi, max_value)
    finally:
        if own:
            ex.__exit__(None, None, None)
    result = CapacityResult(str(base), vary, str(tgt), direction, answer, note, replications,
                            confidence, seed, prober.order)
    write_text_atomic(out / "capacity.json", json.dumps(result.to_dict(), indent=1) + "\n")
    write_text_atomic(out / "capacity.csv", result.table().to_csv(index=False))
    return result
