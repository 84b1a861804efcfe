"""The engine against queueing theory: mean waits inside 99% confidence intervals of
independent replications, and Little's law on every run."""
from __future__ import annotations

import pytest

import edgesim
from tests.queueing import mg1_wq, mmc_wq, single_station, t_interval

REPLICATIONS = 20


def replicate(scenario: dict, key=lambda s: s["wait_s"]["mean"], n: int = REPLICATIONS):
    values = []
    for seed in range(n):
        summary = edgesim.run(scenario, seed=1000 + seed).summary
        little = summary["littles_law"]
        # Little's law, L = lambda W, holds on every run up to edge effects of the window.
        assert little["rel_error"] < 0.03, little
        values.append(key(summary))
    return t_interval(values)


def assert_inside(theory: float, interval) -> None:
    mean, lo, hi = interval
    assert lo <= theory <= hi, f"theory {theory:.4f} outside 99% CI [{lo:.4f}, {hi:.4f}] " \
                               f"(mean {mean:.4f})"
    # An interval so wide it cannot fail would make the check meaningless.
    assert hi - lo < 0.25 * theory


def test_mm1_wait():
    lam, mu = 0.7, 1.0
    sc = single_station(lam, {"dist": "exponential", "mean": 1 / mu})
    assert_inside(mmc_wq(lam, mu, 1), replicate(sc))


@pytest.mark.parametrize("c,rho", [(2, 0.8), (4, 0.9)])
def test_mmc_wait_erlang_c(c, rho):
    mu = 1.0
    lam = rho * c * mu
    sc = single_station(lam, {"dist": "exponential", "mean": 1 / mu}, executors=c,
                        duration=8000.0 if rho > 0.85 else 6000.0)
    assert_inside(mmc_wq(lam, mu, c), replicate(sc))


def test_md1_wait():
    lam, d = 0.8, 1.0
    sc = single_station(lam, {"dist": "constant", "time": d})
    assert_inside(mg1_wq(lam, d, d * d), replicate(sc))


def test_mg1_lognormal_pollaczek_khinchine():
    lam, mean, cv = 0.7, 1.0, 1.2
    sc = single_station(lam, {"dist": "lognormal", "mean": mean, "cv": cv}, duration=12000.0,
                        warmup=1000.0)
    assert_inside(mg1_wq(lam, mean, mean ** 2 * (1 + cv ** 2)), replicate(sc))


def test_tandem_jackson_sojourn():
    sc = edgesim.load("scenarios/queueing/tandem.yaml", ["duration=6000s", "warmup=600s"])
    lam = sc.spec.workload.sources["arrivals"].arrivals.rate
    means = [sc.spec.service[m]["cpu"].mean for m in ("a", "b", "c")]
    theory = sum(1.0 / (1.0 / m - lam) for m in means)
    assert_inside(theory, replicate(sc, key=lambda s: s["latency_s"]["mean"]))


def test_bundled_mmc_matches_erlang_c():
    sf = edgesim.load("scenarios/queueing/mmc.yaml", ["duration=8000s", "warmup=800s"])
    lam = sf.spec.workload.sources["arrivals"].arrivals.rate
    mu = 1.0 / sf.spec.service["work"]["cpu"].mean
    c = sf.spec.nodes["server"].executors
    assert_inside(mmc_wq(lam, mu, c), replicate(sf))
