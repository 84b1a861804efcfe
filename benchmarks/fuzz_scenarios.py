"""A large fuzz run over the bundled serving scenarios, with its counts (issue #28).

The suite's property tests (tests/test_fuzz.py) mutate two small scenarios a few hundred times on
every run; this script applies the same mutations to every bundled serving scenario, as many
times as asked, and counts what came back. Each mutated scenario must end in exactly one of:

* ``located``: rejected with a ScenarioError whose every problem names a key path or a file;
* ``ran``: valid, and a short run (0.5 s, 100 requests a source) finished with no NaN or
  infinity in its summary and no NaN latency on a completed request.

Anything else is a finding: ``traceback`` (any other exception, or an error without a location)
and ``nan`` (a run that produced a non-finite number). The target is 0 of both.

    python benchmarks/fuzz_scenarios.py --mutations 10000          # ~1 h on 2 cores
    python benchmarks/fuzz_scenarios.py --mutations 500 --seed 3   # a few minutes

Run from the repository root (it reuses the suite's mutation strategies).
"""
from __future__ import annotations

import argparse
import collections
import copy
import json
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edgesim.bundled import scenarios  # noqa: E402
from edgesim.engine.simulation import Simulation  # noqa: E402
from edgesim.errors import ScenarioError  # noqa: E402
from edgesim.scenario.loader import read  # noqa: E402
from edgesim.scenario.yamlpos import load_yaml  # noqa: E402
from tests.test_fuzz import BASES, assert_good_error, mutate, short_run  # noqa: E402


def bases() -> dict[str, tuple[dict, Path]]:
    """Every bundled scenario without a training section, plus the suite's two bases."""
    out = {name: (doc, REPO / "tests" / "data") for name, doc in BASES.items()}
    for name, (path, _desc) in scenarios().items():
        doc = load_yaml(Path(path))[0]
        # fleet/fleet takes ~19 s just to check (1,040 nodes), past the 20 s a short run gets;
        # fleet/slice-50 exercises the same code.
        if name == "fleet/fleet":
            continue
        if isinstance(doc, dict) and "training" not in doc and "extends" not in doc:
            out[name] = (doc, Path(path).parent)
    return out


def classify(doc: dict, base_dir: Path, overrides: list) -> tuple[str, str]:
    try:
        sf = read(doc, overrides, base_dir=base_dir)
        Simulation(sf).build().check()
    except ScenarioError as exc:
        try:
            assert_good_error(exc)
        except AssertionError as bad:
            return "traceback", f"unlocated error: {bad}"
        return "located", ""
    except Exception:  # noqa: BLE001 - what we are counting
        return "traceback", traceback.format_exc(limit=3)
    try:
        short_run(sf)
    except AssertionError as exc:
        return "nan", str(exc)[:300]
    except Exception:  # noqa: BLE001
        return "traceback", traceback.format_exc(limit=3)
    return "ran", ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutations", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0, help="Hypothesis seed (results repeat)")
    ap.add_argument("--json", help="write the counts and findings here")
    args = ap.parse_args()
    found = bases()
    names = sorted(found)
    counts: collections.Counter = collections.Counter()
    per_base: dict = collections.defaultdict(collections.Counter)
    findings: list[dict] = []

    @seed(args.seed)
    @settings(max_examples=args.mutations, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def explore(data):
        name = data.draw(st.sampled_from(names), label="base")
        doc, base_dir = found[name]
        doc = copy.deepcopy(doc)
        overrides: list[str] = []
        for _ in range(data.draw(st.integers(1, 3), label="mutations")):
            mutate(doc, overrides, data.draw)
        kind, detail = classify(doc, base_dir, overrides)
        counts[kind] += 1
        per_base[name][kind] += 1
        if kind in ("traceback", "nan") and len(findings) < 50:
            findings.append({"base": name, "kind": kind, "overrides": overrides,
                             "detail": detail})

    t0 = time.perf_counter()
    explore()
    wall = time.perf_counter() - t0
    total = sum(counts.values())
    print(f"{total} mutations of {len(names)} scenarios in {wall:.0f} s (seed {args.seed})")
    for kind in ("located", "ran", "traceback", "nan"):
        print(f"  {kind:<10} {counts[kind]:>6}  ({100 * counts[kind] / max(total, 1):.1f} %)")
    for f in findings[:10]:
        print(f"\n[{f['kind']}] {f['base']} {f['overrides']}\n{f['detail']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"mutations": total, "counts": dict(counts),
                                               "per_base": {k: dict(v) for k, v in per_base.items()},
                                               "findings": findings, "wall_s": wall}, indent=2))
    return 1 if counts["traceback"] or counts["nan"] else 0


if __name__ == "__main__":
    sys.exit(main())
