"""Local training of K federated clients: one at a time (Learner.train) against all together
(Learner.train_many, one vmap'd pass per step), as client-steps per second and their ratio.

    python benchmarks/learning_clients.py [--clients 1,10,50,100] [--models logreg,mlp,fedavg-cnn]
                                          [--examples 40] [--mixed] [--repeat 3]

Each client trains from the same weights on its own ``--examples`` examples (40: two SGD steps
of batch 20, the FedAce paper's batch), drawn from synthetic data of the model's input shape:
8x8 images and 10 classes for logreg and mlp (the bundled digits' shape; the mlp is the
bundled 64-64-10), 28x28 and 62 classes for the FedAvg CNN (FEMNIST's shape). The values do
not change the time. ``--mixed`` gives the clients unequal lengths instead (uniform in
[examples/4, 7 examples/4]): short last batches of many sizes, the case of skewed shards.

Every speed is per second of this process's CPU time, and every speed-up a ratio to the
sequential path measured in the same run, so machine speed cancels. Learning runs on one
thread (Learner's deterministic mode), so on a quiet machine CPU time is wall time; on a
machine shared with other work, wall time would also count the time the process waits for
a core, and CPU time does not. --repeat rounds each time both paths (sequential first); a
path's figure is its median over rounds. The last column is the largest difference between the
two paths' weights, relative to the largest weight: 0 where they are bit-identical.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from edgesim.learning.data import Dataset  # noqa: E402
from edgesim.learning.torch_learner import Learner  # noqa: E402
from edgesim.scenario.learning_schema import LearningSpec, ModelSpec  # noqa: E402

SHAPES = {"logreg": ((8, 8), 10), "mlp": ((8, 8), 10), "fedavg-cnn": ((28, 28), 62)}


def learner(name: str, pool: int) -> Learner:
    shape, classes = SHAPES[name]
    rng = np.random.default_rng(0)
    x = rng.random((pool, *shape), dtype=np.float32)
    y = rng.integers(0, classes, pool)
    return Learner(LearningSpec(model=ModelSpec(name=name)), Dataset(x, y, classes, name), 1)


def orders(k: int, examples: int, mixed: bool, pool: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = (rng.integers(examples // 4, 7 * examples // 4 + 1, k) if mixed
               else [examples] * k)
    return [rng.choice(pool, n, replace=False) for n in lengths]


def measure(L: Learner, os_: list[np.ndarray], repeat: int) -> dict:
    lr = 0.05
    L.train(L.initial, os_[0], lr)                     # warm both paths
    L.train_many(L.initial, os_[:2], lr)
    seq_t, vec_t = [], []
    for _ in range(repeat):
        t = time.process_time()
        seq = [L.train(L.initial, o, lr) for o in os_]
        seq_t.append(time.process_time() - t)
        t = time.process_time()
        vec = L.train_many(L.initial, os_, lr)
        vec_t.append(time.process_time() - t)
    steps = sum(s for _, s, _ in seq)
    diff = max(float(np.abs(a - b).max()) / float(np.abs(a).max())
               for (a, _, _), (b, _, _) in zip(seq, vec))
    return {"steps": steps, "seq": steps / statistics.median(seq_t),
            "vec": steps / statistics.median(vec_t), "diff": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="1,10,50,100")
    ap.add_argument("--models", default="logreg,mlp,fedavg-cnn")
    ap.add_argument("--examples", type=int, default=40)
    ap.add_argument("--mixed", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ks = [int(k) for k in args.clients.split(",")]
    pool = max(400, 2 * args.examples)
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    print(f"local data: {args.examples} examples per client"
          f"{' (mixed lengths)' if args.mixed else ''}, batch 20; median of {args.repeat}\n")
    print("| model | parameters | clients | client-steps per CPU s, one at a time | "
          "client-steps per CPU s, vectorised | speed-up | max weight difference |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in args.models.split(","):
        L = learner(name, pool)
        for k in ks:
            r = measure(L, orders(k, args.examples, args.mixed, pool, k), args.repeat)
            diff = "0 (bit-identical)" if r["diff"] == 0 else f"{r['diff']:.1e}"
            print(f"| {name} | {L.params:,} | {k} | {r['seq']:,.0f} | {r['vec']:,.0f} | "
                  f"{r['vec'] / r['seq']:.2f}x | {diff} |", flush=True)
    print(f"\n{time.perf_counter() - t0:.0f} s wall; load average {load0:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
