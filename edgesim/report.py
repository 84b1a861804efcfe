"""Terminal output for `edgesim run`: a progress bar over simulated time and a summary table."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from edgesim.units import format_duration


@contextmanager
def progress_bar(duration: float) -> Iterator[Callable[[float, float], None]]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[now]}"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("sim", total=duration, now="")

        def update(now: float, total: float) -> None:
            bar.update(task, completed=now, now=f"{format_duration(now, 4)} / {format_duration(total, 4)}")

        yield update


def fmt(x, unit: str = "") -> str:
    """A summary value for a table: '-' for None, durations and shares in their units."""
    if x is None:
        return "-"
    if unit == "s":
        return format_duration(x, 4)
    if unit == "%":
        return f"{100 * x:.2f} %"
    return f"{x:,.4g}" if isinstance(x, float) else f"{x:,}"


def print_summary(s: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"{s['scenario']} · policy {s['policy']} · seed {s['seed']}", show_header=False)
    t.add_column(style="bold")
    t.add_column(justify="right", overflow="fold")
    r = s["requests"]
    t.add_row("requests", f"{r['generated']:,} generated, {r['completed']:,} completed, "
              f"{r['dropped']:,} dropped, {r['failed']:,} failed, {r['timed_out']:,} timed out")
    u = r.get("units")
    if u is not None:           # an aggregating source: the figures below count arrivals
        t.add_row("arrivals carried", f"{fmt(u['generated'])} generated, "
                  f"{u['completed']:,} completed (latency, SLO and throughput count these)")
    tp = s["throughput_ips"]
    t.add_row("throughput (arrivals/s)" if u is not None else "throughput (req/s)", f"avg {fmt(tp['avg'])}  p50 {fmt(tp['median'])}  "
              f"p99 {fmt(tp['p99'])}")
    lat = s["latency_s"]
    t.add_row("latency", "  ".join(f"{k} {fmt(lat[k], 's')}" for k in ("mean", "p50", "p95",
                                                                         "p99")))
    if s.get("slo_s") is not None:
        t.add_row(f"SLO miss ({format_duration(s['slo_s'])})", fmt(s["slo_miss_rate"], "%"))
    util = s["utilization"]
    if util:
        top = sorted(util.items(), key=lambda kv: -(kv[1] or 0))[:4]
        t.add_row("utilization", "  ".join(f"{k} {fmt(v, '%')}" for k, v in top)
                  + (" ..." if len(util) > 4 else ""))
    t.add_row("simulated / wall", f"{format_duration(s['sim_time_s'], 4)} in "
              f"{s['wall_time_s']:.2f} s ({s['events']:,} events)")
    t.add_row("results", str(out))
    Console().print(t)


def print_training_summary(s: dict, out: Path) -> None:
    """The summary table of a training run: the rows its system reports (the registry's
    ``report``), then the run's time."""
    from rich.console import Console
    from rich.table import Table
    system = s["system"]
    schedule = (s.get(system) or {}).get("schedule")
    t = Table(title=f"{s['scenario']} · {system}{f' {schedule}' if schedule else ''} · seed "
              f"{s['seed']}", show_header=False)
    t.add_column(style="bold")
    t.add_column(justify="right", overflow="fold")
    from edgesim.registry import get
    for key, value in get(system).load("report")(s):
        t.add_row(key, value)
    t.add_row("simulated / wall", f"{format_duration(s['sim_time_s'], 4)} in "
              f"{s['wall_time_s']:.2f} s ({s['events']:,} events)")
    t.add_row("results", str(out))
    Console().print(t)
