"""`edgesim trace`: convert bandwidth traces to edgesim's canonical format, and inspect them."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

FORMATS = ["auto", "mahimahi", "mbps", "csv-bps", "canonical", "5gophers"]


def _read(path: str, fmt: str, column: Optional[str], bin_ms: Optional[int] = None):
    from edgesim.network.traces import TraceFormatError, detect_format, read_trace
    try:
        kw = {"column": column} if column else {}
        if bin_ms is not None:
            # Binning is a mahimahi notion (opportunities per bin); elsewhere it would be silently
            # meaningless, so say so instead of ignoring it.
            actual = detect_format(Path(path)) if fmt == "auto" else fmt
            if actual != "mahimahi":
                raise ValueError(f"{path}: --bin-ms applies to mahimahi traces only "
                                 f"(this one is {actual})")
            kw["bin_s"] = bin_ms / 1000.0
        return read_trace(Path(path), fmt, **kw)
    except (TraceFormatError, ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


_BIN_HELP = ("mahimahi only: bin the delivery opportunities into steps of this many ms "
             "(default: native 1 ms resolution)")


@click.group()
def trace() -> None:
    """Traces: bandwidth (import, show, resolution) and camera workloads (from-video, generate)."""


@trace.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--column", help="column to read (5gophers files)")
@click.option("--bin-ms", type=click.IntRange(min=1), help=_BIN_HELP)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="canonical CSV to write, e.g. traces/bandwidth/walk.csv")
def import_(file: str, fmt: str, column: Optional[str], bin_ms: Optional[int], out: str) -> None:
    """Convert FILE to edgesim's canonical CSV, recording its source in the header."""
    from edgesim.network.traces import detect_format, write_canonical
    tr = _read(file, fmt, column, bin_ms)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_canonical(tr, out, source_format=fmt if fmt != "auto" else detect_format(file))
    s = tr.stats()
    click.echo(f"wrote {out}: {len(tr)} steps over {s['duration_s']:.1f} s, "
               f"mean {s['mean_mbps']:.3f} Mbit/s")


@trace.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--column", help="column to read (5gophers files)")
@click.option("--bin-ms", type=click.IntRange(min=1), help=_BIN_HELP)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="PNG to write (default: <file stem>.png in the current folder)")
@click.option("--no-plot", is_flag=True)
def show(file: str, fmt: str, column: Optional[str], bin_ms: Optional[int],
         plot_path: Optional[str], no_plot: bool) -> None:
    """Print FILE's statistics and plot its bandwidth over time."""
    tr = _read(file, fmt, column, bin_ms)
    for key, value in tr.stats().items():
        click.echo(f"{key:>16}: {value:.6g}" if isinstance(value, float) else f"{key:>16}: {value}")
    if no_plot:
        return
    target = Path(plot_path or f"{Path(file).stem}.png")
    from edgesim.analysis.traceplot import plot_trace
    plot_trace(tr, target, title=Path(file).name)
    click.echo(f"plot: {target}")


@trace.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--bin-ms", type=click.IntRange(min=1), default=100, show_default=True,
              help="bin of the binned replay to assess")
@click.option("--size", "sizes", multiple=True, default=("10kB", "30kB", "60kB", "150kB", "1MB"),
              show_default=True, help="upload size (repeatable), e.g. 60kB")
@click.option("--starts", type=click.IntRange(min=1), default=1000, show_default=True,
              help="start times, spread evenly over one period")
def resolution(file: str, bin_ms: int, sizes: tuple, starts: int) -> None:
    """How far binned replay of mahimahi FILE moves upload times from native 1 ms replay.

    Per size: median, p99 and max of |binned - native| / native upload time, and the largest
    gap between native replay and mm-link's packet schedule (under 1 ms by construction).
    """
    from edgesim.network.mahimahi import parse_mahimahi, resolution_errors
    from edgesim.network.traces import TraceFormatError
    from edgesim.units import UnitError, parse_size
    try:
        nbytes = [parse_size(x) for x in sizes]
        if any(b <= 0 for b in nbytes):
            raise ValueError(f"--size must be > 0, got {list(sizes)}")
        rows = resolution_errors(parse_mahimahi(Path(file)), nbytes, bin_s=bin_ms / 1000.0,
                                 starts=starts)
    except (TraceFormatError, UnitError, ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"{file}: {bin_ms} ms bins vs native 1 ms, {starts} starts on ms boundaries")
    click.echo(f"{'bytes':>10} {'native s':>9} {'median':>8} {'p99':>8} {'max':>8} "
               f"{'vs packets':>10}")
    for r in rows:
        click.echo(f"{r['bytes']:>10.0f} {r['native_median_s']:>9.4f} {r['binned_median']:>8.1%} "
                   f"{r['binned_p99']:>8.1%} {r['binned_max']:>8.1%} "
                   f"{r['native_vs_packet_max_ms']:>7.3f} ms")


# Camera workload traces (ROIs per frame) live in cli_video.py; OpenCV is imported only when run.
from edgesim.cli.video import from_video as _from_video, generate as _generate  # noqa: E402

trace.add_command(_from_video)
trace.add_command(_generate)
