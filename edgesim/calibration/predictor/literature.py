"""Build literature bundles from published latencies (the torch2trt Jetson benchmarks).

``import_published(csv_path, out_dir)`` reads ``published_jetson_latency.csv`` (columns
``device, device_class, model, runtime, precision, batch, input_size, latency_ms, latency_kind,
latency_ms_p50, latency_ms_p90, latency_ms_p95, latency_ms_p99, throughput_per_s,
per_batch_ms_from_throughput, notes, source_repo, source_path, source_commit``) and writes one
bundle per device under ``out_dir`` (``out_dir/jetson-nano/``, ``out_dir/jetson-agx-xavier/``),
with ``provenance: literature`` on the bundle and on every row.

Mapping
-------
* **device**: the CSV's board name -> the catalogue id (``Jetson Nano`` -> ``jetson-nano``,
  ``Jetson AGX Xavier`` -> ``jetson-agx-xavier``); a board the catalogue lacks is an error.
* **model**: the CSV's torchvision names are kept; the ones the edgesim zoo defines under another
  spelling are mapped by :data:`MODEL_ALIASES` (today every CSV name that the zoo has -
  ``resnet18``, ``resnet50``, ``mobilenet_v2``, ``vgg13`` - is spelt identically; ``vgg13_bn``
  is *not* the zoo's ``vgg13`` and keeps its own name). The runtime becomes a suffix:
  PyTorch eager rows are ``resnet18``, TensorRT rows ``resnet18+trt`` (``+``, because ``@`` is the
  zoo's input-resolution mark). The same board is 2.7-9.2x faster under TensorRT, so the two must
  never share a key.
* **times**: the published figure is the *mean* of torch2trt's timing loop (``latency_kind``);
  it goes into ``mean_ms`` and, since the source reports no median, also into ``median_ms`` (the
  central value the predictor uses); a published p50/p90/p99 would take precedence.
* **extra columns** after ``provenance``: ``runtime`` (pytorch | tensorrt), ``precision``
  (fp16), ``latency_kind``, ``throughput_per_s`` and ``source`` (repo/path@commit and the notes).

``python -m edgesim.calibration.predictor.literature [--src PATH] [--out calibration/literature]``
(re)builds the committed bundles; the CSV itself is never copied into the project.
This module must not import torch.
"""
from __future__ import annotations

# argparse, not click: a `python -m` maintainer's tool (it regenerates a shipped file), not a
# user command; the layering keeps click in edgesim.cli, which nothing below it imports.
import argparse
import csv
import hashlib
import math
import os
import re
import sys
from pathlib import Path
from typing import Mapping, Optional, Sequence

import pandas as pd

from edgesim.hardware.catalogue import CATALOGUE
from edgesim.hardware.profiles.bundle import COLUMNS, Bundle, write_bundle

__all__ = ["import_published", "main", "DEVICE_IDS", "MODEL_ALIASES", "RUNTIME_SUFFIX",
           "EXTRA_COLUMNS", "DEFAULT_SRC", "DEFAULT_OUT", "device_id", "model_key"]

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SRC = "../shared/data/latency/published_jetson_latency.csv"   # relative to the repo root
DEFAULT_OUT = "calibration/literature"
DEVICE_IDS = {"Jetson Nano": "jetson-nano", "Jetson AGX Xavier": "jetson-agx-xavier",
              "Jetson Xavier NX": "jetson-xavier-nx", "Jetson TX1": "jetson-tx1",
              "Jetson TX2": "jetson-tx2", "Jetson AGX Orin": "jetson-agx-orin"}
# published name -> zoo name, where they differ (the zoo follows torchvision's spelling)
MODEL_ALIASES: dict[str, str] = {"mobilenetv2": "mobilenet_v2", "mobilenet-v2": "mobilenet_v2",
                                 "resnet-18": "resnet18", "resnet-50": "resnet50",
                                 "vgg-13": "vgg13"}
RUNTIMES = {"pytorch": "pytorch", "tensorrt": "tensorrt"}
RUNTIME_SUFFIX = {"pytorch": "", "tensorrt": "+trt"}
EXTRA_COLUMNS = ("runtime", "precision", "latency_kind", "throughput_per_s", "source")
REQUIRED_CSV = ("device", "model", "runtime", "precision", "batch", "input_size", "latency_ms",
                "latency_kind", "source_repo", "source_path", "source_commit")


def device_id(board: str) -> str:
    """Catalogue id of a published board name; ValueError if the catalogue lacks it."""
    dev = DEVICE_IDS.get(board.strip()) or re.sub(r"[^a-z0-9]+", "-", board.strip().lower()).strip("-")
    if dev not in CATALOGUE:
        raise ValueError(f"published device {board!r} maps to {dev!r}, which is not in the device "
                         f"catalogue ({', '.join(sorted(CATALOGUE))}); add it to "
                         f"edgesim/hardware/catalogue.py or to DEVICE_IDS")
    return dev


def _runtime(text: str) -> str:
    low = text.strip().lower()
    for key, name in RUNTIMES.items():
        if low.startswith(key):
            return name
    return re.sub(r"[^a-z0-9]+", "_", low).strip("_")


def model_key(model: str, runtime: str) -> str:
    """The bundle's model key: zoo spelling plus the runtime suffix (``resnet18+trt``)."""
    name = model.strip()
    name = MODEL_ALIASES.get(name.lower(), name)
    rt = _runtime(runtime)
    return name + RUNTIME_SUFFIX.get(rt, "+" + rt)


def _input_shape(row: Mapping[str, str]) -> str:
    m = re.search(r"input \((\d+(?:,\s*\d+)+)\)", row.get("notes", "") or "")
    if m:   # "input (1,3,224,224)": drop the batch dimension
        dims = [d.strip() for d in m.group(1).split(",")]
        if len(dims) >= 2:
            return "x".join(dims[1:])
    size = (row.get("input_size") or "").strip()
    return f"3x{size}" if re.fullmatch(r"\d+x\d+", size) else ""


def _num(text: Optional[str]) -> float:
    if text is None or not text.strip():
        return math.nan
    return float(text)


def _read(csv_path: Path) -> list[dict]:
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_CSV if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}: missing column(s) {', '.join(missing)}; has "
                             f"{', '.join(reader.fieldnames or [])}")
        return list(reader)


def _rows_for(rows: list[dict], csv_path: Path) -> tuple[list[dict], list[dict]]:
    out, sources = [], {}
    for i, r in enumerate(rows, start=1):
        kind = (r["latency_kind"] or "").strip()
        lat = _num(r["latency_ms"])
        p50 = _num(r.get("latency_ms_p50"))
        mean = lat if kind.lower().startswith("mean") else math.nan
        median = p50 if p50 == p50 else lat
        if not (median > 0):
            raise ValueError(f"{csv_path}: row {i} (line {i + 1}): no usable latency "
                             f"(latency_ms={r['latency_ms']!r}, latency_ms_p50="
                             f"{r.get('latency_ms_p50')!r})")
        rt = _runtime(r["runtime"])
        src = f"{r['source_repo']}/{r['source_path']}@{r['source_commit'][:8]}"
        if r.get("notes"):
            src += f"; {r['notes']}"
        out.append({
            "model": model_key(r["model"], r["runtime"]), "phase": "infer",
            "batch": int(r["batch"]), "input_shape": _input_shape(r), "threads": pd.NA, "n": pd.NA,
            "median_ms": median, "p10_ms": math.nan,
            "p90_ms": _num(r.get("latency_ms_p90")), "p99_ms": _num(r.get("latency_ms_p99")),
            "mean_ms": mean, "std_ms": math.nan, "flops": math.nan, "params": math.nan,
            "out_bytes": math.nan, "peak_mem_mb": math.nan, "provenance": "literature",
            "runtime": rt, "precision": r["precision"].strip(), "latency_kind": kind,
            "throughput_per_s": (r.get("throughput_per_s") or "").strip(), "source": src})
        key = (r["source_repo"], r["source_path"], r["source_commit"])
        sources.setdefault(key, {"repo": key[0], "path": key[1], "commit": key[2],
                                 "note": f"{r['device'].strip()}: published {kind or 'latency'}, "
                                         f"batch {r['batch']}, {r['input_size']}, "
                                         f"{r['precision']}"})
    return out, list(sources.values())


def _display(path: Path) -> str:
    """A path for the record: relative to the repo root where possible (never this machine's)."""
    try:
        # abspath, not resolve(): a shared folder reached through a link keeps its own name
        return Path(os.path.relpath(os.path.abspath(path), REPO_ROOT)).as_posix()
    except ValueError:
        return path.name


def import_published(csv_path: str | Path, out_dir: str | Path,
                     command: Optional[str] = None) -> dict[str, Bundle]:
    """Write one literature bundle per device of the published CSV; returns them by device id."""
    csv_path, out_dir = Path(csv_path), Path(out_dir)
    raw = csv_path.read_bytes()
    rows = _read(csv_path)
    by_dev: dict[str, list[dict]] = {}
    boards: dict[str, set] = {}
    for r in rows:
        dev = device_id(r["device"])
        by_dev.setdefault(dev, []).append(r)
        boards.setdefault(dev, set()).add(r["device"].strip())
    if not by_dev:
        raise ValueError(f"{csv_path}: no rows")
    command = command or (f"python -m edgesim.calibration.predictor.literature --src {_display(csv_path)} "
                          f"--out {_display(out_dir)}")
    written = {}
    for dev, dev_rows in sorted(by_dev.items()):
        table_rows, sources = _rows_for(dev_rows, csv_path)
        table = pd.DataFrame(table_rows, columns=[*COLUMNS, *EXTRA_COLUMNS])
        table = table.sort_values(["model", "batch"], kind="stable").reset_index(drop=True)
        runtimes = sorted({r["runtime"] for r in table_rows})
        meta = {
            "schema_version": 1, "device_id": dev, "provenance": "literature",
            "fingerprint": {
                "jetson_model": ", ".join(sorted(boards[dev])),
                "device_class": ", ".join(sorted({r.get("device_class", "").strip()
                                                  for r in dev_rows})),
                "runtimes": runtimes,
                "precision": sorted({r["precision"].strip() for r in dev_rows}),
                "nvpmodel_mode": None, "clocks_locked": None,
                "derived_from": {"path": _display(csv_path),
                                 "sha256": hashlib.sha256(raw).hexdigest(),
                                 "rows": len(dev_rows)},
            },
            "command": command,
            "sources": sources,
            "notes": ("Published batch-1 latencies from the torch2trt benchmark tables, not "
                      "measured here. The figures are means of torch2trt's timing loop: "
                      "mean_ms holds them and median_ms repeats them (no median was published); "
                      "no spread is known (p10/p90/p99 empty). Models: torchvision names, "
                      "PyTorch eager as '<model>', TensorRT (torch2trt) as '<model>+trt'; "
                      "precision fp16 as published. Power mode (nvpmodel) and clocks are not "
                      "stated by the source."),
        }
        written[dev] = write_bundle(out_dir / dev, meta, table)
    return written


def _default_src() -> Path:
    here = Path(DEFAULT_SRC)
    return here if here.exists() else (REPO_ROOT / DEFAULT_SRC)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgesim.calibration.predictor.literature",
                                 description="Build literature profile bundles from the published "
                                             "Jetson latency CSV.")
    ap.add_argument("--src", default=None, help=f"the published CSV (default: {DEFAULT_SRC}, "
                                                "relative to the repository root)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = ap.parse_args(argv)
    src = Path(args.src) if args.src else _default_src()
    if not src.is_file():
        print(f"error: {src}: no such file (pass --src)", file=sys.stderr)
        return 2
    try:
        bundles = import_published(src, args.out)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for dev, b in bundles.items():
        t = b.table
        print(f"{b.path}: {dev}: {len(t)} rows, {t['model'].nunique()} model keys "
              f"({', '.join(sorted(set(t['runtime'])))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
