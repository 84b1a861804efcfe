"""`edgesim training`: tables of training scenarios over parameter grids."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from edgesim.cli.common import _CTX, _die
from edgesim.errors import ScenarioError


@click.group(context_settings=_CTX)
def training() -> None:
    """Training scenarios (DEEPCON, Mercury, federated): tables over parameter grids, federated
    runs side by side."""


@training.command(context_settings=_CTX)
@click.argument("scenario")
@click.option("--vary", "varies", multiple=True, metavar="KEY.PATH=V1,V2,...",
              help="a key and the values to try, e.g. links.wifi.bandwidth=10Mbps,200Mbps; "
                   "several --vary make a grid")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
              help="an override applied to every run")
@click.option("--seeds", default="", metavar="S1,S2,...", help="seeds to run (default: the "
              "scenario's)")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="write the table as CSV")
def sweep(scenario: str, varies: tuple, sets: tuple, seeds: str, out: Optional[str]) -> None:
    """Run SCENARIO for every combination of the --vary values; print one row per run."""
    from edgesim.bundled import find_scenario
    from edgesim.training.sweep import sweep as run_sweep
    grid = []
    for v in varies:
        key, sep, values = v.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise click.BadParameter(f"{v!r}: expected KEY.PATH=V1,V2,...", param_hint="--vary")
        grid.append((key.strip(), [x.strip() for x in values.split(",") if x.strip()]))
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()] or [None]
    except ValueError:
        raise click.BadParameter(f"{seeds!r}: expected comma-separated integers",
                                 param_hint="--seeds") from None
    try:
        table = run_sweep(find_scenario(scenario), grid, seed_list, base=list(sets))
    except ScenarioError as exc:
        _die(str(exc))
    with_pd_options(lambda: click.echo(table.to_string(index=False, float_format=_fmt)))
    if out:
        from edgesim.metrics.atomic import write_text_atomic
        write_text_atomic(Path(out), table.to_csv(index=False))
        click.echo(f"wrote {out}")


@training.command(context_settings=_CTX)
@click.argument("runs", nargs=-1, required=True)
@click.option("--target", type=float, help="accuracy the ratios are taken at (default: the "
              "first run's target_accuracy)")
@click.option("--seed", type=int, help="seed for the scenarios run here")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
              help="an override applied to every scenario run here")
@click.option("-o", "--out", type=click.Path(file_okay=False), help="folder for "
              "comparison.csv and accuracy.png")
def compare(runs: tuple, target: Optional[float], seed: Optional[int], sets: tuple,
            out: Optional[str]) -> None:
    """Federated or CLUE RUNS (run directories or scenarios, the baseline first) side by side.
    Federated: the layout of FedAce's Table 3.2 (rounds and per-round-time reductions,
    speed-up, traffic). CLUE: batches to recover from each drift against the first run (the
    isolated baseline), peak error, bytes and the Eq. 3a/3b check."""
    from edgesim.registry import get
    from edgesim.training.comparison import system_of
    if len(runs) < 2:
        raise click.BadParameter("give a baseline and at least one run to compare with it",
                                 param_hint="RUNS")
    try:
        name = system_of(runs[0], sets)
        fn = get(name).load("compare") if name is not None else None
        if fn is None:
            _die(f"{runs[0]}: " + (f"the {name} system has no comparison" if name else
                                   "not a training run or scenario"))
        result = fn(list(runs), target=target, seed=seed, sets=sets)
    except (ScenarioError, ValueError) as exc:
        _die(str(exc))
    click.echo(result.heading)
    with_pd_options(lambda: click.echo(result.table.to_string(index=False, float_format=_fmt)))
    if out:
        written = result.write(Path(out))
        click.echo("wrote " + " and ".join(str(p) for p in written))


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def with_pd_options(fn) -> None:
    import pandas as pd
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        fn()
