"""`edgesim training`: tables of training scenarios over parameter grids."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from edgesim.cli_common import _CTX, _die
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
    from edgesim.training.fed_compare import load_run, table
    from edgesim.training.fed_plots import plot_accuracy
    if len(runs) < 2:
        raise click.BadParameter("give a baseline and at least one run to compare with it",
                                 param_hint="RUNS")
    if _is_clue(runs[0], sets):
        return _compare_clue(runs, seed, sets, out)
    try:
        loaded = [load_run(r, seed, sets) for r in runs]
    except ScenarioError as exc:
        _die(str(exc))
    except ValueError as exc:
        _die(str(exc))
    goal = target if target is not None else loaded[0].fed["target_accuracy"]
    if goal is None:
        _die("the baseline has no target_accuracy; give --target")
    labels = [c.label for c in loaded]
    if len(set(labels)) < len(labels):
        for i, c in enumerate(loaded):
            c.label = f"{c.label} [{i}]"
    df = table(loaded, goal)
    click.echo(f"ratios against {loaded[0].label} at {goal:.0%} held-out accuracy")
    with_pd_options(lambda: click.echo(df.to_string(index=False, float_format=_fmt)))
    if out:
        folder = _write_comparison(df, out)
        plot_accuracy({c.label: c.rounds for c in loaded}, folder / "accuracy.png",
                      target=goal)
        click.echo(f"wrote {folder / 'comparison.csv'} and {folder / 'accuracy.png'}")


def _is_clue(ref: str, sets: tuple) -> bool:
    p = Path(ref)
    if p.is_dir() and (p / "summary.json").exists():
        import json
        return json.loads((p / "summary.json").read_text()).get("system") == "clue"
    from edgesim.cli import _load
    try:
        sf = _load(ref, sets, None)
    except ScenarioError as exc:
        _die(str(exc))
    return sf.spec.training is not None and sf.spec.training.clue is not None


def _compare_clue(runs: tuple, seed: Optional[int], sets: tuple, out: Optional[str]) -> None:
    from edgesim.training.clue.compare import load_summary, table
    try:
        df = table([load_summary(r, seed, sets) for r in runs])
    except (ScenarioError, ValueError) as exc:
        _die(str(exc))
    click.echo(f"recovery against {df.run.iloc[0]}, bytes against the run that moved most")
    with_pd_options(lambda: click.echo(df.to_string(index=False, float_format=_fmt)))
    if out:
        click.echo(f"wrote {_write_comparison(df, out) / 'comparison.csv'}")


def _write_comparison(df, out: str) -> Path:
    """comparison.csv in the folder ``out`` (made if missing); the folder."""
    from edgesim.metrics.atomic import write_text_atomic
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "comparison.csv", df.to_csv(index=False))
    return folder


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def with_pd_options(fn) -> None:
    import pandas as pd
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        fn()
