"""Figures and tables of docs/guides/vp.md: the smart-home scenario against failure rates.

Runs scenarios/vp/failure-sweep.yaml (every grid combination, its replications with seeds
1..R) with a plain loop, plus two extra studies: VP whose master detects failures at once, and
node crashes (MTBF/MTTR) instead of per-query faults. Writes, next to this file:

    results.csv            one row per run
    table.md               mean and 95 % confidence interval per configuration
    availability.png, latency.png, accuracy.png, crashes.png

Run from the repository root:  python docs/guides/vp/make_figures.py   (about two minutes)
"""
from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))           # this checkout's edgesim, not an installed one

import edgesim  # noqa: E402

SWEEP = REPO / "scenarios" / "vp" / "failure-sweep.yaml"
JOB_KEY = "workload.sources.pictures.job"
P_KEY = "failures.0.probability"
N = 5                                    # tablets
STYLE = {"vp": ("tab:blue", "o"), "vp-detect": ("tab:cyan", "^"), "mp": ("tab:red", "s"),
         "cp": ("tab:orange", "D"), "single": ("tab:green", "v")}


def metrics(summary: dict) -> dict:
    a = summary["answers"]
    lat = summary["latency_s"]
    return {"availability": a["availability"], "within_slo": a["within_slo"],
            "latency_mean": lat["mean"], "latency_p95": lat["p95"],
            "accuracy_expected": a["accuracy"]["expected"],
            "accuracy_answered": a["accuracy"]["answered"],
            "bytes_per_query": a["bytes_per_query"]}


def run(base: Path, sets: list[str], seed: int) -> dict:
    return metrics(edgesim.run(edgesim.load(base, sets), seed=seed).summary)


def sweep() -> pd.DataFrame:
    spec = yaml.safe_load(SWEEP.read_text())
    base = SWEEP.parent / spec["base"]
    keys = list(spec["grid"])
    rows = []
    for values in itertools.product(*spec["grid"].values()):
        point = dict(zip(keys, values))
        for seed in range(1, spec["replications"] + 1):
            sets = [f"{k}={v}" for k, v in point.items()]
            rows.append({"study": "fault", "strategy": point[JOB_KEY], "p": point[P_KEY],
                         "seed": seed, **run(base, sets, seed)})
            if point[JOB_KEY] == "vp":     # the same, with a master that hears failures at once
                sets.append("workload.jobs.vp.ensemble.detect_failures=true")
                rows.append({"study": "fault", "strategy": "vp-detect", "p": point[P_KEY],
                             "seed": seed, **run(base, sets, seed)})
    # Crashes instead of per-query faults: each tablet down for MTTR = 30 s on average, MTBF
    # chosen so that the share of time down is u (queries see it: Poisson arrivals).
    for u, job, seed in itertools.product((0.05, 0.1, 0.2, 0.3), ("vp", "mp", "cp", "single"),
                                          range(1, spec["replications"] + 1)):
        mttr = 30.0
        mtbf = mttr * (1 - u) / u
        sets = [f"{JOB_KEY}={job}", "failures.0.kind=crash", "failures.0.probability=null",
                f"failures.0.mtbf={mtbf}s", f"failures.0.mttr={mttr}s", "duration=40000s"]
        rows.append({"study": "crash", "strategy": job, "p": u, "seed": seed,
                     **run(base, sets, seed)})
    return pd.DataFrame(rows)


def ci(values) -> tuple[float, float]:
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return (float(x.mean()) if len(x) else math.nan), math.nan
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def theory(strategy: str, p: np.ndarray) -> np.ndarray:
    return {"vp": 1 - p ** N, "vp-detect": 1 - p ** N, "mp": (1 - p) ** N,
            "cp": (1 - p) ** N, "single": 1 - p}[strategy]


def panel(ax, df: pd.DataFrame, column: str, strategies, ylabel: str, with_theory=False,
          scale=1.0) -> None:
    for s in strategies:
        sub = df[df.strategy == s]
        ps = sorted(sub.p.unique())
        stats_ = [ci(sub[sub.p == p][column] * scale) for p in ps]
        colour, marker = STYLE[s]
        ax.errorbar(ps, [m for m, _ in stats_], yerr=[h for _, h in stats_], color=colour,
                    marker=marker, capsize=3, label=s, linestyle="-" if not with_theory else "")
        if with_theory:
            grid = np.linspace(0, max(ps), 100)
            ax.plot(grid, theory(s, grid), color=colour, linewidth=1)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


P_LABEL = "per-query failure probability p of each tablet"


def save(fig, axes, name: str, legends=None, xlabel: str = P_LABEL) -> None:
    """Label the x axes, add legends (to ``legends``, default every axis) and write name.png."""
    for ax in axes:
        ax.set_xlabel(xlabel)
    for ax in (axes if legends is None else legends):
        ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / f"{name}.png", dpi=110)


def figures(df: pd.DataFrame) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fault = df[df.study == "fault"]
    four = ["vp", "mp", "cp", "single"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    panel(axes[0], fault, "availability", four, "availability (answered / queries)", True)
    axes[0].set_title("answered at all (lines: 1 - p^5, (1 - p)^5, 1 - p)")
    panel(axes[1], fault, "within_slo", four + ["vp-detect"], "answered within 400 ms")
    axes[1].set_title("answered within the 400 ms deadline")
    save(fig, axes, "availability", legends=[axes[0]])

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    panel(axes[0], fault, "latency_mean", ["vp", "vp-detect", "cp", "single"],
          "mean response time of answered queries (ms)", scale=1000)
    panel(axes[1], fault, "latency_mean", ["mp"], "mean response time (s)")
    axes[0].set_title("VP, CP, single")
    axes[1].set_title("MP (458 KB of activations at 1 Mbps)")
    save(fig, axes, "latency")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    panel(axes[0], fault, "accuracy_expected", four, "expected accuracy per query", scale=100)
    # Every strategy's accuracy comes from the same predictions file (CIFAR-10 extract): VP's
    # computed per answering set, the baselines' the file's MobileNetV2.
    axes[0].set_title("expected top-1 accuracy (%), unanswered = 0")
    panel(axes[1], fault, "accuracy_answered", ["vp"], "accuracy of answered queries (%)",
          scale=100)
    base = 100 * fault[fault.strategy == "single"].accuracy_answered.mean()
    axes[1].axhline(base, color="grey", linestyle=":", label="MobileNetV2 (MP, CP, single)")
    axes[1].set_title("VP degrades gracefully as variants go missing")
    save(fig, axes, "accuracy")

    crash = df[df.study == "crash"]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    panel(ax, crash, "availability", four, "availability", True)
    ax.set_title("crashes (MTTR 30 s); lines: p = u")
    save(fig, [ax], "crashes",
         xlabel="share of time each tablet is down, u = MTTR / (MTBF + MTTR)")
    plt.close("all")


def table(df: pd.DataFrame) -> str:
    cols = [("availability", 100, "availability %"), ("within_slo", 100, "within 400 ms %"),
            ("latency_mean", 1000, "mean latency ms"), ("accuracy_expected", 100,
                                                        "expected acc. %"),
            ("bytes_per_query", 1e-3, "kB per query")]
    lines = ["| study | strategy | p or u | " + " | ".join(c[2] for c in cols) + " |",
             "|---|---|---|" + "---|" * len(cols)]
    for (study, strategy, p), sub in df.groupby(["study", "strategy", "p"], sort=False):
        cells = []
        for col, scale, _ in cols:
            m, hw = ci(sub[col] * scale)
            digits = 0 if col == "latency_mean" and strategy == "mp" else 1
            cells.append(f"{m:.{digits}f} ± {hw:.{digits}f}" if hw == hw else f"{m:.1f}")
        lines.append(f"| {study} | {strategy} | {p:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    df = sweep()
    df.to_csv(HERE / "results.csv", index=False, float_format="%.6g")
    (HERE / "table.md").write_text(table(df))
    figures(df)
    print(f"{len(df)} runs; wrote results.csv, table.md and the figures to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
