"""E_s / E and the measured speed-up over SGD per seed, with 95 % t intervals over seeds, from
runs written by

    edgesim run mercury/<scenario> --seed S --set training.mercury.schedule=<s> -o RUNS/<name>-<s>-S

Usage: python docs/guides/mercury/seeds_table.py RUNS NAME [NAME ...]"""
import json
import math
import sys
from pathlib import Path
from statistics import mean, stdev

T975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776}     # Student t, 97.5 %, n - 1 dof


def ci(xs):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return f"{xs[0]:.3f}" if xs else "n/a"
    h = T975[len(xs)] * stdev(xs) / math.sqrt(len(xs))
    return f"{mean(xs):.3f} [{mean(xs) - h:.3f}, {mean(xs) + h:.3f}]"


def main(runs: Path, names: list[str]) -> None:
    for name in names:
        for sch in ("bacc", "sequential"):
            rows = []
            for seed in (1, 2, 3, 4, 5):
                p = runs / f"{name}-{sch}-{seed}" / "summary.json"
                if not p.exists():
                    continue
                m = json.loads(p.read_text())["mercury"]
                c, learn = m["convergence"], m["learning"]
                rows.append((seed, c["measured_iterations_sgd"], c["measured_iterations"],
                             c["measured_ratio"], m.get("measured_speedup_vs_sgd"),
                             m.get("time_ratio"), learn["final_accuracy"],
                             learn["resharded_samples_moved"]))
            if not rows:
                continue
            print(f"== {name} {sch}")
            for r in rows:
                print(f"  seed {r[0]}: E {r[1]} E_s {r[2]} E_s/E {r[3]} speed-up {r[4]} "
                      f"iteration ratio {r[5]:.4f} final accuracy {r[6]:.3f} moved {r[7]}")
            print("  E_s/E", ci([r[3] for r in rows]), "  speed-up", ci([r[4] for r in rows]))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
