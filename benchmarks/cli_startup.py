"""Whole-process timings of the command line, as ratios to references measured in the same run:
`python -c pass` (interpreter start) and benchmarks/mmc_handwritten.py (the bundled M/M/c
scenario written by hand in SimPy, writing comparable files). Each command runs once to warm the
file cache, then --repeat times; the median is reported (min in brackets).

    python benchmarks/cli_startup.py [--repeat 7] [--importtime] [--edgesim-root DIR]

Targets (docs/performance.md): `edgesim --help` <= 0.3 s; `edgesim run` of the M/M/c scenario
>= 0.8x the speed of the hand-written script, with plots and without. `--edgesim-root` times
another checkout's edgesim (e.g. an older commit unpacked with `git archive`) against the same
references; scenarios and the reference script always come from this checkout.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MMC = REPO / "scenarios" / "queueing" / "mmc.yaml"
QUICKSTART = REPO / "scenarios" / "quickstart.yaml"
HAND = REPO / "benchmarks" / "mmc_handwritten.py"
PY = sys.executable


class Bench:
    def __init__(self, root: Path, repeat: int) -> None:
        self.root, self.repeat = root, repeat
        self.tmp = Path(tempfile.mkdtemp(prefix="edgesim-bench-"))
        self.env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(root))
        self.env.pop("PYTHONSTARTUP", None)
        self._n = 0

    def out(self) -> str:
        """A fresh output directory per run, so no run overwrites another's files."""
        self._n += 1
        return str(self.tmp / f"run{self._n}")

    def once(self, argv: list) -> float:
        argv = [a() if callable(a) else a for a in argv]
        t = time.perf_counter()
        subprocess.run(argv, cwd=self.root, env=self.env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return time.perf_counter() - t

    def time(self, argv: list) -> tuple[float, float]:
        self.once(argv)                                   # warm-up: file cache, .pyc, font cache
        xs = [self.once(argv) for _ in range(self.repeat)]
        return statistics.median(xs), min(xs)

    def pair(self, ref: list, argv: list) -> tuple[tuple, tuple, float]:
        """Reference and command run alternately, so a change in the machine's load hits both:
        ((median, min) of ref, (median, min) of argv, median of the per-pair speed ratios)."""
        self.once(ref), self.once(argv)
        r, e = [], []
        for _ in range(self.repeat):
            r.append(self.once(ref))
            e.append(self.once(argv))
        speed = statistics.median(a / b for a, b in zip(r, e))
        return (statistics.median(r), min(r)), (statistics.median(e), min(e)), speed

    def to_summary(self, argv: list, marker: str) -> tuple[float, float]:
        """(seconds until a stdout line containing marker, seconds until exit), medians."""
        firsts, totals = [], []
        for i in range(self.repeat + 1):
            args = [a() if callable(a) else a for a in argv]
            t = time.perf_counter()
            p = subprocess.Popen(args, cwd=self.root, env=self.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
            first = None
            for line in p.stdout:
                if first is None and marker in line:
                    first = time.perf_counter() - t
            p.wait()
            total = time.perf_counter() - t
            if p.returncode:
                raise subprocess.CalledProcessError(p.returncode, args)
            if i:                                         # the first one warms up
                firsts.append(first if first is not None else float("nan"))
                totals.append(total)
        return statistics.median(firsts), statistics.median(totals)

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def importtime(root: Path, argv: list, top: int = 12) -> list[tuple[float, str]]:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(root))
    p = subprocess.run([PY, "-X", "importtime", *argv], cwd=root, env=env, capture_output=True,
                       text=True, check=True)
    rows = []
    for line in p.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if m and len(m.group(2)) <= 2:                    # top-level and first-level imports
            rows.append((int(m.group(1)) / 1e6, m.group(3)))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--importtime", action="store_true", help="also list the costliest imports")
    ap.add_argument("--edgesim-root", type=Path, default=REPO,
                    help="the checkout whose edgesim is timed (default: this one)")
    args = ap.parse_args()
    root = args.edgesim_root.resolve()
    b = Bench(root, args.repeat)
    es = [PY, "-m", "edgesim"]
    try:
        base, base_min = b.time([PY, "-c", "pass"])
        rows: list[tuple[str, float, float, str]] = []

        def row(label, med_min, ref=None, ref_label=""):
            med, mn = med_min
            speed = f"{ref / med:5.2f}x {ref_label}" if ref else ""
            rows.append((label, med, mn, speed))
            return med

        row("python -c pass", (base, base_min))
        row("python -c 'import edgesim.cli.app'", b.time([PY, "-c", "import edgesim.cli.app"]))
        helps = row("edgesim --help", b.time(es + ["--help"]))
        row("edgesim run --help", b.time(es + ["run", "--help"]))
        speeds = {}
        for label, ref, argv in (
                ("plots", [PY, HAND, "-o", b.out], es + ["run", MMC, "-q", "-o", b.out]),
                ("--no-plots", [PY, HAND, "--no-plots", "-o", b.out],
                 es + ["run", MMC, "-q", "--no-plots", "-o", b.out])):
            hand, ours, speeds[label] = b.pair(ref, argv)
            row(f"hand-written M/M/c, {label}", hand)
            row(f"edgesim run mmc -q{' --no-plots' if label != 'plots' else ''}", ours)
            rows[-1] = rows[-1][:3] + (f"{speeds[label]:5.2f}x of hand (paired)",)
        _, quick, qspeed = b.pair([PY, HAND, "-o", b.out], es + ["run", QUICKSTART, "-o", b.out])
        row("edgesim run quickstart", quick)
        rows[-1] = rows[-1][:3] + (f"{qspeed:5.2f}x of hand M/M/c, plots (paired; another system)",)
        first, total = b.to_summary(es + ["run", MMC, "-o", b.out], "results")
        hfirst, htotal = b.to_summary([PY, HAND, "-o", b.out], "mmc-handwritten")
    finally:
        b.close()

    print(f"edgesim from {root}; python {sys.version.split()[0]}; median of {args.repeat} "
          f"(min in brackets); ratios: to `python -c pass`, and speed against the reference")
    w = max(len(r[0]) for r in rows)
    for label, med, mn, speed in rows:
        print(f"  {label:<{w}}  {med:6.3f} s [{mn:6.3f}]  {med / base:6.2f}x pass  {speed}")
    print(f"  {'edgesim run mmc: summary table':<{w}}  {first:6.3f} s of {total:.3f} s "
          f"(plots after it: {total - first:.3f} s)")
    print(f"  {'hand-written: its summary line':<{w}}  {hfirst:6.3f} s of {htotal:.3f} s")
    checks = [("edgesim --help <= 0.3 s", helps <= 0.3),
              ("run mmc (plots) >= 0.8x hand-written", speeds["plots"] >= 0.8),
              ("run mmc --no-plots >= 0.8x hand-written", speeds["--no-plots"] >= 0.8)]
    for what, ok in checks:
        print(f"  {'ok  ' if ok else 'MISS'}  {what}")
    if args.importtime:
        with tempfile.TemporaryDirectory(prefix="edgesim-it-") as tmp:
            for argv in (["-m", "edgesim", "--help"],
                         ["-m", "edgesim", "run", str(MMC), "-q", "--no-plots", "-o", tmp]):
                print(f"costliest imports of python {' '.join(argv[:4])}"
                      f"{' ...' if len(argv) > 4 else ''}:")
                for sec, name in importtime(root, argv):
                    print(f"  {sec:6.3f} s  {name}")


if __name__ == "__main__":
    main()
