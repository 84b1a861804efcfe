"""`edgesim testbed`: a real mini-deployment on this machine against its simulation.

Split out of :mod:`edgesim.cli_calibrate`, which re-exports ``testbed``.

Importing this module does not import torch: every torch-using import is inside the command.
"""
from __future__ import annotations

import json
from typing import Optional

import click

from .cli_common import _CTX, _die, _floats, _fmt, _ints, _warn


# ============================================================================================
# edgesim testbed


@click.command("testbed", context_settings=_CTX)
@click.option("--bundle", required=True, type=click.Path(file_okay=False),
              help="calibration bundle with the model's batch-1 infer row (and samples)")
@click.option("--model", required=True, help="zoo model name, as in the bundle")
@click.option("--workers", "workers_text", default="1,2", show_default=True,
              help="worker processes per configuration, one core each")
@click.option("--load", "load_text", default="0.5,0.8", show_default=True,
              help="offered load per worker (arrival rate = load * W / mean service)")
@click.option("--requests", type=click.IntRange(min=10), default=2000, show_default=True,
              help="requests per real run")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads per worker")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--warmup", type=click.FloatRange(0, 0.5), default=0.05, show_default=True,
              help="fraction of requests (the first ones) left out of the statistics")
@click.option("--sim-requests", type=click.IntRange(min=10),
              help="requests per simulation (default: max(10 x --requests, 20000))")
@click.option("--replay", is_flag=True, help="also simulate the real run's own arrival times, with "
              "the bundle's service times and (diagnosis) with the workers' measured ones")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=600, show_default=True,
              help="seconds allowed per real run")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--markdown", is_flag=True, help="a Markdown table (for docs/validation.md)")
@click.option("-q", "--quiet", is_flag=True, help="no progress messages")
def testbed(bundle: str, model: str, workers_text: str, load_text: str, requests: int,
            threads: int, seed: int, warmup: float, sim_requests: Optional[int], replay: bool,
            timeout_s: float, as_json: bool, markdown: bool, quiet: bool) -> None:
    """Serve MODEL for real on this machine, simulate the same system, and compare them.

    W worker processes (pinned one per core, --threads torch threads each) serve batch-1
    inference from one FIFO queue; Poisson arrivals at load * W / S, S the bundle's batch-1
    mean. The simulation (one node, W executors, FIFO, Poisson at the same rate) draws service
    times from the bundle's raw samples (dist: empirical), never from the testbed's own timings.
    Prints mean, p50, p95 latency and throughput, sim vs real, with PASS/FAIL against the
    targets (mean 10 %, p95 15 %, throughput 5 %). The exit status is 0 either way.
    """
    from .calibration.bundle import BundleError, load_bundle
    from .calibration.testbed import bundle_service, run_testbed
    workers = _ints("--workers", workers_text)
    loads = _floats("--load", load_text)
    if max(loads) >= 1:
        raise click.BadParameter("loads must be < 1 (an open queue above 1 never settles)",
                                 param_hint="--load")
    try:
        b = load_bundle(bundle)
        bundle_service(b, model, threads)
    except (BundleError, LookupError) as exc:
        _die(str(exc))
    thr = b.table.loc[(b.table["model"] == model) & (b.table["phase"] == "infer"), "threads"].dropna()
    if len(thr) and threads not in set(int(x) for x in thr):
        _warn(f"the bundle measured {model} with {sorted(set(int(x) for x in thr))} thread(s), "
              f"the testbed runs {threads}: the comparison is not like for like")
    import os
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if max(workers) > cores:
        _warn(f"{max(workers)} workers on {cores} usable core(s): workers will share cores")
    say = (lambda m: click.echo(m, err=True)) if not quiet and not as_json else None
    try:
        res = run_testbed(b, model, workers, loads, requests=requests, threads=threads, seed=seed,
                          warmup=warmup, timeout_s=timeout_s, sim_requests=sim_requests,
                          replay=replay, progress=say)
    except (RuntimeError, TimeoutError) as exc:
        _die(str(exc))
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    _print_testbed(res, markdown)


def _print_testbed(res: dict, markdown: bool) -> None:
    label = {"mean": "mean ms", "p50": "p50 ms", "p95": "p95 ms", "throughput": "req/s"}
    head = ["W", "load", "metric", "real", "sim", "diff %", "target", "result"]
    if res["settings"]["replay"]:
        head += ["replay", "diff %", "own svc", "diff %"]
    rows = []
    for r in res["rows"]:
        for name, m in r["metrics"].items():
            tgt = m["target_pct"]
            verdict = "" if m["pass"] is None else ("PASS" if m["pass"] else "FAIL")
            row = [str(r["workers"]), f"{r['load']:g}", label[name],
                   _fmt(m["real"], ".2f"), _fmt(m["sim"], ".2f"), _fmt(m["diff_pct"], "+.1f"),
                   "-" if tgt is None else f"±{tgt:g} %", verdict]
            if res["settings"]["replay"]:
                rm = r["replay_metrics"][name]
                om = (r.get("own_service_metrics") or {}).get(name, {})
                row += [_fmt(rm["sim"], ".2f"), _fmt(rm["diff_pct"], "+.1f"),
                        _fmt(om.get("sim"), ".2f"), _fmt(om.get("diff_pct"), "+.1f")]
            rows.append(row)
    notes = [f"service model: {res['service']}"]
    if res["settings"]["replay"]:
        notes.append("replay: the real run's arrival times, bundle service times; own svc: the same "
                     "arrivals with the workers' own measured service times (a diagnosis of the "
                     "queueing model and messaging overhead, not a prediction)")
    for r in res["rows"]:
        ci = r["real"].get("mean_ci95_ms")
        notes.append(f"W={r['workers']} load={r['load']:g}: rate {r['rate_rps']:.2f}/s (real arrivals "
                     f"{_fmt(r['real'].get('arrival_rate_rps'), '.2f')}/s); real mean latency "
                     f"{_fmt(r['real']['mean_ms'], '.2f')}"
                     + (f" ± {ci:.2f} ms (95 % CI)" if ci is not None else " ms") + "; real service "
                     f"mean {_fmt(r['real_service_mean_ms'], '.3f')} ms vs bundle "
                     f"{r['bundle_service_mean_ms']:.3f} ms (real utilisation "
                     f"{_fmt(r['real_utilisation'], '.3f')}); dispatch lag p99 "
                     f"{_fmt(r['dispatch_lag_p99_ms'], '.3f')} ms; {r['real']['n']} requests measured"
                     + (", TIMED OUT" if r["timed_out"] else "")
                     + (f", {r['real']['missing']} unanswered" if r["real"]["missing"] else "")
                     + (", workers share cores" if r["oversubscribed"] else "")
                     + (f"; other processes used {r['other_cores']:.2f} core(s)"
                        if r.get("other_cores") is not None else "")
                     + (f", steal {r['steal_cores']:.2f}" if (r.get("steal_cores") or 0) >= 0.01 else ""))
    verdict = "PASS" if res["pass"] else "FAIL"
    if markdown:
        click.echo("| " + " | ".join(head) + " |")
        click.echo("|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|")
        for row in rows:
            click.echo("| " + " | ".join(row) + " |")
        click.echo("")
        for n in notes:
            click.echo(f"- {n}")
        click.echo(f"\noverall: {verdict}")
        return
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"testbed {res['model']} · {res['device_id']} · sim vs real", min_width=60)
    for i, h in enumerate(head):
        t.add_column(h, justify="left" if i < 3 else "right")
    for row in rows:
        t.add_row(*row)
    Console().print(t)
    for n in notes:
        click.echo(n)
    click.echo(f"overall: {verdict}")
