"""`edgesim compare`: gains of runs over a baseline run, as tables and plots (Distream layout)."""
from __future__ import annotations

import sys
from typing import Optional

import click

# The same as edgesim.analysis.compare.LABEL_MODES; spelt out so that `edgesim --help` does not
# import pandas.
LABEL_MODES = ("policy", "dir", "scenario")


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option("-b", "--baseline", required=True, metavar="NAME",
              help="label of the run the others are compared with (see --label)")
@click.option("-o", "--out", default="compare", show_default=True,
              type=click.Path(file_okay=False), help="folder for the tables and plots")
@click.option("--label", "label_by", type=click.Choice(LABEL_MODES), default="policy",
              show_default=True, help="name runs by their policy (by their directory where "
              "two share one), their directory, or their scenario")
@click.option("--cameras", default="cam", show_default=True, metavar="GROUP",
              help="camera node group for the imbalance index (nodes GROUP0, GROUP1, ...)")
@click.option("--no-plots", is_flag=True, help="write the tables only")
def compare(run_dirs: tuple, baseline: str, out: str, label_by: str, cameras: str,
            no_plots: bool) -> None:
    """Compare RUN_DIRs with the run labelled NAME.

    Prints and writes, in the layout of Distream's tables, the throughput gain (run / baseline)
    and latency reduction (baseline / run) at the mean, median, 75th and 99th percentile, the
    absolute values and the SLO miss rate: comparison.md and comparison.csv; and five plots:
    throughput and latency box plots, SLO miss rates, imbalance index and queued work over time.
    """
    from edgesim.analysis.compare import CompareError, compare as run_compare, to_markdown, write_tables
    try:
        cmp = run_compare(list(run_dirs), baseline, label=label_by, cameras=cameras)
    except CompareError as exc:
        _fail(str(exc))
    text = to_markdown(cmp)
    try:
        written = write_tables(cmp, out)
        if not no_plots:
            from edgesim.analysis.compare_plots import write_compare_plots
            written += write_compare_plots(cmp, out)
    except OSError as exc:
        _fail(f"cannot write to {out}: {exc}")
    click.echo(text)
    click.echo(f"wrote {len(written)} files to {out}: " + ", ".join(p.name for p in written))


def _fail(message: str, code: Optional[int] = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)
