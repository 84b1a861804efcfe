"""`edgesim calibrate` (profile PyTorch models into a bundle, check a bundle on held-out batch
sizes, merge bundles of one device, transfer to a device nobody measured) and `edgesim testbed`
(a real mini-deployment on this machine against its simulation; in cli_testbed.py, re-exported
here). Helpers shared by both are in cli_common.py.

Importing this module does not import torch: every torch-using import is inside a command.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import click

from edgesim.cli.common import (_CTX, _INSTALL, _Bar, _die, _floats, _fmt, _interactive, _ints,  # noqa: F401
                         _names, _need_torch, _warn)
# `edgesim testbed` lives in cli_testbed.py; it stays importable from here (cli.py imports it).
from edgesim.cli.testbed import testbed  # noqa: F401


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
    from edgesim.calibration import profiler, zoo
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

    from edgesim.calibration.fingerprint import device_id as make_id, fingerprint
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
                         + (["--malloc", malloc] if device == "cpu" else [])
                         + (["--device-id", device_id] if device_id else []) + ["--out", out_text])
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
    from edgesim.hardware.profiles.bundle import BundleError, write_bundle
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
    measured, error % and the MAPE, with PASS/FAIL against --target; the exit status is 0 for
    PASS, 1 for FAIL (so a script or CI job can act on it), 2 for a bad bundle or argument.
    """
    _need_torch()
    from edgesim.hardware.profiles.bundle import BundleError, load_bundle
    from edgesim.calibration.fingerprint import fingerprint
    from edgesim.calibration.testbed.run import check_bundle
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
    else:
        _print_check(res, markdown)
    if not res["pass"]:
        sys.exit(1)


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


@calibrate.command("merge", context_settings=_CTX)
@click.argument("bundles", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="the merged bundle folder")
@click.option("--on-duplicate", type=click.Choice(["error", "first", "last"]), default="error",
              show_default=True, help="a row (model, phase, batch, input shape, threads) in two "
              "bundles: an error, or keep the first / last bundle's")
@click.option("--fill-kernels/--no-fill-kernels", default=True, show_default=True,
              help="fill empty 'kernels' cells (bundles profiled before the column existed) from "
              "zoo.describe; needs PyTorch, skipped with a warning without it")
@click.option("--force", is_flag=True, help="replace an existing bundle at --out")
@click.option("-q", "--quiet", is_flag=True, help="no summary")
def merge(bundles: tuple, out: str, on_duplicate: str, fill_kernels: bool, force: bool,
          quiet: bool) -> None:
    """Merge BUNDLE... (all of one device id) into one bundle at --out.

    \b
    edgesim calibrate merge /tmp/cal/a /tmp/cal/b /tmp/cal/c --out calibration/cpu-reference

    Rows, extra columns and raw samples are concatenated; fingerprints are compared and every
    difference is printed as a warning; meta.command lists each source bundle's command, then
    this one. Different device ids or provenances are an error (exit status 2).
    """
    from edgesim.hardware.profiles.bundle import BundleError, load_bundle, write_bundle
    from edgesim.calibration.merge import fill_kernels as fill, merge_bundles
    target = Path(out)
    if (target / "meta.json").exists() and not force:
        _die(f"{target} already holds a bundle; pass --force to replace it")
    if any(Path(b).resolve() == target.resolve() for b in bundles):
        _die(f"--out {out} is one of the bundles being merged; write the merge elsewhere")
    command = shlex.join(["edgesim", "calibrate", "merge", *bundles, "--out", out]
                         + (["--on-duplicate", on_duplicate] if on_duplicate != "error" else [])
                         + ([] if fill_kernels else ["--no-fill-kernels"]))
    try:
        loaded = [load_bundle(b) for b in bundles]
        meta, table, samples, warns = merge_bundles(loaded, command, on_duplicate)
    except BundleError as exc:
        _die(str(exc))
    for w in warns:
        _warn(w)
    if fill_kernels:
        col = table["kernels"] if "kernels" in table.columns else None
        empty = col is None or any(str(v).strip() in ("", "nan", "None", "<NA>") for v in col)
        if empty:
            try:
                import torch  # noqa: F401
            except ImportError:
                _warn(f"rows without a kernel count stay empty: filling them needs PyTorch "
                      f"({_INSTALL})")
            else:
                from edgesim.calibration import zoo
                table, filled, failed = fill(table, zoo.describe)
                if filled:
                    meta["notes"] += (f" The 'kernels' column of {', '.join(filled)} (rows profiled "
                                      f"before the profiler wrote it) was filled by the merge from "
                                      f"zoo.describe, the function the profiler uses.")
                if failed:
                    _warn(f"no kernel count for {', '.join(failed)} (not zoo models?)")
    try:
        b = write_bundle(target, meta, table, samples)
    except (BundleError, OSError) as exc:
        _die(f"could not write the bundle: {exc}")
    if not quiet:
        click.echo(f"{target}: {len(b.table)} rows of {b.device_id!r} from {len(loaded)} bundle(s)"
                   f"{', with samples' if samples is not None else ''}")


@calibrate.command("transfer", context_settings=_CTX)
@click.option("--reference", "reference", multiple=True, required=True,
              type=click.Path(file_okay=False), help="bundle(s) with the models' FLOPs, bytes and "
              "kernel counts (the profiler's reference bundle); repeatable")
@click.option("--anchors", "anchors", multiple=True, required=True, type=click.Path(file_okay=False),
              help="bundle(s), or a folder of bundles, holding --like's measurements; repeatable")
@click.option("--to", "target", required=True, help="catalogue device to write a bundle for")
@click.option("--like", required=True, help="measured device whose fitted efficiencies and "
              "per-kernel time --to borrows (the same family)")
@click.option("--models", required=True, metavar="A,B,C", help="models (as in the reference bundle)")
@click.option("--batch", "batch_text", default="1,2,4,8,16,32", show_default=True, metavar="B1,B2,..")
@click.option("--phase", type=click.Choice(["infer", "train"]), default="infer", show_default=True)
@click.option("--no-overhead", is_flag=True, help="the two-parameter roofline (no K x tau term)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="bundle folder to write")
@click.option("--force", is_flag=True, help="replace an existing bundle at --out")
@click.option("--json", "as_json", is_flag=True, help="print the fit report as JSON")
@click.option("-q", "--quiet", is_flag=True, help="no table")
def transfer(reference: tuple, anchors: tuple, target: str, like: str, models: str, batch_text: str,
             phase: str, no_overhead: bool, out: str, force: bool, as_json: bool,
             quiet: bool) -> None:
    """Write a bundle (provenance transferred) for --to, a device with no measurement.

    \b
    edgesim calibrate transfer --reference calibration/cpu-reference \\
        --anchors calibration/literature --to jetson-tx1 --like jetson-nano \\
        --models roi_object,roi_color --batch 1,2,4,8,16,32 --out calibration/transferred/jetson-tx1

    t = max(b F / (eta P), bytes / (mu W)) + K tau: F, bytes, K from --reference; eta, mu, tau
    fitted on the models --like measured in --anchors that --reference also has (leave-one-out
    error in meta.notes); P, W the catalogue peaks of --to. Does not need PyTorch.
    """
    from edgesim.hardware.profiles.bundle import BundleError, load_bundles, write_bundle
    from edgesim.hardware.profiles.predictor import PredictionError, Predictor
    from edgesim.calibration.transfer import build_transferred, transfer_summary
    from edgesim.hardware.catalogue import CATALOGUE
    batches = _ints("--batch", batch_text)
    names = _names(models)
    if not names:
        raise click.BadParameter("give at least one model", param_hint="--models")
    for dev, opt in ((target, "--to"), (like, "--like")):
        if dev not in CATALOGUE:
            import difflib
            close = difflib.get_close_matches(dev, list(CATALOGUE), n=1)
            raise click.BadParameter(f"{dev!r} is not in the device catalogue"
                                     + (f" (did you mean {close[0]!r}?)" if close else ""),
                                     param_hint=opt)
    dest = Path(out)
    if (dest / "meta.json").exists() and not force:
        _die(f"{dest} already holds a bundle; pass --force to replace it")
    command = shlex.join(["edgesim", "calibrate", "transfer"]
                         + [x for r in reference for x in ("--reference", r)]
                         + [x for a in anchors for x in ("--anchors", a)]
                         + ["--to", target, "--like", like, "--models", ",".join(names), "--batch",
                            ",".join(map(str, sorted(set(batches)))), "--phase", phase]
                         + (["--no-overhead"] if no_overhead else []) + ["--out", out])
    try:
        loaded = load_bundles([*reference, *anchors])
    except BundleError as exc:
        _die(str(exc))
    if like not in loaded:
        _die(f"--like {like!r}: no bundle of that device under {', '.join(anchors)} (found: "
             f"{', '.join(sorted(loaded)) or 'none'})")
    pred = Predictor(loaded, efficiency_from={target: like}, overhead=not no_overhead)
    try:
        meta, table, reports = build_transferred(pred, target, like, names, batches, phase,
                                                 reference=list(reference), anchors=list(anchors),
                                                 command=command)
        b = write_bundle(dest, meta, table)
    except (PredictionError, BundleError, OSError, ValueError) as exc:
        _die(str(exc))
    if as_json:
        click.echo(json.dumps({v or "eager": r for v, r in reports.items()}, indent=2, default=str))
        return
    if quiet:
        return
    for v, rep in reports.items():
        loo = rep["loo"] or {}
        fit = (f"eta={rep['eta']:.4g} mu={rep['mu']:.4g} tau={rep['tau'] * 1e6:.4g} us/kernel"
               if rep["model"] == "roofline+overhead" else
               f"eta={rep['eta']:.4g} mu={rep['mu']:.4g} (two-parameter roofline"
               + (f": {rep['fallback']}" if rep["fallback"] else "") + ")")
        click.echo(f"{target} <- {like}{' +' + v if v else ''}: {fit}; {rep['n_anchor_models']} "
                   f"anchor model(s), leave-one-out median |error| "
                   f"{loo.get('median_abs_rel_err', float('nan')):.1%}, max "
                   f"{loo.get('max_abs_rel_err', float('nan')):.1%}")
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"{dest}: {len(b.table)} transferred rows")
    for col in ("model", "batch", "median ms", "bound", "compute ms", "memory ms", "overhead ms"):
        t.add_column(col, justify="left" if col in ("model", "bound") else "right", no_wrap=True)
    for row in transfer_summary(b.table):
        t.add_row(*row)
    Console().print(t)



@calibrate.command("anchor", context_settings=_CTX)
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option("--models", required=True, metavar="A,B,C", help="models the throughput is of")
@click.option("--throughput", required=True, type=click.FloatRange(min=0, min_open=True),
              help="sustained items per second the device reaches on those models")
@click.option("--batch", required=True, type=click.IntRange(min=1), help="batch size of that "
              "throughput (the deployment's batch)")
@click.option("--phase", type=click.Choice(["infer", "train"]), default="infer", show_default=True)
@click.option("--scale", type=click.Choice(["all", "work"]), default="all", show_default=True,
              help="'all': multiply whole times (the curves keep their shape); 'work': multiply "
                   "only the roofline part of a transferred bundle's times, keeping its per-call "
                   "overhead (the curves steepen)")
@click.option("--source", "source", default="", help="where the throughput comes from (stored)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="bundle folder to write")
@click.option("--force", is_flag=True, help="replace an existing bundle at --out")
def anchor(bundle: str, models: str, throughput: float, batch: int, phase: str, scale: str,
           source: str, out: str, force: bool) -> None:
    """Rescale BUNDLE's times of --models by one factor so that their mean throughput at --batch
    equals --throughput (a published figure): whole times (--scale all), or only the roofline
    work of a transferred bundle, its per-call overhead kept (--scale work).

    \b
    edgesim calibrate anchor calibration/transferred/jetson-tx1 --models roi_object,roi_color \\
        --throughput 42.5 --batch 8 --source "Distream Fig. 1.4 + Table 1.5" \\
        --out calibration/distream-anchored/jetson-tx1
    """
    from edgesim.calibration.predictor.anchor import anchored
    from edgesim.hardware.profiles.bundle import BundleError, load_bundle, write_bundle
    names = _names(models)
    dest = Path(out)
    if (dest / "meta.json").exists() and not force:
        _die(f"{dest} already holds a bundle; pass --force to replace it")
    command = shlex.join(["edgesim", "calibrate", "anchor", bundle, "--models", ",".join(names),
                          "--throughput", f"{throughput:g}", "--batch", str(batch), "--phase",
                          phase, "--scale", scale, "--source", source, "--out", out])
    try:
        meta, table, factor = anchored(load_bundle(bundle), names, batch, throughput, phase,
                                       source=source, command=command, scale=scale)
        write_bundle(dest, meta, table)
    except (BundleError, OSError, ValueError) as exc:
        _die(str(exc))
    what = "times" if scale == "all" else "work"
    click.echo(f"wrote {dest}: {len(table)} rows, {what} x {factor:.4g} "
               f"({throughput:g} items/s at batch {batch})")


# `edgesim calibrate served` (served-mode profiling) lives in cli_testbed.py beside the testbed
# that uses it; it is a subcommand of this group.
from edgesim.cli.testbed import served as _served  # noqa: E402

calibrate.add_command(_served)


# ============================================================================================
# edgesim calibrate predict / loo: the device predictor (spec sheets + published anchors)


@calibrate.command("predict", context_settings=_CTX)
@click.option("--model", "model", required=True, help="zoo model, e.g. resnet50, bert_base")
@click.option("--device", "device", required=True, help="catalogue device, e.g. jetson-orin-nx, t4")
@click.option("--batch", "batch_text", default="1", show_default=True, metavar="B1,B2,..")
@click.option("--precision", default="fp32", show_default=True, help="fp32, tf32, fp16 or int8")
@click.option("--runtime", default="pytorch", show_default=True,
              help="pytorch, tensorrt, onnxruntime, ncnn, tflite, torch-compile, openvino")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: all cores)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def predict_cmd(model: str, device: str, batch_text: str, precision: str, runtime: str,
                threads: Optional[int], as_json: bool) -> None:
    """Predict batch times of a zoo model on a catalogue device (no PyTorch needed).

    \b
    edgesim calibrate predict --model resnet50 --device jetson-orin-nx --precision fp16 \\
        --runtime tensorrt --batch 1,8,32

    Unknown devices, models, runtimes and precisions are errors that list the nearest
    supported ones (exit status 2).
    """
    from edgesim.calibration.predictor.device_predictor import DevicePredictor
    batches = _ints("--batch", batch_text)
    pred = DevicePredictor()
    try:
        out = [pred.predict(model, device, b, precision, runtime, threads) for b in batches]
    except (LookupError, ValueError) as exc:
        _die(str(exc).strip("'\""))
    if as_json:
        click.echo(json.dumps([{"model": p.model, "device": p.device, "runtime": p.runtime,
                                "precision": p.precision, "batch": p.batch,
                                "median_ms": p.median_s * 1e3, "personalised": p.personalised,
                                "parts_ms": {k: v * 1e3 for k, v in p.parts.items()},
                                "band_ms": None if p.band is None else
                                [p.band[0] * 1e3, p.band[1] * 1e3],
                                "band_anchors": None if p.band is None else p.band[2],
                                "source": p.source} for p in out], indent=2))
        return
    for p in out:
        click.echo(f"{p.model} on {p.device} ({p.runtime}, {p.precision}) batch {p.batch}: "
                   f"{p.median_s * 1e3:.3f} ms ({p.median_s * 1e3 / p.batch:.3f} ms per input)"
                   + ("" if p.band is None else
                      f"; 80 % band {p.band[0] * 1e3:.3f}-{p.band[1] * 1e3:.3f} ms"))
    click.echo(f"source: {out[-1].source}")
    b = out[-1]
    if b.band is not None:
        click.echo(f"band: where the published time fell for 80 % of {b.band[2]} "
                   f"leave-one-device-out anchors of {'personalised' if b.personalised else 'held-out'} "
                   f"devices of this kind (docs/validation.md)")


@calibrate.command("loo", context_settings=_CTX)
@click.option("--literature", type=click.Path(file_okay=False), default=None,
              help="folder of anchors (default: calibration/literature of this checkout)")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="also the figures of the roofline transfer (Predictor efficiency_from)")
@click.option("--markdown", is_flag=True, help="the tables of docs/validation.md")
@click.option("--json", "as_json", is_flag=True, help="every row, machine-readable")
@click.option("--write-errors", is_flag=True,
              help="also write the error quantiles behind `calibrate predict`'s bands to "
                   "calibration/predictor/loo_errors.json")
def loo_cmd(literature: Optional[str], baseline: bool, markdown: bool, as_json: bool,
            write_errors: bool) -> None:
    """Leave-one-device-out accuracy of the device predictor over the shipped anchors.

    For each device with published anchors the global fit is redone without any of them and
    they are predicted from the device's spec sheet alone. `--markdown` prints what
    docs/validation.md shows (the predictor section is regenerated by this command).
    """
    from edgesim.calibration.predictor.anchors import DEFAULT_LITERATURE, load_anchors
    from edgesim.calibration.predictor.device_predictor import leave_one_device_out, loo_markdown
    anchors = load_anchors(literature or DEFAULT_LITERATURE)
    res = leave_one_device_out(anchors)
    if write_errors:
        from edgesim.calibration.predictor.band import error_quantiles
        from edgesim.calibration.predictor.band import write_errors as _write
        path = _write(error_quantiles(res))
        click.echo(f"wrote {path}", err=True)
    base = ref = None
    if baseline:
        from edgesim.calibration.predictor.loo_baseline import baseline_loo, reference_models
        base = baseline_loo(anchors)
        ref = baseline_loo(anchors, reference_models())
    from edgesim.calibration.predictor.replication import (load_replications, replication_markdown,
                                          replication_spread)
    rep = replication_spread(anchors, load_replications(literature or DEFAULT_LITERATURE))
    if as_json:
        click.echo(json.dumps({"device_predictor": res, "baseline": base,
                               "baseline_reference_models": ref, "replications": rep},
                              indent=2, default=str))
        return
    text = loo_markdown(res, base, ref)
    if rep["n"]:
        text += "\n\n" + replication_markdown(rep)
    click.echo(text if markdown else text.replace("**", ""))
