"""The adaptation controller's incremental fluid model (issue #17): a trial that moves one
camera's point is evaluated from that camera's terms alone, and the heuristic's result must be
the one the from-scratch evaluation gives, bit for bit, on random systems."""
from __future__ import annotations

import math
import random

import pytest

from edgesim.systems.distream import controller as ctl
from edgesim.systems.distream import partition as part


def _system(rng: random.Random, n: int):
    """n cameras with random capacities, rates (some idle), backlogs and measured rates; an
    edge cluster sized from a third to twice the offered work; a random mix of 1-3 paths."""
    paths = []
    for _ in range(rng.randint(1, 3)):
        cuts = sorted(rng.uniform(0.05, 0.95) for _ in range(rng.randint(1, 4)))
        paths.append([0.0] + cuts + [1.0])
    mix = part.PathMix(paths, [rng.uniform(0.2, 1.0) for _ in paths])
    cams = []
    for _ in range(n):
        rate = 0.0 if rng.random() < 0.15 else rng.uniform(0.5, 40.0)
        cams.append(ctl.Site(capacity=rng.uniform(2.0, 20.0),
                             pending=rng.choice([0.0, rng.uniform(0.0, 30.0)]), rate=rate,
                             measured=rng.choice([None, rng.uniform(0.0, 60.0)])))
    work = sum(c.rate for c in cams) or 1.0
    edge = ctl.Site(capacity=work * rng.uniform(0.3, 2.0), pending=rng.uniform(0.0, 50.0),
                    measured=rng.choice([None, rng.uniform(0.0, 200.0)]))
    par0 = [rng.random() for _ in range(n)]
    return cams, edge, mix, par0


def _same(a: ctl.Evaluation, b: ctl.Evaluation) -> None:
    # == on floats, not approx: the incremental path must reproduce the reference exactly
    assert a.par == b.par and a.tp_cams == b.tp_cams and a.lat_cams == b.lat_cams
    assert (a.tp_edge, a.tp_system, a.lat_edge, a.feasible, a.tp_rate) == \
        (b.tp_edge, b.tp_system, b.lat_edge, b.feasible, b.tp_rate)


@pytest.mark.parametrize("seed", range(40))
def test_incremental_plan_is_the_reference_plan(seed):
    rng = random.Random(seed)
    cams, edge, mix, par0 = _system(rng, rng.choice([2, 5, 12, 24]))
    slo = rng.choice([0.05, 0.2, 1.0, 3.0])
    step = rng.choice([0.01, 0.02, 0.05])
    for ascent, tp in ((True, "rate"), (True, "period"), (False, "rate")):
        fast = ctl.plan(cams, edge, mix, 0.5, slo, step, par0=par0, ascent=ascent,
                        throughput=tp)
        ref = ctl.plan(cams, edge, mix, 0.5, slo, step, par0=par0, ascent=ascent,
                       incremental=False, throughput=tp)
        assert fast.par == ref.par and fast.preliminary == ref.preliminary
        assert fast.moves == ref.moves
        _same(fast.evaluation, ref.evaluation)


@pytest.mark.parametrize("seed", range(10))
def test_a_trial_is_evaluate_on_the_trial_points(seed):
    rng = random.Random(100 + seed)
    cams, edge, mix, par = _system(rng, 8)
    fluid = ctl._Fluid(par, cams, edge, mix, 0.5)
    for _ in range(30):
        i, q = rng.randrange(len(cams)), rng.random()
        trial = par[:i] + [q] + par[i + 1:]
        ev = ctl.evaluate(trial, cams, edge, mix, 0.5, math.inf)
        assert fluid.trial(i, q) == (ev.tp_system, ev.lat_cams[i], ev.lat_edge, ev.tp_rate)
        if rng.random() < 0.5:               # moves accumulate: the kept terms stay exact
            fluid.move(i, q)
            par = trial
            _same(fluid.evaluation(0.3), ctl.evaluate(par, cams, edge, mix, 0.5, 0.3))
    _same(fluid.evaluation(0.3), ctl.evaluate(par, cams, edge, mix, 0.5, 0.3))


def test_a_trial_leaves_the_model_as_it_was():
    rng = random.Random(7)
    cams, edge, mix, par = _system(rng, 6)
    fluid = ctl._Fluid(par, cams, edge, mix, 0.5)
    before = fluid.evaluation(1.0)
    fluid.trial(2, 0.0)
    fluid.trial(3, 1.0)
    _same(fluid.evaluation(1.0), before)
