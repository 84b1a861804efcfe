"""The seeded runs of docs/guides/decentralized.md (default: the CIFAR-10 extract ones): the
first scenario with its central baseline (same seed), then each other against that seed's
central run (its target = the central
final accuracy; the central run is not repeated), seeds 1-3, 95 % Student-t intervals. Writes
one JSON row per run to docs/guides/decentralized/cifar-runs.json and prints the table.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 nice -n 10 python docs/guides/decentralized/cifar_seeds.py \
        [--set KEY=VALUE ...] [--out FILE] [--scenarios cifar-ring cifar-mesh]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import edgesim
from edgesim.study.tstats import mean_ci

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent


def row(name: str, seed: int, sets: list[str], ref: dict | None = None) -> dict:
    """One run; ``ref``: the same seed's ring row, whose central run it is compared with."""
    t = time.perf_counter()
    if ref is not None:
        sets = sets + ["training.decentralized.compare_central=false",
                       f"training.decentralized.target_accuracy={ref['central_final']}"]
    r = edgesim.run(edgesim.load(ROOT / "scenarios" / "decentralized" / f"{name}.yaml", sets),
                    seed=seed)
    s = r.summary["decentralized"]
    if ref is not None:
        d = s["to_target"]
        s["central"] = {"initial_accuracy": ref["central_initial"],
                        "final_accuracy": ref["central_final"],
                        "to_target": {"rounds": ref["central_rounds_to_target"]}}
        cf = ref["central_flops_to_target"]
        s["reduction"] = {"flops_per_round": ref["central_flops_per_round"]
                          / s["flops_per_round_max_node"],
                          "flops_to_target": cf / d["flops_max_node"] if d["flops_max_node"]
                          else None,
                          "flops_all_to_target": cf / d["flops_all"] if d["flops_all"] else None}
        s["at_equal_flops"] = {k: {"flops": "-", "accuracy": "-", "central_accuracy": "-"}
                               for k in ("all", "busiest_node")}   # needs the central curve
    c, red, eq = s["central"], s["reduction"], s["at_equal_flops"]
    return {"scenario": name, "seed": seed, "sets": sets, "wall_s": time.perf_counter() - t,
            "timed_model": s["timed_model"]["model"], "learned_model": s["learned_model"]["model"],
            "initial": s["initial_global_accuracy"], "final": s["final_global_accuracy"],
            "best": s["best_global_accuracy"], "local": s["final_local_accuracy_mean"],
            "central_initial": c["initial_accuracy"], "central_final": c["final_accuracy"],
            "target": s["target_accuracy"], "rounds_to_target": s["to_target"]["rounds"],
            "central_rounds_to_target": c["to_target"]["rounds"],
            "central_flops_to_target": c["to_target"].get("flops_all"),
            "central_flops_per_round": c.get("flops_per_round"),
            "red_round": red["flops_per_round"], "red_target_busiest": red["flops_to_target"],
            "red_target_all": red["flops_all_to_target"],
            "eq_all_flops": eq["all"]["flops"], "eq_all_acc": eq["all"]["accuracy"],
            "eq_all_central": eq["all"]["central_accuracy"],
            "eq_busy_acc": eq["busiest_node"]["accuracy"],
            "eq_busy_central": eq["busiest_node"]["central_accuracy"],
            "bytes_total": s["bytes_total"], "sim_time_s": s["to_target"]["time_s"]}


def fmt(vals, pct=False) -> str:
    if any(isinstance(v, str) for v in vals):
        return "-"
    n, m, _sd, h = mean_ci(vals)
    miss = sum(v is None for v in vals)
    if m is None:
        return f"not reached ({miss}/{len(vals)})" if miss else "-"
    f = (lambda x: f"{100 * x:.1f}") if pct else (lambda x: f"{x:.2f}")
    out = f"{f(m)} ± {f(h)}" if h is not None else f(m)
    return out + (f" ({miss} not reached)" if miss else "")


def main() -> None:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--out", default=str(HERE / "cifar-runs.json"))
    ap.add_argument("--label", default="", help="a name for the rows (e.g. the --set)")
    ap.add_argument("--scenarios", nargs="+", default=["cifar-ring", "cifar-mesh"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--table", nargs="+", default=None, help="print the table of these JSON "
                                                             "files instead of running")
    a = ap.parse_args()
    if a.table:
        for f in a.table:
            rows = json.loads(Path(f).read_text(encoding="utf-8"))
            table(rows, sorted({r["scenario"] for r in rows}, key=[r["scenario"] for r in
                                                                   rows].index), a.label)
        return
    rows = []
    for name in a.scenarios:
        for seed in a.seeds:
            ref = None
            if name != a.scenarios[0]:
                ref = next(r for r in rows if r["scenario"] == a.scenarios[0]
                           and r["seed"] == seed)
            rows.append(row(name, seed, a.set, ref))
            print(json.dumps(rows[-1]), flush=True)
    Path(a.out).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    table(rows, a.scenarios, a.label)


def table(rows: list[dict], scenarios: list[str], label: str) -> None:
    keys = [("final", True), ("central_final", True), ("rounds_to_target", False),
            ("central_rounds_to_target", False), ("red_round", False),
            ("red_target_busiest", False), ("red_target_all", False), ("eq_all_acc", True),
            ("eq_all_central", True), ("eq_busy_acc", True), ("eq_busy_central", True)]
    print("| run | " + " | ".join(k for k, _ in keys) + " | wall s |")
    for name in scenarios:
        rs = [r for r in rows if r["scenario"] == name]
        ref = any("compare_central=false" in x for x in rs[0]["sets"])   # no central curve
        cells = [("-" if ref and k.startswith("eq_") else fmt([r[k] for r in rs], p))
                 for k, p in keys] + [fmt([r["wall_s"] for r in rs])]
        print(f"| {name} {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
