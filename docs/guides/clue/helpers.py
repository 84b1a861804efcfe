"""Why CLUE's speed-up is uneven (docs/guides/clue.md, "Which helper"): every scheduled drift
of an isolated and a CLUE run on the same seed (the same requests and drifts), split by whether
the helper the MdS named first after the drift had served the node's new classes by then.

    PYTHONPATH=. python docs/guides/clue/helpers.py clue/isolated clue/clue --seeds 1 2 3 \
        -o docs/guides/clue/helpers-introduction.csv
"""
from __future__ import annotations

import argparse

import pandas as pd

import edgesim
from edgesim.api import load_named
from edgesim.study.tstats import mean_ci


def served(spec, node: str, batch: int) -> set:
    """Classes ``node`` had served up to ``batch`` (its phases started by then)."""
    for g in spec.nodes:
        if g.nodes == node:
            return {c for p in g.phases if p.start <= batch for c in p.classes}
    raise KeyError(node)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("isolated")
    ap.add_argument("clue")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("-o", "--out")
    a = ap.parse_args()
    rows = []
    for seed in a.seeds:
        iso = edgesim.run(load_named(a.isolated, ()), seed=seed).frames["recovery"]
        sf = load_named(a.clue, ())
        r = edgesim.run(sf, seed=seed)
        rec, det = r.frames["recovery"], r.frames["detections"]
        spec = sf.spec.training.clue
        for i, d in rec.iterrows():
            nxt = det[(det.node == d.node) & (det.batch >= d.batch)].sort_values("batch")
            helper = nxt.helpers.iloc[0][0] if len(nxt) else None
            knows = bool(helper) and set(d.new_classes) <= served(spec, helper, d.batch)
            rows.append({"seed": seed, "node": d.node, "drift_batch": d.batch,
                         "new_classes": list(d.new_classes), "helper": helper,
                         "helper_served_new_classes": knows,
                         "isolated_batches": iso.batches_to_recover.iloc[i]
                         if iso.batches_to_recover.notna().iloc[i] else iso.batches_observed.iloc[i],
                         "clue_batches": d.batches_to_recover if pd.notna(d.batches_to_recover)
                         else d.batches_observed})
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df["speedup"] = df.isolated_batches / df.clue_batches
    if a.out:
        df.to_csv(a.out, index=False)
    for knows, g in df.groupby("helper_served_new_classes"):
        n, m, _s, h = mean_ci(g.speedup)
        print(f"helper served the new classes: {knows}: {n} drifts, isolated "
              f"{g.isolated_batches.mean():.1f} -> CLUE {g.clue_batches.mean():.1f} batches, "
              f"speed-up {m:.2f} +- {h or 0:.2f} (95 % CI over drifts)")


if __name__ == "__main__":
    main()
