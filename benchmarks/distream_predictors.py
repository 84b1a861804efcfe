"""One-step error of Distream's workload predictors on the shipped camera traces (issue #26).

The balancer's Eq. 1.2 adds w_hat_i, camera i's ROIs predicted over the next second (§1.4). This
replays a trace as a run does: every report interval (50 ms) each predictor observes the ROIs
that arrived in it; at every whole second t (after the LSTM's first training) it predicts the
ROIs of (t, t + 1], which are then counted. Predictors: ``ewma`` (the default, alpha 0.2 per
report), ``lstm`` (the paper's, trained on line on the run's past exactly as
`predictor.LSTMPredictor` does in a run; hidden units and epochs below) and ``last`` (the
previous second's count, the naive baseline). Needs the 'learn' extra (PyTorch) for ``lstm``.

    python benchmarks/distream_predictors.py                       # campus and traffic traces
    python benchmarks/distream_predictors.py --hidden 256          # the paper's layer size

Output: per trace and predictor, the mean absolute and root mean square error of the per-
camera one-second counts, and the error relative to ``last``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgesim.systems.distream import predictor as pred  # noqa: E402

TRACES = ["traces/rois/campus-24-day.csv", "traces/rois/traffic-6-day.csv"]
REPORT = 0.05


def windows(path: Path, step: float) -> tuple[np.ndarray, list[str]]:
    """ROIs per camera in consecutive windows of ``step`` seconds (rows: windows)."""
    df = pd.read_csv(path, comment="#")
    cams = [c for c in df.columns if c not in ("frame", "time_s")]
    k = np.floor(df.time_s.to_numpy() / step + 1e-9).astype(int)
    out = np.zeros((k.max() + 1, len(cams)))
    np.add.at(out, k, df[cams].to_numpy(dtype=float))
    return out, cams


def replay(counts: np.ndarray, make, start: float) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, truths) of the one-second counts at each whole second from ``start``."""
    per_s = int(round(1.0 / REPORT))
    n_win, n = counts.shape
    p = make(n)
    preds, truths = [], []
    for w in range(n_win):
        now = (w + 1) * REPORT
        p.observe(now, counts[w].tolist())
        if (w + 1) % per_s == 0 and now >= start and w + per_s < n_win:
            preds.append(p.predict(now, 1.0))
            truths.append(counts[w + 1:w + 1 + per_s].sum(axis=0))
    return np.array(preds), np.array(truths)


class Last(pred.Predictor):
    """The previous second's count."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.bins: list = []
        self.cur = [0.0] * n
        self.t_end = 1.0

    def observe(self, now: float, counts) -> None:
        self.cur = [a + b for a, b in zip(self.cur, counts)]
        if now >= self.t_end - 1e-9:
            self.bins.append(self.cur)
            self.cur = [0.0] * self.n
            self.t_end += 1.0

    def predict(self, now: float, horizon: float) -> list[float]:
        return [v * horizon for v in self.bins[-1]] if self.bins else [0.0] * self.n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("traces", nargs="*", default=TRACES)
    ap.add_argument("--hidden", type=int, default=64, help="LSTM units per layer (paper: 256)")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--retrain", type=float, default=60.0)
    ap.add_argument("--min-history", type=int, default=30)
    ap.add_argument("--no-lstm", action="store_true")
    args = ap.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(1)
        have_torch = not args.no_lstm
    except ImportError:
        have_torch = False
    rows = []
    for tr in args.traces:
        counts, cams = windows(ROOT / tr, REPORT)
        start = float(args.min_history) + 1.0      # the LSTM's first training, then one second
        makers = {"last": Last, "ewma": lambda n: pred.EWMAPredictor(n, 0.2)}
        if have_torch:
            makers["lstm"] = lambda n: pred.LSTMPredictor(
                n, hidden=args.hidden, epochs=args.epochs, retrain=args.retrain,
                min_history=args.min_history, seed=1)
        for name, make in makers.items():
            t0 = time.process_time()
            p, t = replay(counts, make, start)
            err = p - t
            rows.append({"trace": Path(tr).name, "cameras": len(cams), "predictor": name,
                         "seconds": len(t), "mean ROIs/s": t.mean(),
                         "MAE": np.abs(err).mean(), "RMSE": math.sqrt((err ** 2).mean()),
                         "cpu_s": time.process_time() - t0})
    df = pd.DataFrame(rows)
    base = df[df.predictor == "last"].set_index("trace")
    df["MAE / last"] = [r.MAE / base.loc[r.trace, "MAE"] for r in df.itertuples()]
    df["RMSE / last"] = [r.RMSE / base.loc[r.trace, "RMSE"] for r in df.itertuples()]
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
