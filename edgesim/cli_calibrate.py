"""`edgesim calibrate` (profile PyTorch models into a bundle, check a bundle on held-out batch
sizes) and `edgesim testbed` (a real mini-deployment on this machine against its simulation).

Importing this module does not import torch: every torch-using import is inside a command.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import click

_CTX = {"help_option_names": ["-h", "--help"]}
_INSTALL = 'pip install -c constraints.txt -e ".[calibrate]"'


def _die(msg: str) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(2)


def _ints(option: str, text: str) -> list:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected comma-separated integers, e.g. 1,2,4",
                                 param_hint=option) from None
    if not vals or min(vals) < 1:
        raise click.BadParameter(f"{text!r}: expected integers >= 1", param_hint=option)
    return vals


def _floats(option: str, text: str) -> list:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected comma-separated numbers, e.g. 0.5,0.8",
                                 param_hint=option) from None
    if not vals or min(vals) <= 0:
        raise click.BadParameter(f"{text!r}: expected numbers > 0", param_hint=option)
    return vals


def _names(text: str) -> list:
    return [x.strip() for x in text.split(",") if x.strip()]


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        _die(f"this command needs PyTorch: {_INSTALL}")


def _interactive(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _warn(msg: str) -> None:
    click.echo(click.style("warning: ", fg="yellow", bold=True) + msg, err=True)


class _Bar:
    """A rich progress bar on a terminal; silent otherwise."""

    def __init__(self, enabled: bool, what: str) -> None:
        self.enabled, self.what = enabled, what
        self._p = self._task = None

    def __enter__(self) -> "_Bar":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn)
            self._p = Progress(TextColumn(self.what), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[label]}"), TimeElapsedColumn(),
                               console=Console(stderr=True), transient=True)
            self._p.__enter__()
            self._task = self._p.add_task(self.what, total=None, label="")
        return self

    def __call__(self, done: int, total: int, label: str) -> None:
        if self._p is not None:
            self._p.update(self._task, completed=done, total=total, label=label)

    def __exit__(self, *exc) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)


# ============================================================================================
# edgesim calibrate


@click.group("calibrate", invoke_without_command=True, context_settings=_CTX)
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True,
              help="where to run the models; auto: cuda when torch sees a GPU")
@click.option("--models", metavar="A,B,C", help="zoo model names (required to profile), e.g. "
              "resnet20,mobilenet_v2_x0.5@160; 'list' prints them")
@click.option("--batch", "batch_text", default="1,2,4,8,16,32", show_default=True, metavar="B1,B2,..",
              help="batch sizes")
@click.option("--threads", type=click.IntRange(min=1), help="torch intra-op threads "
              "(default: torch's default on this machine)")
@click.option("--phase", "phase_text", default="infer,train", show_default=True,
              help="infer, train or both")
@click.option("--min-run-time", type=click.FloatRange(min=0, min_open=True), default=0.2,
              show_default=True, help="seconds of timed calls per (model, phase, batch)")
@click.option("--malloc", type=click.Choice(["stable", "default"]), default="stable", show_default=True,
              help="CPU: stable keeps glibc malloc from page-faulting large activations in afresh "
              "on every call (see docs/validation.md); default leaves malloc alone")
@click.option("--out", type=click.Path(file_okay=False), help="bundle folder "
              "(default: calibration/<device-id>/)")
@click.option("--device-id", help="the bundle's device id (default: derived from the hardware)")
@click.option("--notes", default="", help="free text stored in meta.json")
@click.option("--force", is_flag=True, help="replace an existing bundle at --out")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar, no table")
@click.pass_context
def calibrate(ctx: click.Context, device: str, models: Optional[str], batch_text: str,
              threads: Optional[int], phase_text: str, min_run_time: float, malloc: str,
              out: Optional[str], device_id: Optional[str], notes: str, force: bool,
              quiet: bool) -> None:
    """Profile zoo models with PyTorch on this machine and write a calibration bundle.

    \b
    edgesim calibrate --device cpu --models resnet20,roi_object --batch 1,2,4,8 --threads 1 \\
        --phase infer --out calibration/cpu-reference/
    edgesim calibrate check calibration/cpu-reference/      # held-out batch sizes vs interpolation

    The bundle (meta.json with this machine's fingerprint and the command line, latency.csv,
    samples.parquet) is written atomically. Lock the clocks first; a warning says when they are
    not locked (or when that cannot be told).
    """
    if ctx.invoked_subcommand is not None:
        return
    if not models:
        raise click.UsageError("--models is required (comma-separated zoo names; "
                               "`edgesim calibrate --models list` prints them)")
    batches = _ints("--batch", batch_text)
    phases = _names(phase_text)
    bad = [p for p in phases if p not in ("infer", "train")]
    if bad or not phases:
        raise click.BadParameter(f"{phase_text!r}: phases are infer and train", param_hint="--phase")
    _need_torch()
    from .calibration import profiler, zoo
    names = _names(models)
    if names == ["list"]:
        for m in zoo.available():
            click.echo(f"{m:<22} {zoo.spec(m).description}")
        return
    known, unknown = profiler.canonical_names(names, zoo)
    if unknown:
        for _, msg in unknown:
            click.echo(f"error: {msg}", err=True)
        sys.exit(2)
    try:
        device = profiler.resolve_device(device)
    except profiler.ProfileError as exc:
        _die(str(exc))
    import torch
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)

    from .calibration.fingerprint import device_id as make_id, fingerprint
    fp = fingerprint(device)
    did = device_id or make_id(fp, threads)
    target = Path(out) if out else Path("calibration") / did
    if (target / "meta.json").exists() and not force:
        _die(f"{target} already holds a bundle; pass --force to replace it")
    if target.exists() and not target.is_dir():
        _die(f"{target} exists and is not a folder")
    for w in fp["warnings"]:
        _warn(w)
    out_text = out if out else f"{target}/"
    command = shlex.join(["edgesim", "calibrate", "--device", device, "--models", ",".join(known),
                          "--batch", ",".join(map(str, sorted(set(batches)))), "--threads",
                          str(threads), "--phase", ",".join(dict.fromkeys(phases)),
                          "--min-run-time", repr(min_run_time)]
                         + (["--malloc", malloc] if device == "cpu" else []) + ["--out", out_text])
    import warnings as _w
    with _w.catch_warnings(record=True) as caught, _Bar(_interactive(quiet), "profiling") as bar:
        _w.simplefilter("always", RuntimeWarning)
        try:
            table, samples = profiler.profile(known, device=device, batches=batches, threads=threads,
                                              phases=phases, min_run_time=min_run_time, progress=bar,
                                              malloc=malloc)
        except profiler.ProfileError as exc:
            _die(str(exc))
    for c in caught:
        if issubclass(c.category, RuntimeWarning):
            _warn(str(c.message))
    if table.empty:
        _die("nothing was measured (every cell failed); no bundle written")
    fp["profiler"] = {"device": device, "threads": threads, "batches": sorted(set(batches)),
                      "phases": list(dict.fromkeys(phases)), "min_run_time": min_run_time,
                      "malloc": table.attrs.get("malloc", "default"),
                      "timer": ("cuda events, synchronised per call" if device == "cuda" else
                                "torch.utils.benchmark.Timer: per call when a call takes >= 1 ms, "
                                "else blocked_autorange (samples are per-block means)"),
                      "skipped": list(table.attrs.get("skipped", []))}
    meta = {"schema_version": 1, "device_id": did, "provenance": "measured", "fingerprint": fp,
            "command": command, "sources": [], "notes": notes}
    from .calibration.bundle import BundleError, write_bundle
    try:
        write_bundle(target, meta, table, samples)
    except (BundleError, OSError) as exc:
        _die(f"could not write the bundle: {exc}")
    if not quiet:
        _print_profile(table, target)


def _print_profile(table, target: Path) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"{target}: {len(table)} rows")
    for col, just in (("model", "left"), ("phase", "left"), ("batch", "right"), ("n", "right"),
                      ("median ms", "right"), ("p90 ms", "right"), ("GFLOP", "right"),
                      ("peak MB", "right")):
        t.add_column(col, justify=just)
    for r in table.itertuples(index=False):
        t.add_row(r.model, r.phase, str(r.batch), str(r.n), f"{r.median_ms:.3f}", f"{r.p90_ms:.3f}",
                  f"{r.flops / 1e9:.3f}" if r.flops == r.flops else "-",
                  f"{r.peak_mem_mb:.1f}" if r.peak_mem_mb == r.peak_mem_mb else "-")
    Console().print(t)


@calibrate.command("check", context_settings=_CTX)
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--batches", "batch_text", metavar="B1,B2,..", help="held-out batch sizes "
              "(default: midpoints between the bundle's measured sizes)")
@click.option("--models", help="models to check (default: all in the bundle)")
@click.option("--phase", "phase_text", default="infer", show_default=True)
@click.option("--min-run-time", type=click.FloatRange(min=0, min_open=True),
              help="default: the bundle's own")
@click.option("--target", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="MAPE target, percent")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--markdown", is_flag=True, help="a Markdown table (for docs/validation.md)")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar")
def check(bundle: str, batch_text: Optional[str], models: Optional[str], phase_text: str,
          min_run_time: Optional[float], target: float, as_json: bool, markdown: bool,
          quiet: bool) -> None:
    """Measure batch sizes BUNDLE did not measure and compare them with its interpolation.

    Uses the bundle's device, threads and minimum run time. Prints model, batch, predicted,
    measured, error % and the MAPE, with PASS/FAIL against --target; the exit status is 0 either
    way (2 for a bad bundle or argument).
    """
    _need_torch()
    from .calibration.bundle import BundleError, load_bundle
    from .calibration.fingerprint import fingerprint
    from .calibration.testbed import check_bundle
    batches = _ints("--batches", batch_text) if batch_text else None
    phases = _names(phase_text)
    try:
        b = load_bundle(bundle)
    except BundleError as exc:
        _die(str(exc))
    fp_old = b.meta.get("fingerprint") or {}
    dev = (fp_old.get("profiler") or {}).get("device") or fp_old.get("device") or "cpu"
    fp_now = fingerprint(dev)
    if not as_json:
        for key in ("cpu_model", "gpu", "torch", "jetson_model"):
            if fp_old.get(key) != fp_now.get(key):
                _warn(f"this machine's {key} ({fp_now.get(key)!r}) differs from the bundle's "
                      f"({fp_old.get(key)!r})")
        for w in fp_now["warnings"]:
            _warn(w)
    try:
        with _Bar(_interactive(quiet) and not as_json, "checking") as bar:
            res = check_bundle(b, batches=batches, models=_names(models) if models else None,
                               phases=phases, min_run_time=min_run_time, target_pct=target,
                               progress=bar)
    except (LookupError, ValueError) as exc:
        _die(str(exc))
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    _print_check(res, markdown)


def _fmt(x, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def _print_check(res: dict, markdown: bool) -> None:
    verdict = "PASS" if res["pass"] else "FAIL"
    mape = _fmt(res["mape_pct"], ".2f")
    head = ["model", "phase", "batch", "predicted ms", "measured ms", "error %"]
    rows = [[r["model"], r["phase"], str(r["batch"]), _fmt(r["predicted_ms"]),
             _fmt(r["measured_ms"]), _fmt(r["error_pct"], "+.2f")] for r in res["rows"]]
    summary = (f"MAPE {mape} % (target <= {res['target_pct']:g} %): {verdict}   "
               f"[{res['device_id']}, {res['device']}, {res['predictor']}]")
    if markdown:
        click.echo("| " + " | ".join(head) + " |")
        click.echo("|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|")
        for r in rows:
            click.echo("| " + " | ".join(r) + " |")
        click.echo(f"\n{summary}")
    else:
        from rich.console import Console
        from rich.table import Table
        t = Table(title=f"calibrate check {res['bundle']}")
        for i, h in enumerate(head):
            t.add_column(h, justify="left" if i < 2 else "right")
        for r in rows:
            t.add_row(*r)
        Console().print(t)
        click.echo(summary)
    for n in res["notes"]:
        click.echo(f"note: {n}")


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
