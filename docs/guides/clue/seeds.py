"""CLUE against its baselines over seeds, with 95 % Student-t intervals (docs/guides/clue.md).

    PYTHONPATH=. python docs/guides/clue/seeds.py clue/isolated clue/clue clue/federated \
        --seeds 1 2 3 -o docs/guides/clue/introduction-seeds.csv [--set key=value ...]
    PYTHONPATH=. python docs/guides/clue/seeds.py clue/clue --set training.clue.drift.threshold=0.3 \
        --baseline docs/guides/clue/introduction-seeds.csv     # the baseline's rows reused

The first scenario is the baseline every other is measured against, seed by seed: a run's
speed-up is the baseline's mean batches to recover over its own, on the same seed (the same
requests and drifts), and the interval is over those per-seed ratios. Batches to recover count
an unrecovered drift as the batches it was observed (a lower bound, summary.json's
`mean_batches_to_recover_censored`).
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

from edgesim.study.tstats import mean_ci
from edgesim.systems.clue.compare import load_summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("refs", nargs="+", help="CLUE scenarios (or run directories), baseline first")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--set", dest="sets", action="append", default=[], help="key=value, all runs")
    ap.add_argument("-o", "--out", help="CSV of the runs")
    ap.add_argument("--baseline", help="a CSV this script wrote: its first run's rows, by seed, "
                                       "are the baseline (not run again)")
    a = ap.parse_args()
    rows = []
    for seed in a.seeds:
        for ref in a.refs:
            t = time.perf_counter()
            c = load_summary(ref, seed, tuple(a.sets))["clue"]
            rows.append({"run": ref, "mode": c["mode"], "seed": seed,
                         "recovered": c["recovered"], "drifts": c["scheduled_drifts"],
                         "batches_to_recover": c["mean_batches_to_recover_censored"],
                         "mean_error": c["mean_error"], "peak_error": c["mean_peak_error"],
                         "helped": c["helped"], "bytes_total": c["bytes_total"],
                         "wall_s": time.perf_counter() - t})
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    if a.baseline:
        prior = pd.read_csv(a.baseline)
        prior = prior[(prior.run == prior.run.iloc[0]) & prior.seed.isin(a.seeds)]
        a.refs.insert(0, prior.run.iloc[0])
        df = pd.concat([prior.drop(columns="speedup"), df], ignore_index=True)
    base = df[df.run == a.refs[0]].set_index("seed").batches_to_recover
    df["speedup"] = [base[r.seed] / r.batches_to_recover for r in df.itertuples()]
    if a.out:
        df.to_csv(a.out, index=False)
    print(f"\nspeed-up against {a.refs[0]}, mean and 95 % CI over seeds {a.seeds}:")
    for ref in a.refs:
        d = df[df.run == ref]
        n, m, _sd, half = mean_ci(d.speedup)
        _n, b, _s, bh = mean_ci(d.batches_to_recover)
        print(f"  {ref}: batches to recover {b:.1f} +- {bh or 0:.1f}; speed-up {m:.2f} "
              f"+- {half or 0:.2f} (n = {n}); recovered {d.recovered.sum()} of "
              f"{d.drifts.sum()}; mean error {d.mean_error.mean():.3f}; bytes "
              f"{d.bytes_total.mean():,.0f}; wall {d.wall_s.mean():.1f} s a run")


if __name__ == "__main__":
    main()
