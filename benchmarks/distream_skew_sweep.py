"""Distream's gain over Camera-Only and its ablations' separation over load x cross-camera skew.

    python benchmarks/distream_skew_sweep.py prepare      # traces + scenarios/distream/skew-sweep.yaml
    edgesim sweep scenarios/distream/skew-sweep.yaml -o sweeps/distream-skew --workers 1
    python benchmarks/distream_skew_sweep.py table sweeps/distream-skew [-o docs/guides/distream]

``prepare`` writes, for every skew and trace seed, a 24-camera campus trace
(``edgesim trace generate --profile campus --skew S --seed T``, 09:00-12:00 of a day compressed
into 1200 s, 180 s long) under ``traces/rois/skew/``, and a sweep file whose ``zip`` axis steps
through (trace file, count scale) so that each trace offers ``load`` times campus.yaml's mean
load (1494 inferences/s) whatever its skew, and whose ``grid`` axis is the policy. The trace
seed plays the replication: each (skew, load) runs on three traces (seeds 1-3) with one
simulation seed, and ``table`` pairs every policy with Camera-Only on the same trace, so its
95% intervals (Student t over the three trace seeds) cover the layout's and the arrivals' luck.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SKEWS = (0.365, 1.0, 2.0)          # 0.365: fitted to the Telraam counts (distream.telraam.fit)
LOADS = (1.0, 2.0)                 # x campus.yaml's mean offered load
TRACE_SEEDS = (1, 2, 3)
POLICIES = ("camera-only", "centralized", "distream-l", "distream-p", "distream")
CAMPUS_IPS = 1494.0                # campus.yaml: 0.9713 ROIs/frame x 15 fps x 24 x 2.85 x 1.5
INFER_PER_ROI = 1 + 0.25 * 3 + 0.55 * 2   # campus.yaml's DAG: object, then 3 or 2 or none
DURATION, START_HOUR, DAY = 180.0, 9.0, 1200.0


def trace_path(skew: float, seed: int) -> Path:
    return ROOT / "traces" / "rois" / "skew" / f"campus-24-skew{skew:g}-seed{seed}.csv"


def prepare() -> Path:
    from edgesim.video.synthetic import camera_columns, generate, write

    files, scales, labels = [], [], []
    for skew in SKEWS:
        for seed in TRACE_SEEDS:
            path = trace_path(skew, seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            df = generate(24, 15.0, DURATION, seed, "campus", DAY, START_HOUR, skew=skew)
            cmd = (f"edgesim trace generate --cameras 24 --fps 15 --duration {DURATION:g}s --seed "
                   f"{seed} --profile campus --day-length {DAY:g}s --start-hour {START_HOUR:g} "
                   f"--skew {skew:g} -o {path.relative_to(ROOT)}")
            write(df, path, command=cmd)
            ips = float(df[camera_columns(df)].to_numpy().mean()) * 15.0 * 24 * INFER_PER_ROI
            for load in LOADS:
                files.append(f"../../{path.relative_to(ROOT)}")
                scales.append(round(load * CAMPUS_IPS / ips, 4))
                labels.append(f"skew={skew:g} load={load:g} trace_seed={seed}")
    out = ROOT / "scenarios" / "distream" / "skew-sweep.yaml"
    lines = [
        "# Made by `python benchmarks/distream_skew_sweep.py prepare`; see docs/guides/distream.md.",
        "# zip: one entry per (skew, load, trace seed), in this order:",
        *[f"#   {i}: {lab}" for i, lab in enumerate(labels)],
        'description: "Distream and baselines over load x cross-camera skew (shortened runs)"',
        "base: campus.yaml", "seed: 1", "replications: 1",
        "set:", f"  duration: {DURATION:g}s", "  warmup: 30s",
        "grid:", f"  policy.name: [{', '.join(POLICIES)}]",
        "zip:",
        f"  workload.sources.rois.arrivals.file: [{', '.join(files)}]",
        f"  workload.sources.rois.arrivals.scale: [{', '.join(str(s) for s in scales)}]",
        "metrics: [inference_ips.avg, slo_miss_rate, latency_s.mean]", ""]
    out.write_text("\n".join(lines))
    return out


def _ci(x: np.ndarray) -> tuple[float, float]:
    from scipy import stats
    if len(x) < 2:
        return float(x.mean()), math.nan
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def _runs(sweep: Path):
    """runs.parquet, or (for a sweep still running) the finished runs read from their folders."""
    import json

    import pandas as pd

    if (sweep / "runs.parquet").exists():
        return pd.read_parquet(sweep / "runs.parquet")
    plan = json.loads((sweep / "sweep.json").read_text())
    params = {c["config"]: c["params"] for c in plan["configurations"]}
    rows = []
    for r in plan["runs"]:
        f = sweep / "runs" / r["key"] / "summary.json"
        if f.exists():
            s = json.loads(f.read_text())
            rows.append({**params[r["config"]], "config": r["config"],
                         "inference_ips.avg": s["inference_ips"]["avg"],
                         "slo_miss_rate": s["slo_miss_rate"], "latency_s.mean": s["latency_s"]["mean"]})
    return pd.DataFrame(rows)


def table(sweep: Path, out: Path | None) -> str:
    import pandas as pd

    runs = _runs(sweep)
    f = runs["workload.sources.rois.arrivals.file"].astype(str)
    runs["skew"] = f.str.extract(r"skew([0-9.]+)-seed")[0].astype(float)
    runs["trace_seed"] = f.str.extract(r"-seed(\d+)\.csv")[0].astype(int)
    # the load: on one trace the scale is proportional to it, so the i-th smallest is LOADS[i]
    runs["load"] = np.nan
    scales = runs["workload.sources.rois.arrivals.scale"]
    for (skew, seed), grp in runs.groupby(["skew", "trace_seed"]):
        order = sorted(grp[scales.name].unique())
        for i, s in enumerate(order):
            runs.loc[grp.index[grp[scales.name] == s], "load"] = LOADS[i]
    key = ["skew", "trace_seed", "load"]
    base = {tuple(r[key]): r["inference_ips.avg"] for _, r in
            runs[runs["policy.name"] == "camera-only"].iterrows()}
    runs["gain"] = [r["inference_ips.avg"] / base[tuple(r[key])] for _, r in runs.iterrows()]
    rows = []
    for (skew, load, pol), g in runs.groupby(["skew", "load", "policy.name"]):
        gm, gh = _ci(g["gain"].to_numpy(float))
        mm, mh = _ci(100 * g["slo_miss_rate"].to_numpy(float))
        im, _ = _ci(g["inference_ips.avg"].to_numpy(float))
        rows.append({"skew": skew, "load": load, "policy": pol, "n": len(g), "ips": im,
                     "gain": gm, "gain_ci": gh, "miss": mm, "miss_ci": mh})
    res = pd.DataFrame(rows)
    md = ["| skew | load | " + " | ".join(POLICIES) + " |",
          "| ---: | ---: | " + " | ".join("---:" for _ in POLICIES) + " |"]
    for (skew, load), g in res.groupby(["skew", "load"]):
        cells = []
        for p in POLICIES:
            r = g[g.policy == p]
            if not len(r):
                cells.append("-")
                continue
            r = r.iloc[0]
            n = "" if r.n == len(TRACE_SEEDS) else f" (n={r.n})"
            cells.append(f"{r.gain:.2f}x ± {r.gain_ci:.2f}; {r.miss:.1f}% ± {r.miss_ci:.1f}{n}")
        md.append(f"| {skew:g} | {load:g} | " + " | ".join(cells) + " |")
    text = "\n".join(md)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        res.to_csv(out / "skew_sweep.csv", index=False, float_format="%.4f")
        _plot(res, out / "skew_sweep.png")
    return text


def _plot(res, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    skews = sorted(res["skew"].unique())
    fig, axes = plt.subplots(1, len(skews), figsize=(4.2 * len(skews), 3.6), sharey=True)
    for ax, skew in zip(np.atleast_1d(axes), skews):
        for p in POLICIES:
            g = res[(res["skew"] == skew) & (res.policy == p)].sort_values("load")
            ax.errorbar(g.load * CAMPUS_IPS, g.gain, yerr=g.gain_ci, marker="o", capsize=3, label=p)
        ax.set_title(f"skew {skew:g}" + (" (fitted)" if abs(skew - SKEWS[0]) < 1e-9 else ""))
        ax.set_xlabel("mean offered inferences/s")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("IPS gain over Camera-Only (95% CI)")
    np.atleast_1d(axes)[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare")
    t = sub.add_parser("table")
    t.add_argument("sweep", type=Path)
    t.add_argument("-o", "--out", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "prepare":
        print(f"wrote {prepare()}")
    else:
        print(table(a.sweep, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
