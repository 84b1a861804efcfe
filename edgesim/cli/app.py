"""The `edgesim` command line."""
from __future__ import annotations

import atexit
import gc
import json
import sys
import time
from pathlib import Path
from typing import Optional

import click

from edgesim.errors import ScenarioError, UserError


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}" if not isinstance(exc, ScenarioError) else str(exc), err=True)
    sys.exit(2)


def _checked(sf, seed: Optional[int], strict: bool):
    """The built and checked simulation; with ``strict``, an absurd size is an error (exit 2)."""
    from edgesim.api import simulation_class
    from edgesim.engine.estimate import too_large, too_many_nodes
    many = too_many_nodes(sf.spec)
    if many:
        if strict:
            raise UserError(f"refused (--strict): {many}")
        click.echo(f"warning: this scenario is very large: {many}", err=True)
    sim = simulation_class(sf)(sf, seed).build().check()
    size = getattr(sim, "size", None)
    if strict and size is not None and too_large(size):
        raise UserError(f"refused (--strict): {'; '.join(too_large(size))}; {size.describe()}")
    return sim


_STRICT_HELP = ("refuse (exit 2) a run estimated to be absurd (over 1e9 events, 8 GB of "
                "tables, 1e7 samples or 20,000 nodes) instead of warning")


def _load(scenario: str, sets: tuple, duration: Optional[str] = None):
    from edgesim import api
    return api.load_named(scenario, list(sets) + ([f"duration={duration}"] if duration else []))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgesim", prog_name="edgesim")
@click.option("-v", "--verbose", count=True, help="log what edgesim does (standard logging on "
              "stderr): -v steps, -vv details")
def main(verbose: int = 0) -> None:
    """edgesim: simulate edge-cloud deep-learning systems."""
    _cheap_exit()
    if verbose:
        import logging
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s: %(message)s")


def _cheap_exit() -> None:
    """Freeze the garbage collector's view at interpreter exit: the collections during shutdown
    walk every object a run left (matplotlib, pandas, the simulation) for nothing, 0.1-0.4 s
    of a run (docs/performance.md). Exit handlers still run; Python never promised __del__ for
    objects alive at exit. Registered once, whatever the number of invocations."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


@main.command()
@click.argument("scenario")
@click.option("-o", "--out", type=click.Path(file_okay=False), help="run directory "
              "(default: runs/<name>-<time>)")
@click.option("--seed", type=int, help="override the scenario's seed")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
              help="override any scenario key, e.g. --set nodes.cam.count=12")
@click.option("--duration", help="override the simulated duration, e.g. 600s")
@click.option("--no-plots", is_flag=True, help="skip the plots/ folder")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar, no table")
@click.option("--force", is_flag=True, help="replace an existing run directory (atomically, "
              "once the new run is saved)")
@click.option("--strict", is_flag=True, help=_STRICT_HELP)
@click.option("--trace-events", is_flag=True, help="also write trace.json: the run as a "
              "timeline for Perfetto (ui.perfetto.dev) or chrome://tracing")
def run(scenario: str, out: Optional[str], seed: Optional[int], sets: tuple,
        duration: Optional[str], no_plots: bool, quiet: bool, force: bool, strict: bool,
        trace_events: bool) -> None:
    """Simulate SCENARIO (a file, or a bundled scenario's name) and write a run directory."""
    import logging
    log = logging.getLogger("edgesim.run")
    from edgesim.metrics.run_folder import default_name, reserve
    try:
        sf = _load(scenario, sets, duration)
        sim = _checked(sf, seed, strict)
        target = Path(out) if out else Path("runs") / (
            f"{default_name(sf.spec.name)}-{time.strftime('%Y%m%d-%H%M%S')}")
        # The place is checked and locked before t = 0: a bad -o costs no simulation.
        folder = reserve(target, force=force)
    except (ScenarioError, UserError) as exc:
        _fail(exc)
    for warning in sim.warnings:
        click.echo(f"warning: {warning}", err=True)
    log.info("checked %s (seed %s); writing to %s", sf.file, sim.seed, target)
    training = sf.spec.training is not None

    def save(folder_path: Path, **kw) -> None:
        result.save(folder_path, plots=not no_plots, **kw)
        if trace_events:
            from edgesim.metrics.trace_events import write_trace_events
            write_trace_events(folder_path)
        log.info("saved the run's files in %s", folder_path)

    try:
        if quiet or training or not sys.stderr.isatty():
            sim.run()
        else:
            from edgesim.report import progress_bar
            with progress_bar(sim.duration) as update:
                sim.run(progress=update)
        result = sim.collect()
        log.info("simulated %s s", result.summary.get("sim_time_s"))
        if quiet:
            folder.save(save)
        else:
            # The table as soon as the tables are on disk; the plots (1-4 s) are drawn after
            # it. The folder is renamed into place only once whole (metrics/run_folder.py).
            from edgesim.report import print_summary, print_training_summary
            show = print_training_summary if training else print_summary
            folder.save(lambda d: save(d, on_tables=lambda: show(result.summary, target)))
    except UserError as exc:    # the folder could not be written; the message says where it went
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:   # 130 like `edgesim sweep` and every shell command
        click.echo(f"\ninterrupted: nothing was written to {target}", err=True)
        sys.exit(130)
    finally:
        folder.abandon()        # after a commit there is nothing left to abandon


@main.command()
@click.argument("scenario")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE")
@click.option("--strict", is_flag=True, help=_STRICT_HELP)
def check(scenario: str, sets: tuple, strict: bool) -> None:
    """Validate SCENARIO without running it (exit 2 and a list of problems if it is invalid)."""
    try:
        sf = _load(scenario, sets)
        sim = _checked(sf, None, strict)
    except (ScenarioError, UserError) as exc:
        _fail(exc)
    for warning in sim.warnings:
        click.echo(f"warning: {warning}", err=True)
    if sf.spec.training is not None:
        click.echo(f"{sf.file}: ok ({len(sim.nodes)} nodes, training system "
                   f"{sim.system.name}, {sim.system.describe()})")
        return
    click.echo(f"{sf.file}: ok ({len(sim.nodes)} nodes, {len(sim.sources)} sources, "
               f"policy {sf.spec.policy.name})")


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="default: RUN_DIR/trace.json")
def timeline(run_dir: str, out: Optional[str]) -> None:
    """Write RUN_DIR's run as a trace-event timeline (Perfetto, chrome://tracing)."""
    from edgesim.metrics.trace_events import write_trace_events
    try:
        click.echo(f"wrote {write_trace_events(run_dir, out)}")
    except UserError as exc:
        _fail(exc)


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor completion)."""
    from edgesim._version import __version__
    from edgesim.scenario.schema import Scenario
    # $schema and $id first: editors (the YAML language server, JSON Schema stores) read the
    # dialect from $schema; $id names this version's schema.
    body = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:edgesim:scenario-schema:{__version__}",
            **Scenario.model_json_schema()}
    click.echo(json.dumps(body, indent=2))


@main.command()
def scenarios() -> None:
    """List the bundled scenarios."""
    from edgesim.bundled import scenarios as bundled
    found = bundled()
    if not found:
        click.echo("no bundled scenarios found", err=True)
        sys.exit(1)
    width = max(len(n) for n in found)
    for name, (_path, desc) in found.items():
        click.echo(f"{name:<{width}}  {desc}")


@main.command()
def policies() -> None:
    """List the available policies (built-in and plug-ins)."""
    from edgesim.policies.registry import available
    for name, cls in available().items():
        click.echo(f"{name:<14}  {cls.description}")


@main.command()
def systems() -> None:
    """List the systems edgesim simulates (built-in and plug-ins), with what each provides."""
    from edgesim.registry import systems as found
    for name, s in found().items():
        what = (f"training.{name}" if s.kind == "training" else
                ", ".join(["placement policies"] * bool(s.policies)
                          + [f"job shape '{x}'" for x in s.jobs]))
        click.echo(f"{name:<14}  {s.kind:<8}  {what:<26}  {s.description}")


from edgesim.cli.calibrate import calibrate as _calibrate, testbed as _testbed  # noqa: E402
from edgesim.cli.trace import trace as _trace  # noqa: E402  (registered after main is defined)
from edgesim.cli.compare import compare as _compare  # noqa: E402
from edgesim.cli.study import capacity as _capacity, plot as _plot, sweep as _sweep  # noqa: E402
from edgesim.cli.training import training as _training  # noqa: E402
from edgesim.cli.data import data as _data  # noqa: E402

main.add_command(_trace)
main.add_command(_calibrate)
main.add_command(_testbed)
main.add_command(_compare)
main.add_command(_sweep)
main.add_command(_capacity)
main.add_command(_plot)
main.add_command(_training)
main.add_command(_data)


if __name__ == "__main__":  # pragma: no cover
    main()
