"""`edgesim trace`: convert bandwidth traces to edgesim's canonical format, and inspect them."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

FORMATS = ["auto", "mahimahi", "mbps", "csv-bps", "canonical", "5gophers"]


def _read(path: str, fmt: str, column: Optional[str]):
    from .network.traces import TraceFormatError, read_trace
    try:
        kw = {"column": column} if column else {}
        return read_trace(Path(path), fmt, **kw)
    except (TraceFormatError, ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group()
def trace() -> None:
    """Traces: bandwidth (import, show) and camera workloads (from-video, generate)."""


@trace.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--column", help="column to read (5gophers files)")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="canonical CSV to write, e.g. traces/bandwidth/walk.csv")
def import_(file: str, fmt: str, column: Optional[str], out: str) -> None:
    """Convert FILE to edgesim's canonical CSV, recording its source in the header."""
    from .network.traces import detect_format, write_canonical
    tr = _read(file, fmt, column)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_canonical(tr, out, source_format=fmt if fmt != "auto" else detect_format(file))
    s = tr.stats()
    click.echo(f"wrote {out}: {len(tr)} steps over {s['duration_s']:.1f} s, "
               f"mean {s['mean_mbps']:.3f} Mbit/s")


@trace.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--column", help="column to read (5gophers files)")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="PNG to write (default: <file stem>.png in the current folder)")
@click.option("--no-plot", is_flag=True)
def show(file: str, fmt: str, column: Optional[str], plot_path: Optional[str],
         no_plot: bool) -> None:
    """Print FILE's statistics and plot its bandwidth over time."""
    tr = _read(file, fmt, column)
    for key, value in tr.stats().items():
        click.echo(f"{key:>16}: {value:.6g}" if isinstance(value, float) else f"{key:>16}: {value}")
    if no_plot:
        return
    target = Path(plot_path or f"{Path(file).stem}.png")
    from .analysis.traceplot import plot_trace
    plot_trace(tr, target, title=Path(file).name)
    click.echo(f"plot: {target}")


# Camera workload traces (ROIs per frame) live in cli_video.py; OpenCV is imported only when run.
from .cli_video import from_video as _from_video, generate as _generate  # noqa: E402

trace.add_command(_from_video)
trace.add_command(_generate)
