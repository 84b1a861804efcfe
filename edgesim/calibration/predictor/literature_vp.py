"""The VP paper's Galaxy Tab A latencies as a literature bundle (``calibration/literature/
galaxy-tab-a``).

Source: N. Asadi and M. Goudarzi, "Variant Parallelism: Lightweight Deep Convolutional Models for
Distributed Inference on IoT Devices" (the project's ``../shared/seeds/001_852e2033b58cac77.txt``):

* Table VII: time per inference in ms, mean +- standard deviation, of the Food-101 variants and
  the MobileNetV2 baseline converted to TFLite and run 100 times with the TFLite native benchmark
  tool (§IV-H), plus the aggregator; V7 is not in the table;
* Table II: parameters and MACs of each model (flops = 2 x MACs);
* Table V: the device, a Samsung Galaxy Tab A 8.0 with S Pen (2019, SM-P205): octa-core
  big.LITTLE (2 x 1.8 GHz Cortex-A73 + 6 x 1.6 GHz Cortex-A53), Mali-G71 MP2, 3 GB LPDDR4X.

Mapping: the variants are the zoo's ``vp_v1`` .. ``vp_v6`` (input 96 .. 256 pixels, Table II),
the baseline ``mobilenet_v2`` (224 pixels; trained on Food-101, i.e. 101 classes, where the
zoo's default has 1000: the 1280 x 101 head is 0.2 % of its MACs), the aggregator
``vp_aggregate`` (Table VII "Aggregate": 0.05 ms). The published mean goes into ``mean_ms`` and,
as no median is published, also into ``median_ms``; the +- into ``std_ms``; quantiles are left
empty, so the predictor serves the mean exactly (the spread is 0.1-0.3 % of it). Threads,
delegate and precision are not stated by the paper (TFLite's defaults: CPU, fp32).

``python -m edgesim.calibration.predictor.literature_vp [--out calibration/literature]`` (re)writes it.
Torch-free.
"""
from __future__ import annotations

# argparse, not click: a `python -m` maintainer's tool (it regenerates a shipped file), not a
# user command; the layering keeps click in edgesim.cli, which nothing below it imports.
import argparse
import hashlib
import math
import sys
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from edgesim.hardware.profiles.bundle import COLUMNS, Bundle, write_bundle
from edgesim.calibration.predictor.literature import REPO_ROOT, _display

__all__ = ["TABLE_VII", "DEVICE_ID", "SEED", "build", "main"]

DEVICE_ID = "galaxy-tab-a"
SEED = "../shared/seeds/001_852e2033b58cac77.txt"        # relative to the repository root
DEFAULT_OUT = "calibration/literature"
EXTRA_COLUMNS = ("runtime", "latency_kind", "source")

#: (model, input pixels or None, mean ms, std ms, parameters, MACs), Tables VII and II.
TABLE_VII: tuple[tuple[str, Optional[int], float, float, float, float], ...] = (
    ("mobilenet_v2", 224, 226.0, 0.5, 2.27e6, 300e6),
    ("vp_v6", 256, 91.0, 0.4, 390e3, 71e6),
    ("vp_v5", 224, 71.0, 0.2, 370e3, 54e6),
    ("vp_v4", 192, 53.0, 0.2, 360e3, 40e6),
    ("vp_v3", 160, 38.0, 0.2, 340e3, 27e6),
    ("vp_v2", 128, 26.5, 0.1, 330e3, 17e6),
    ("vp_v1", 96, 17.0, 0.05, 320e3, 10e6),
    ("vp_aggregate", None, 0.05, 0.0, math.nan, math.nan),
)
_CITATION = ("N. Asadi, M. Goudarzi, 'Variant Parallelism: Lightweight Deep Convolutional Models "
             "for Distributed Inference on IoT Devices'")


def _rows() -> list[dict]:
    out = []
    for model, res, mean, std, params, macs in TABLE_VII:
        out.append({
            "model": model, "phase": "infer", "batch": 1,
            "input_shape": f"3x{res}x{res}" if res else "", "threads": pd.NA, "n": 100,
            "median_ms": mean, "p10_ms": math.nan, "p90_ms": math.nan, "p99_ms": math.nan,
            "mean_ms": mean, "std_ms": std, "flops": 2 * macs, "params": params,
            "out_bytes": math.nan, "peak_mem_mb": math.nan, "provenance": "literature",
            "runtime": "tflite", "latency_kind": "mean +- std of 100 runs (TFLite benchmark tool)",
            "source": "VP paper Table VII" + ("; params and MACs Table II" if res else ""),
        })
    return out


def build(out_dir: str | Path = DEFAULT_OUT, command: Optional[str] = None) -> Bundle:
    """Write the bundle under ``out_dir/galaxy-tab-a`` and return it as loaded back."""
    out_dir = Path(out_dir)
    seed = REPO_ROOT / SEED
    derived = {"path": SEED, "what": "Tables II, V and VII, transcribed"}
    if seed.is_file():
        derived["sha256"] = hashlib.sha256(seed.read_bytes()).hexdigest()
    table = pd.DataFrame(_rows(), columns=[*COLUMNS, *EXTRA_COLUMNS])
    table = table.sort_values(["model", "batch"], kind="stable").reset_index(drop=True)
    meta = {
        "schema_version": 1, "device_id": DEVICE_ID, "provenance": "literature",
        "fingerprint": {
            "device": "Samsung Galaxy Tab A 8.0 with S Pen (2019, SM-P205)",
            "cpu": "octa-core big.LITTLE: 2 x 1.8 GHz Cortex-A73 + 6 x 1.6 GHz Cortex-A53",
            "gpu": "ARM Mali-G71 MP2", "memory": "3 GB LPDDR4X",
            "network": "Wi-Fi 802.11, estimated RTT 2 ms, 1 Mbps (Table V)",
            "runtime": "TensorFlow Lite, native benchmark tool, 100 iterations",
            "threads": None, "delegate": None, "precision": None,
            "derived_from": derived,
        },
        "command": command or f"python -m edgesim.calibration.predictor.literature_vp --out "
                              f"{_display(out_dir)}",
        "sources": [{"repo": _CITATION, "path": "Table VII; Table II; Table V", "commit": "",
                     "note": "Food-101 variants V1-V6 and MobileNetV2 converted to TFLite, "
                             "mean +- std of 100 runs on the tablet; aggregator 0.05 ms"}],
        "notes": ("Published batch-1 latencies from the VP paper, not measured here: mean_ms "
                  "and median_ms hold the published mean, std_ms the published +- (no "
                  "quantiles: the predictor serves the mean). Models: the zoo's vp_v1..vp_v6 "
                  "(Food-101, 101 classes) and mobilenet_v2 (trained on Food-101 in the paper); "
                  "vp_aggregate is the master's aggregation step. flops = 2 x MACs and params "
                  "from Table II. Threads, delegate and precision are not stated."),
    }
    return write_bundle(out_dir / DEVICE_ID, meta, table)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgesim.calibration.predictor.literature_vp",
                                 description="Write the VP paper's Galaxy Tab A latencies "
                                             "(Table VII) as a literature bundle.")
    ap.add_argument("--out", default=DEFAULT_OUT, help="parent folder (default: %(default)s)")
    args = ap.parse_args(argv)
    b = build(args.out)
    print(f"{b.path}: {b.device_id}: {len(b.table)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
