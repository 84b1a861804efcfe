"""Fit the synthetic traces' skew and day shape to the Telraam road counts; write the fitted trace.

    python benchmarks/distream_skew_fit.py [--counts ../shared/data/workload/telraam_chateaubourg_hourly_counts.csv]

Prints :func:`edgesim.systems.distream.telraam.fit`'s result and writes
``traces/rois/telraam-fit-24-day.csv``: the generator's ``traffic`` profile (road users) with
the fitted skew and, for the hours of day the sensors counted, the fitted day shape (the other
hours keep the profile's: Telraam's sensors do not count in the dark), 24 cameras, 07:00-19:00
of a day compressed into 1200 s, seed 1. ``scenarios/distream/fitted.yaml`` replays it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "workload" / "telraam_chateaubourg_hourly_counts.csv"
if not DEFAULT.exists():
    DEFAULT = Path("/work/shared/data/workload/telraam_chateaubourg_hourly_counts.csv")
INFER_PER_ROI = 1 + 0.25 * 3 + 0.55 * 2    # campus.yaml's DAG
CAMPUS_IPS = 1494.0                         # campus.yaml's mean offered load


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", type=Path, default=DEFAULT)
    a = ap.parse_args(argv)

    from edgesim.systems.distream.telraam import fit
    from edgesim.video.synthetic import PROFILES, camera_columns, generate, with_overrides, write

    f = fit(a.counts)
    print(json.dumps(f, indent=1))
    skew = round(f["skew"], 3)
    hourly = tuple(v if v is not None else PROFILES["traffic"].hourly[h]
                   for h, v in enumerate(f["hourly"]))
    prof = with_overrides("traffic", name="traffic-telraam", hourly=hourly)
    df = generate(24, 15.0, 600.0, 1, prof, 1200.0, 7.0, skew=skew)
    out = ROOT / "traces" / "rois" / "telraam-fit-24-day.csv"
    write(df, out, command=f"python benchmarks/distream_skew_fit.py (skew {skew}, traffic profile "
                           "with the fitted hourly shape, 24 cameras, 600 s, day 1200 s from 07:00, seed 1)")
    ips = float(df[camera_columns(df)].to_numpy().mean()) * 15.0 * 24 * INFER_PER_ROI
    print(f"wrote {out.relative_to(ROOT)}: {ips:.1f} inferences/s unscaled; scale for campus.yaml's "
          f"load ({CAMPUS_IPS:g}/s): {CAMPUS_IPS / ips:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
