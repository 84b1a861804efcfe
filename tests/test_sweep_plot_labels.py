"""Sweep plots explain themselves (issue #29): readable axis labels with units, intervals clipped
to what the metric can be, and the number of replications said when it is small."""
from __future__ import annotations

import math

import pandas as pd

from edgesim.study.plot import axis_label, curves, metric_range


def test_axis_labels_name_the_quantity_its_unit_and_the_key():
    assert axis_label("workload.sources.arrivals.arrivals.rate") == (
        "rate (per s)\nworkload.sources.arrivals.arrivals.rate")
    assert axis_label("wait_s.mean") == "wait_s.mean (s)"
    assert axis_label("utilization.server0") == "utilization.server0 (fraction)"
    assert axis_label("nodes.server.executors") == "executors\nnodes.server.executors"


def test_intervals_are_clipped_to_the_metrics_range():
    assert metric_range("answers.availability") == (0.0, 1.0)
    assert metric_range("slo_miss_rate") == (0.0, 1.0)
    assert metric_range("latency_s.p99") == (0.0, math.inf)
    assert metric_range("littles_law.rel_error") == (-math.inf, math.inf)


def test_a_two_run_interval_of_a_fraction_can_leave_its_range_before_clipping():
    """The case the issue saw: n = 2 gives a t-interval of +-12.7 standard errors."""
    runs = pd.DataFrame({"status": "ok", "p": [1, 1], "availability": [0.2, 0.9]})
    c = curves(runs, ["p"], "p", "availability", None, 0.95)
    assert c.n.tolist() == [2] and c.low[0] < 0 and c.high[0] > 1
    lo, hi = metric_range("availability")
    assert (lo, hi) == (0.0, 1.0)
