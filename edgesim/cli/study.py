"""`edgesim sweep`, `edgesim capacity` and `edgesim plot`: what-if studies from the command line.

The work is done in :mod:`edgesim.study`; this module parses options, shows progress and
tables, and turns user mistakes into messages (exit status 2, no traceback). An interrupted
study exits with 130 and says how to resume it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import click

from edgesim.cli.common import _Bar, _interactive
from edgesim.errors import ScenarioError, UserError

EXECUTORS = ("local", "dask")   # the same as edgesim.study.executors.EXECUTORS (no import here)


def _fail(exc: Exception) -> None:
    click.echo(str(exc) if isinstance(exc, ScenarioError) else f"error: {exc}", err=True)
    sys.exit(2)


def _resume_command(out: Path) -> str:
    """The user's own command line (every --set, --workers, ...), with -o naming ``out``."""
    import shlex
    args = sys.argv[1:]
    if not any(a in ("-o", "--out") or a.startswith("--out=") for a in args):
        args = [*args, "-o", str(out)]
    return shlex.join(["edgesim", *args])


def _interrupted(what: str, out: Path) -> None:
    click.echo(f"\ninterrupted: the finished runs of this {what} are kept in {out}; run "
               f"`{_resume_command(out)}` again to resume", err=True)
    sys.exit(130)


def _executor_options(f):
    f = click.option("--scheduler", metavar="ADDRESS",
                     help="join a running Dask cluster, e.g. tcp://10.0.0.5:8786 (implies "
                          "--executor dask)")(f)
    f = click.option("--workers", type=click.IntRange(min=1), metavar="N",
                     help="worker processes (default: one per CPU core)")(f)
    f = click.option("--executor", type=click.Choice(EXECUTORS), default=None,
                     help="where runs execute: a local process pool (default) or Dask (a "
                          "LocalCluster, or --scheduler)")(f)
    return f


@click.command()
@click.argument("sweep_file", metavar="SWEEP_FILE")
@click.option("-o", "--out", type=click.Path(file_okay=False),
              help="output folder (default: sweeps/<sweep name>); rerunning into the same "
                   "folder resumes")
@_executor_options
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
              help="override a scenario key in every run, e.g. --set duration=600s")
@click.option("--replications", type=click.IntRange(min=1), help="replace the file's")
@click.option("--seed", type=click.IntRange(min=0), help="replace the file's seed")
@click.option("--plots", is_flag=True, help="also write each run's plots/ folder")
@click.option("--chunk", type=click.IntRange(min=1), metavar="N",
              help="runs per task sent to a worker (default: about four tasks per worker, "
                   "1-16 runs each); results do not depend on it")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar, no table")
def sweep(sweep_file: str, out: Optional[str], executor: Optional[str], workers: Optional[int],
          scheduler: Optional[str], sets: tuple, replications: Optional[int],
          seed: Optional[int], plots: bool, chunk: Optional[int], quiet: bool) -> None:
    """Run the sweep SWEEP_FILE (a file, or a bundled sweep's name): every configuration x
    replication as its own run directory, then runs.parquet and summary.parquet/.csv."""
    from edgesim.bundled import find_sweep
    from edgesim.study.spec import read_sweep
    from edgesim.study.sweep import run_sweep
    target = Path(out) if out else Path("sweeps") / Path(sweep_file).stem
    try:
        sw = read_sweep(find_sweep(sweep_file))
        target = Path(out) if out else Path("sweeps") / sw.name
        with _Bar(_interactive(quiet), "runs") as bar:
            res = run_sweep(sw, target, executor=executor, workers=workers, scheduler=scheduler,
                            sets=sets, replications=replications, seed=seed, plots=plots,
                            progress=bar, chunk=chunk)
    except (ScenarioError, UserError) as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _interrupted("sweep", target)
    for w in res.plan.warnings:
        click.echo(f"warning: {w}", err=True)
    for row in res.runs[res.runs.status != "ok"].itertuples():
        click.echo(f"failed: run {row.key} (configuration {row.config}, replication "
                   f"{row.replication}): {row.error}", err=True)
    if not quiet:
        _print_summary(res)
    click.echo(f"{len(res.runs)} runs ({res.executed} executed, {res.skipped} already done, "
               f"{res.failed} failed) in {res.directory}")
    if res.failed:
        sys.exit(1)


def _print_summary(res) -> None:
    from rich.console import Console
    from rich.table import Table
    s = res.summary
    metrics = list(dict.fromkeys(s.metric))[:4]
    t = Table(title=f"{res.plan.replications} replications per configuration, mean ± CI "
                    "half-width")
    for p in res.plan.params:
        t.add_column(p, overflow="fold")
    for m in metrics:
        t.add_column(m, justify="right", overflow="fold")
    for config, g in s[s.metric.isin(metrics)].groupby("config", sort=True):
        first = g.iloc[0]
        cells = [str(first[p]) for p in res.plan.params]
        for m in metrics:
            r = g[g.metric == m].iloc[0]
            cells.append("-" if r.n == 0 else f"{r['mean']:.4g}" + (
                "" if r.n < 2 else f" ± {r.ci_half:.2g}"))
        t.add_row(*cells)
    Console().print(t)
    if s.metric.nunique() > len(metrics):
        click.echo(f"(first {len(metrics)} of {s.metric.nunique()} metrics; all in "
                   f"{res.directory / 'summary.csv'})")


@click.command()
@click.argument("scenario")
@click.option("--vary", required=True, metavar="KEY.PATH", help="the whole-number scenario key "
              "to search over, e.g. nodes.cam.count")
@click.option("--target", required=True, metavar="METRIC OP NUMBER",
              help="summary metric condition, e.g. 'slo_miss_rate<=0.01' (OP: <=, <, >=, >)")
@click.option("--direction", type=click.Choice(["largest", "smallest"]), default="largest",
              show_default=True, help="largest value meeting the target (capacity) or smallest "
                                      "(resources needed)")
@click.option("--lo", type=int, help="lowest value to consider (default 1)")
@click.option("--hi", type=int, help="highest value (default: found by doubling the step)")
@click.option("--replications", type=click.IntRange(min=1), default=3, show_default=True,
              help="independent runs at each probed value")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), help="default: the scenario's seed")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE")
@click.option("--duration", help="override the simulated duration, e.g. 600s")
@click.option("-o", "--out", type=click.Path(file_okay=False),
              help="folder for the probes' runs and capacity.json (default: "
                   "capacity/<scenario>-<key>); rerunning into it resumes")
@_executor_options
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar")
def capacity(scenario: str, vary: str, target: str, direction: str, lo: Optional[int],
             hi: Optional[int], replications: int, confidence: float, seed: Optional[int],
             sets: tuple, duration: Optional[str], out: Optional[str], executor: Optional[str],
             workers: Optional[int], scheduler: Optional[str], as_json: bool,
             quiet: bool) -> None:
    """Find the largest (or smallest) value of KEY.PATH in SCENARIO that meets --target, by
    bisection over whole numbers with --replications runs at each probe."""
    from edgesim.bundled import find_scenario
    from edgesim.study.capacity import capacity_search
    from edgesim.study.executors import default_workers, make_executor
    path = find_scenario(scenario)
    target_dir = Path(out) if out else Path("capacity") / f"{path.stem}-{vary}"
    sets = sets + ((f"duration={duration}",) if duration else ())
    try:
        # Probes run one after another, so at most `replications` runs are ever in flight.
        if workers is None and (executor or "local") == "local" and not scheduler:
            workers = min(default_workers(), replications)
        with make_executor(executor, workers, scheduler) as ex, \
                _Bar(_interactive(quiet), "probe") as bar:
            res = capacity_search(path, vary, target, out=target_dir, direction=direction,
                                  lo=lo, hi=hi, replications=replications, seed=seed, sets=sets,
                                  executor=ex, confidence=confidence, progress=bar)
    except (ScenarioError, UserError) as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _interrupted("search", target_dir)
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=1))
    else:
        _print_capacity(res)
        click.echo(f"wrote {target_dir / 'capacity.json'}")
    if res.answer is None:
        sys.exit(1)


def _print_capacity(res) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"{res.direction} {res.vary} with {res.target} (mean of {res.replications} "
                    f"runs, {res.confidence:.0%} CI)")
    for col in ("value", "mean", "CI", "meets", "sure"):
        t.add_column(col, justify="right")
    for p in sorted(res.probes, key=lambda p: p.value):
        ci = "-" if p.ci_half is None else f"[{p.mean - p.ci_half:.4g}, {p.mean + p.ci_half:.4g}]"
        t.add_row(str(p.value), "-" if p.mean is None else f"{p.mean:.4g}", ci,
                  "yes" if p.met else "no", "yes" if p.sure else "no",
                  style="bold" if p.value == res.answer else None)
    Console().print(t)
    click.echo(f"answer: {res.vary} = {res.answer} ({res.note})" if res.answer is not None
               else f"no answer: {res.note}")
    unsure = [p.value for p in res.probes if not p.sure and res.answer is not None
              and abs(p.value - res.answer) <= 1]
    if unsure:
        click.echo(f"note: the interval at {unsure} straddles the target: more replications "
                   "would make the answer surer", err=True)


@click.command()
@click.argument("sweep_dir", type=click.Path(file_okay=False))
@click.option("--x", "x", required=True, metavar="KEY", help="an axis of the sweep")
@click.option("--y", "y", required=True, metavar="METRIC", help="a summary metric, e.g. "
                                                                "latency_s.p99")
@click.option("--hue", metavar="KEY", help="another axis: one line per value")
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="PNG to write (default: SWEEP_DIR/plots/<y>-vs-<x>.png)")
def plot(sweep_dir: str, x: str, y: str, hue: Optional[str], out: Optional[str]) -> None:
    """Plot METRIC against an axis of the sweep in SWEEP_DIR: means with confidence bands."""
    from edgesim.study.plot import plot_sweep
    try:
        path = plot_sweep(sweep_dir, x, y, hue=hue, out=out)
    except UserError as exc:
        _fail(exc)
    click.echo(f"wrote {path}")
