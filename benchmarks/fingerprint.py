"""Fingerprint every bundled scenario's results, to show that a refactoring changed nothing.

Each bundled scenario (sweep files aside) runs with seed 1 and a short duration; the run
directory's tables (every ``*.parquet``, wall-clock columns dropped), its ``summary.json``
(wall-clock keys dropped) and its ``scenario.resolved.yaml`` are reduced to SHA-256 digests,
with the summary's values kept in full so that a difference can be read, not only detected.

    python benchmarks/fingerprint.py write before.json        # on the old tree
    python benchmarks/fingerprint.py write after.json         # on the new tree
    python benchmarks/fingerprint.py compare before.json after.json

Two checkouts side by side: ``PYTHONPATH=OLD python benchmarks/fingerprint.py write a.json
--root OLD`` (and the same for NEW), so that each runs its own code on its own scenarios.

A scenario is capped at ``--duration`` simulated seconds (60; training scenarios at
``--training-duration``, 300), enough for every mechanism to act at least once.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WALL = ("wall", "elapsed")          # column and key names that hold wall-clock figures
WALL_KEYS = {"speedup"}             # summary.json: simulated over wall-clock seconds


def _scenarios(root: Path) -> list[Path]:
    out = []
    for path in sorted((root / "scenarios").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "\nsweep:" in text or text.startswith("sweep:") or "\nbase:" in text:
            continue            # sweep and capacity files drive many runs, not one
        out.append(path)
    return out


def _is_wall(name: str) -> bool:
    return name in WALL_KEYS or any(w in name.lower() for w in WALL)


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not _is_wall(k)}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _table_digest(path: Path) -> dict:
    import pandas as pd
    frame = pd.read_parquet(path)
    frame = frame[[c for c in frame.columns if not _is_wall(str(c))]]
    # Arrow's IPC bytes of the table (its pandas metadata dropped) are the same for the same
    # values and types, list-valued columns included.
    import pyarrow as pa
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    table = table.replace_schema_metadata(None)
    buf = io.BytesIO()
    with pa.ipc.new_stream(buf, table.schema) as writer:
        writer.write_table(table)
    return {"rows": int(len(frame)), "columns": [str(c) for c in frame.columns],
            "sha256": hashlib.sha256(buf.getvalue()).hexdigest()}


def fingerprint(path: Path, duration: float, training_duration: float,
                root: Path = ROOT) -> dict:
    import edgesim
    sf = edgesim.load(path)
    cap = training_duration if sf.spec.training is not None else duration
    overrides = [f"duration={min(sf.spec.duration, cap)}"]
    if sf.spec.warmup >= min(sf.spec.duration, cap):
        overrides.append("warmup=0")
    sf = edgesim.load(path, overrides)
    t0 = time.perf_counter()
    result = edgesim.run(sf, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(result.save(tmp, plots=False))
        tables = {p.name: _table_digest(p) for p in sorted(out.glob("*.parquet"))}
        # Paths in it are absolute (the file, its traces): a checkout elsewhere is the same.
        text = (out / "scenario.resolved.yaml").read_text(encoding="utf-8")
        body = text.replace(str(root.resolve()), "<checkout>")
        resolved = hashlib.sha256(body.encode()).hexdigest()
        summary = _clean(json.loads((out / "summary.json").read_text()))
    return {"summary": summary, "tables": tables, "resolved_sha256": resolved,
            "seconds": round(time.perf_counter() - t0, 2)}


def write(target: Path, duration: float, training_duration: float, only: str,
          root: Path = ROOT) -> None:
    from edgesim.errors import ScenarioError
    out = {}
    for path in _scenarios(root):
        rel = str(path.relative_to(root / "scenarios"))
        if only and only not in rel:
            continue
        print(f"{rel} ...", end=" ", flush=True)
        try:
            out[rel] = fingerprint(path, duration, training_duration, root)
        except ScenarioError as exc:
            # A scenario that cannot run here (its shared data is absent, say) is recorded as
            # such, and the rest are still fingerprinted.
            out[rel] = {"error": str(exc)}
            print("not run:", exc, flush=True)
            continue
        print(f"{out[rel]['seconds']} s", flush=True)
    for v in out.values():
        v.pop("seconds", None)
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


def _diff(a, b, where: str, lines: list) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                lines.append(f"{where}.{k}: only in {'after' if k not in a else 'before'}")
            else:
                _diff(a[k], b[k], f"{where}.{k}", lines)
    elif a != b:
        lines.append(f"{where}: {a!r} -> {b!r}")


def compare(before: Path, after: Path) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    lines: list = []
    _diff(a, b, "", lines)
    for line in lines:
        print(line)
    tables = sum(len(v["tables"]) for v in a.values())
    print(f"{len(a)} scenarios, {tables} tables: "
          + ("identical" if not lines else f"{len(lines)} differences"))
    return 1 if lines else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("target", type=Path)
    w.add_argument("--duration", type=float, default=60.0)
    w.add_argument("--training-duration", type=float, default=300.0)
    w.add_argument("--only", default="", help="only scenarios whose path contains this")
    w.add_argument("--root", type=Path, default=ROOT, help="the checkout whose bundled scenarios "
                   "run (import edgesim from it too: PYTHONPATH=ROOT)")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "write":
        write(args.target, args.duration, args.training_duration, args.only, args.root)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
