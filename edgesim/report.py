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
    """The summary table of a training run (DEEPCON, Mercury or federated)."""
    from rich.console import Console
    from rich.table import Table
    system = s["system"]
    body = s.get(system) or {}
    t = Table(title=f"{s['scenario']} · {system} {body.get('schedule', '')} · seed {s['seed']}",
              show_header=False)
    t.add_column(style="bold")
    t.add_column(justify="right", overflow="fold")
    from edgesim.training.systems import LEARNING, report_rows
    if system in LEARNING:
        t.title = f"{s['scenario']} · {system} · seed {s['seed']}"
        for key, value in report_rows(system, body):
            t.add_row(key, value)
    elif system == "deepcon" and "ota" in s:
        o = s["ota"]
        t.add_row("windows", f"{o['windows']:,} ({o['triggers']} triggered, "
                  f"{len(o['updates'])} updates deployed)")
        t.add_row("uploaded", f"{o['sample_bytes'] / 1e6:,.4g} MB of "
                  f"{o['full_stream_bytes'] / 1e6:,.4g} MB "
                  f"(saved {fmt(o['saved_by_sampling'], '%')})")
        t.add_row("gap shift", f"mean {fmt(o['mean_gap_shift'])}  max {fmt(o['max_gap_shift'])}")
        if "learning" in o:        # real models: what they learned from the uploads
            lo = o["learning"]
            t.add_row("held-out accuracy", f"{fmt(lo['initial']['mean_accuracy'], '%')} -> "
                      f"{fmt(lo['final_heldout_accuracy'], '%')} (mean over the run "
                      f"{fmt(lo['mean_heldout_accuracy'], '%')})")
            diff = (o.get("sampler_comparison") or {}).get("asrs_minus_random")
            if diff:
                t.add_row("asrs - random", f"final {100 * diff['final_heldout_accuracy']:+.2f} "
                          f"pp, mean {100 * diff['mean_heldout_accuracy']:+.2f} pp")
    elif system == "deepcon":
        t.add_row("workers / models", f"{body['workers']} / {len(body['models'])}")
        t.add_row(f"time to {body['rounds']} rounds", fmt(body["time_to_rounds_s"], "s"))
        t.add_row("worker utilisation", fmt(body["mean_utilisation"], "%"))
    else:
        t.add_row("devices", f"{body['devices']}")
        t.add_row("iteration (steady)", fmt(body["mean_iteration_s"], "s"))
        t.add_row("T_cp / T_cm", f"{fmt(body['t_cp_s'], 's')} / {fmt(body['t_cm_s'], 's')}")
        if body.get("speedup_vs_sgd") is not None:
            t.add_row("speedup vs SGD (Eq. 2.3)", f"{body['speedup_vs_sgd']:.3f}")
        if body.get("total_time_s") is not None:
            t.add_row("time to target", fmt(body["total_time_s"], "s")
                      + (" (extrapolated)" if body.get("extrapolated") else ""))
    t.add_row("simulated / wall", f"{format_duration(s['sim_time_s'], 4)} in "
              f"{s['wall_time_s']:.2f} s ({s['events']:,} events)")
    t.add_row("results", str(out))
    Console().print(t)
