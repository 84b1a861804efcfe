"""What-if studies: sweeps with replications, capacity search, and their plots.

    from edgesim.study import run_sweep, capacity_search, plot_sweep
    res = run_sweep("scenarios/studies/mmc-sweep.yaml", "sweeps/mmc", workers=2)
    res.summary                      # mean, std, n and CI per configuration and metric

Modules: ``spec`` (the sweep file format), ``plan`` (configurations, seeds, run keys),
``worker`` (one run), ``executors`` (local pool, Dask), ``tables`` (runs and summary tables),
``tstats`` (Student-t intervals), ``sweep`` (the driver), ``capacity`` (bisection search),
``plot`` (metric against an axis with confidence bands). Nothing here is imported by
``import edgesim``.
"""
from __future__ import annotations

from edgesim.study.capacity import CapacityResult, Target, capacity_search
from edgesim.study.executors import DaskExecutor, LocalExecutor, make_executor
from edgesim.study.plan import replication_seed
from edgesim.study.plot import plot_sweep
from edgesim.study.spec import SweepError, read_sweep
from edgesim.study.sweep import SweepResult, run_sweep

__all__ = ["run_sweep", "read_sweep", "SweepResult", "SweepError", "capacity_search",
           "CapacityResult", "Target", "plot_sweep", "make_executor", "LocalExecutor",
           "DaskExecutor", "replication_seed"]
