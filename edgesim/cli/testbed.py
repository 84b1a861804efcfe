"""`edgesim testbed` (a real mini-deployment on this machine against its simulation) and
`edgesim calibrate served` (served-mode profiling, which the testbed's simulation uses).

Split out of :mod:`edgesim.cli.calibrate`, which re-exports ``testbed`` and registers ``served``
under ``edgesim calibrate``.

Importing this module does not import torch: every torch-using import is inside the command.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Optional

import click

from edgesim.cli.common import _CTX, _die, _floats, _fmt, _ints, _names, _warn


def _cores() -> int:
    import os
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _batchings(text: str, max_batch: int, max_wait_ms: float) -> list:
    from edgesim.calibration.testbed.served_profile import parse_batching
    try:
        return parse_batching(_names(text), max_batch, max_wait_ms / 1e3)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--batching") from None


def _quantity(kind: str, option: str, text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    from edgesim.units import UnitError, parse_quantity
    try:
        return parse_quantity(kind, text)
    except (UnitError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


_BATCH_OPTS = [
    click.option("--batching", "batching_text", default="none", show_default=True,
                 help="none (batch 1), dynamic (up to --max-batch, waiting at most --max-wait), "
                      "or both: none,dynamic"),
    click.option("--max-batch", type=click.IntRange(min=2), default=4, show_default=True,
                 help="largest batch of dynamic batching"),
    click.option("--max-wait", "max_wait_ms", type=click.FloatRange(min=0), default=5.0,
                 show_default=True, help="ms the oldest request waits for a batch to fill"),
]


def _with(opts):
    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f
    return deco


# ============================================================================================
# edgesim calibrate served


@click.command("served", context_settings=_CTX)
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--model", required=True, help="zoo model name, as in the bundle")
@click.option("--workers", "workers_text", default="1,2", show_default=True,
              help="worker counts to profile (each worker its own queue, all at once)")
@click.option("--load", "load_text", default="0.5,0.8", show_default=True,
              help="offered load per worker (arrival rate = load / the bundle's batch-1 mean)")
@click.option("--calls", type=click.IntRange(min=10), default=2000, show_default=True,
              help="requests per worker and run")
@_with(_BATCH_OPTS)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads per worker")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False),
              help="bundle folder to write (default: BUNDLE itself, rewritten atomically)")
@click.option("-q", "--quiet", is_flag=True, help="no progress messages")
def served(bundle: str, model: str, workers_text: str, load_text: str, calls: int,
           batching_text: str, max_batch: int, max_wait_ms: float, threads: int, seed: int,
           out: Optional[str], quiet: bool) -> None:
    """Profile MODEL as a server sees its calls and store them in BUNDLE (served.parquet).

    \b
    edgesim calibrate served calibration/cpu-reference --model mobilenet_v2_x0.5 \\
        --workers 1,2 --load 0.5,0.8 --batching none,dynamic --out /tmp/cpu-served

    The testbed's own worker processes, each with its own queue of Poisson arrivals at
    load / S (S: the bundle's batch-1 back-to-back mean) and the given batching; every call's
    batch size, the idle gap before it and its time go into served.parquet, replacing earlier
    served calls of MODEL with the same worker counts. `edgesim testbed --service served` and
    edgesim.hardware.profiles.served_model.ServedService use them.
    """
    from edgesim.cli.common import _need_torch
    _need_torch()
    from edgesim.hardware.profiles.bundle import BundleError, load_bundle, write_bundle
    from edgesim.calibration.check import bundle_malloc
    from edgesim.calibration.testbed.served_profile import profile_served
    from edgesim.calibration.testbed.run import bundle_service
    workers = _ints("--workers", workers_text)
    loads = _floats("--load", load_text)
    if max(loads) >= 1:
        raise click.BadParameter("loads must be < 1", param_hint="--load")
    batchings = _batchings(batching_text, max_batch, max_wait_ms)
    try:
        b = load_bundle(bundle)
        svc = bundle_service(b, model, threads)
    except (BundleError, LookupError) as exc:
        _die(str(exc))
    if max(workers) > _cores():
        _warn(f"{max(workers)} workers on {_cores()} usable core(s): workers will share cores")
    say = (lambda m: click.echo(m, err=True)) if not quiet else None
    try:
        df = profile_served(model, svc.mean_s, loads, workers, calls, batchings, threads, seed,
                            bundle_malloc(b), progress=say)
    except (RuntimeError, TimeoutError, ValueError) as exc:
        _die(str(exc))
    import pandas as pd
    runs = [dict(r) for r in df.attrs.get("runs", [])]    # concat below drops attrs
    old = b.load_served() if b.has_served() else None
    if old is not None:
        keep = old[~((old["model"] == model) & old["workers"].isin(workers))]
        shift = int(old["run"].max()) + 1 if len(old) else 0
        df["run"] = df["run"] + shift
        for r in runs:
            r["run"] += shift
        df = pd.concat([keep, df], ignore_index=True)
    meta = dict(b.meta)
    command = shlex.join(["edgesim", "calibrate", "served", bundle, "--model", model, "--workers",
                          workers_text, "--load", load_text, "--calls", str(calls), "--batching",
                          batching_text, "--max-batch", str(max_batch), "--max-wait",
                          f"{max_wait_ms:g}", "--threads", str(threads), "--seed", str(seed)]
                         + (["--out", out] if out else []))
    from datetime import datetime, timezone
    meta["served"] = _without_workers(meta.get("served", []), model, workers)
    meta["served"].append({"model": model, "workers": workers, "loads": loads, "calls": calls,
                           "batching": [bt.label for bt in batchings], "threads": threads,
                           "command": command, "runs": runs,
                           "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat()})
    target = Path(out) if out else Path(bundle)
    try:
        write_bundle(target, meta, b.table, b.load_samples(), df)
    except (BundleError, OSError) as exc:
        _die(f"could not write the bundle: {exc}")
    if not quiet:
        new = df[df["model"] == model]
        for (w, load, mb), g in new.groupby(["workers", "load", "max_batch"]):
            cold = (g["gap_ms"] >= 0.2).mean()
            one = g[g["batch"] == 1]
            click.echo(f"W={w} load={load:g} max_batch={mb}: {len(g)} calls, {cold:.0%} after an "
                       f"idle gap; batch-1 time mean {_fmt(one['sample_ms'].mean(), '.3f')} ms "
                       f"(model alone {_fmt(one['compute_ms'].mean(), '.3f')} ms; back to back "
                       f"{svc.mean_s * 1e3:.3f} ms)")
        click.echo(f"wrote {target / 'served.parquet'}")


def _without_workers(entries: list, model: str, workers: list) -> list:
    """The bundle's served entries less the worker counts being profiled again: an entry that
    also covered other counts keeps them (with their runs), so their provenance stays."""
    out = []
    for e in entries:
        if e.get("model") != model or not set(e.get("workers", [])) & set(workers):
            out.append(e)
            continue
        left = [w for w in e.get("workers", []) if w not in workers]
        if left:
            out.append(dict(e, workers=left,
                            runs=[r for r in e.get("runs", []) if r.get("workers") in left]))
    return out


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
@_with(_BATCH_OPTS)
@click.option("--service", type=click.Choice(["auto", "served", "backtoback"]), default="auto",
              show_default=True, help="simulated service times: the bundle's served-mode calls "
              "(edgesim calibrate served), its back-to-back samples, or served when it has them")
@click.option("--order", type=click.Choice(["replay", "ar1", "iid"]), default="replay",
              show_default=True, help="served mode: how successive calls are correlated")
@click.option("--served-match", type=click.Choice(["workers", "config"]), default="workers",
              show_default=True, help="served mode: model each configuration on the served "
              "calls of the profiled configuration nearest it (workers, load, batching), or on "
              "every served call of its worker count")
@click.option("--requests", type=click.IntRange(min=10), default=2000, show_default=True,
              help="requests per real run, at least")
@click.option("--max-requests", type=click.IntRange(min=10),
              help="requests per real run at most; the run goes on until the real mean's 95 % CI "
                   "is within --ci-frac of the mean target (default: 10 x --requests)")
@click.option("--ci-frac", type=click.FloatRange(min=0, max=10, min_open=True), default=1.0,
              show_default=True, help="stop once the CI half-width is this fraction of the "
              "mean-latency target (1: within 10 % of the mean, 0.5: within 5 %)")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads per worker")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--warmup", type=click.FloatRange(0, 0.5), default=0.05, show_default=True,
              help="fraction of requests (the first ones) left out of the statistics")
@click.option("--sim-requests", type=click.IntRange(min=10),
              help="requests per simulation (default: max(10 x --requests, 20000))")
@click.option("--replay", is_flag=True, help="also simulate the real run's own arrival times, with "
              "the bundle's service times and (diagnosis) with the workers' measured calls")
@click.option("--two-tier", is_flag=True, help="a camera process sends frames over a shaped link "
              "to the edge server (see --link)")
@click.option("--link", type=click.Choice(["auto", "netns", "bucket"]), default="auto",
              show_default=True, help="two-tier link: a veth pair into a network namespace shaped "
              "by tc tbf (root), or a token bucket in the camera process; auto: netns if possible")
@click.option("--link-rate", help="two-tier link rate, e.g. 20Mbps (default: from --link-load)")
@click.option("--link-load", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.5, show_default=True, help="two-tier: link utilisation that sets the rate "
              "per configuration when --link-rate is not given")
@click.option("--frame-bytes", default="20kB", show_default=True, help="two-tier frame size")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=600, show_default=True,
              help="seconds allowed per real run")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--markdown", is_flag=True, help="a Markdown table (for docs/validation.md)")
@click.option("-q", "--quiet", is_flag=True, help="no progress messages")
def testbed(bundle: str, model: str, workers_text: str, load_text: str, batching_text: str,
            max_batch: int, max_wait_ms: float, service: str, order: str, served_match: str,
            requests: int,
            max_requests: Optional[int], ci_frac: float, threads: int, seed: int, warmup: float,
            sim_requests: Optional[int], replay: bool, two_tier: bool, link: str,
            link_rate: Optional[str], link_load: float, frame_bytes: str, timeout_s: float,
            as_json: bool, markdown: bool, quiet: bool) -> None:
    """Serve MODEL for real on this machine, simulate the same system, and compare them.

    W worker processes (pinned one per core, --threads torch threads each) serve inference from
    one FIFO queue with the given batching; Poisson arrivals at load * W / S, S the bundle's
    batch-1 mean. Each real run lasts until its mean latency is known to --ci-frac of the
    target. The simulation (one node, W executors, the same queue and batching) draws service
    times from the bundle's served-mode calls (idle-gap dependent, correlated) or its
    back-to-back samples, never from the testbed's own timings. --two-tier puts a camera
    process and a shaped link in front. Prints mean, p50, p95 latency and throughput, sim vs
    real, with PASS/FAIL against the targets (mean 10 %, p95 15 %, throughput 5 %). The exit
    status is 0 either way.
    """
    from edgesim.hardware.profiles.bundle import BundleError, load_bundle
    from edgesim.calibration.testbed.run import bundle_service, run_testbed
    workers = _ints("--workers", workers_text)
    loads = _floats("--load", load_text)
    if max(loads) >= 1:
        raise click.BadParameter("loads must be < 1 (an open queue above 1 never settles)",
                                 param_hint="--load")
    batchings = _batchings(batching_text, max_batch, max_wait_ms)
    rate_bps = _quantity("bandwidth", "--link-rate", link_rate)
    frame = _quantity("size", "--frame-bytes", frame_bytes)
    if frame is not None and frame < 1:
        raise click.BadParameter("frames must be at least 1 byte", param_hint="--frame-bytes")
    try:
        b = load_bundle(bundle)
        bundle_service(b, model, threads)
    except (BundleError, LookupError) as exc:
        _die(str(exc))
    if service == "auto":
        have = b.has_served() and (b.load_served()["model"] == model).any()
        service = "served" if have else "backtoback"
        if not have:
            _warn(f"{bundle} has no served-mode calls of {model}: simulating back-to-back "
                  f"samples (make served ones with `edgesim calibrate served {bundle} --model "
                  f"{model}`)")
    thr = b.table.loc[(b.table["model"] == model) & (b.table["phase"] == "infer"), "threads"].dropna()
    if len(thr) and threads not in set(int(x) for x in thr):
        _warn(f"the bundle measured {model} with {sorted(set(int(x) for x in thr))} thread(s), "
              f"the testbed runs {threads}: the comparison is not like for like")
    if max(workers) > _cores():
        _warn(f"{max(workers)} workers on {_cores()} usable core(s): workers will share cores")
    say = (lambda m: click.echo(m, err=True)) if not quiet and not as_json else None
    common = dict(requests=requests, threads=threads, seed=seed, warmup=warmup,
                  timeout_s=timeout_s, sim_requests=sim_requests, replay=replay, progress=say,
                  batchings=batchings, service=service, order=order,
                  max_requests=max_requests, ci_frac=ci_frac, served_match=served_match)
    try:
        if two_tier:
            from edgesim.calibration.testbed.twotier import LinkError, run_twotier
            try:
                res = run_twotier(b, model, workers, loads, link=link, rate_bps=rate_bps,
                                  link_load=link_load, frame_bytes=int(frame), **common)
            except LinkError as exc:
                _die(str(exc))
        else:
            res = run_testbed(b, model, workers, loads, **common)
    except (RuntimeError, TimeoutError, LookupError, ValueError) as exc:
        _die(str(exc))
    if as_json:
        click.echo(json.dumps(res, indent=2, default=_jsonable))
        return
    _print_testbed(res, markdown)


def _jsonable(v):
    import numpy as np
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def _short(label: str) -> str:
    return "none" if label == "none" else "dynamic"


def _print_testbed(res: dict, markdown: bool) -> None:
    label = {"mean": "mean ms", "p50": "p50 ms", "p95": "p95 ms", "throughput": "req/s"}
    head = ["W", "load", "batching", "metric", "real", "sim", "diff %", "target", "result"]
    replay = res["settings"]["replay"]
    base = any("baseline_metrics" in r for r in res["rows"])
    if base:
        head += ["b2b sim", "diff %"]
    if replay:
        head += ["replay", "diff %", "own svc", "diff %"]
    rows = []
    for r in res["rows"]:
        for name, m in r["metrics"].items():
            tgt = m["target_pct"]
            verdict = "" if m["pass"] is None else ("PASS" if m["pass"] else "FAIL")
            row = [str(r["workers"]), f"{r['load']:g}", _short(r["batching"]), label[name],
                   _fmt(m["real"], ".2f"), _fmt(m["sim"], ".2f"), _fmt(m["diff_pct"], "+.1f"),
                   "-" if tgt is None else f"±{tgt:g} %", verdict]
            if base:
                bm = (r.get("baseline_metrics") or {}).get(name, {})
                row += [_fmt(bm.get("sim"), ".2f"), _fmt(bm.get("diff_pct"), "+.1f")]
            if replay:
                rm = r["replay_metrics"][name]
                om = (r.get("own_service_metrics") or {}).get(name, {})
                row += [_fmt(rm["sim"], ".2f"), _fmt(rm["diff_pct"], "+.1f"),
                        _fmt(om.get("sim"), ".2f"), _fmt(om.get("diff_pct"), "+.1f")]
            rows.append(row)
    notes = [f"service model: {res['service']}"]
    if res.get("link"):
        notes.append(f"link: {res['link']}")
    if base:
        notes.append("b2b sim: the same real runs against the simulation with the bundle's "
                     "back-to-back samples (the testbed's prediction before served mode)")
    if replay:
        notes.append("replay: the real run's arrival times, bundle service times; own svc: the same "
                     "arrivals with the served model fitted on the workers' own calls of that run "
                     "(a diagnosis of the queueing model, not a prediction)")
    for r in res["rows"]:
        ci = r["real"].get("mean_ci95_ms")
        notes.append(
            f"W={r['workers']} load={r['load']:g} batching={r['batching']}: rate "
            f"{r['rate_rps']:.2f}/s (real arrivals {_fmt(r['real'].get('arrival_rate_rps'), '.2f')}/s); "
            f"real mean latency {_fmt(r['real']['mean_ms'], '.2f')}"
            + (f" ± {ci:.2f} ms (95 % CI{'' if r.get('ci_ok') else ', WIDER THAN THE TARGET'})"
               if ci is not None else " ms") + f"; {r['requests']} requests"
            + f"; batch-1 model time {_fmt(r['real_service_mean_ms'], '.3f')} ms, occupancy "
            f"{_fmt(r.get('real_occupancy_mean_ms'), '.3f')} ms (bundle back to back "
            f"{r['bundle_service_mean_ms']:.3f} ms); mean batch {_fmt(r.get('real_mean_batch'), '.2f')}"
            f"; cold calls {_fmt(r.get('real_cold_fraction'), '.2f')}; utilisation "
            f"{_fmt(r['real_utilisation'], '.3f')}; dispatch lag p99 "
            f"{_fmt(r['dispatch_lag_p99_ms'], '.3f')} ms"
            + (f"; link {r['link_rate_bps'] / 1e6:.2f} Mbit/s" if r.get("link_rate_bps") else "")
            + (", TIMED OUT" if r["timed_out"] else "")
            + (f", {r['real']['missing']} unanswered" if r["real"]["missing"] else "")
            + (", workers share cores" if r["oversubscribed"] else "")
            + (f"; {r['service_note']}" if r.get("service_note") else "")
            + (f"; other processes used {r['other_cores']:.2f} core(s)"
               if r.get("other_cores") is not None else "")
            + (f", steal {r['steal_cores']:.2f}" if (r.get("steal_cores") or 0) >= 0.01 else "")
            + ("; why it fails: " + "; ".join(r["why_not"]) if r.get("why_not") else ""))
    verdict = "PASS" if res["pass"] else "FAIL"
    if markdown:
        click.echo("| " + " | ".join(head) + " |")
        click.echo("|" + "|".join("---" if i < 4 else "---:" for i in range(len(head))) + "|")
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
        t.add_column(h, justify="left" if i < 4 else "right")
    for row in rows:
        t.add_row(*row)
    Console().print(t)
    for n in notes:
        click.echo(n)
    click.echo(f"overall: {verdict}")
