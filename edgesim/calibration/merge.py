"""Merge bundles of one device into one bundle (``edgesim calibrate merge``).

Several profiler runs on the same machine (different models, batch sizes or phases) become one
bundle: rows are concatenated in the order given, extra columns are united (a column one bundle
lacks is left empty in its rows), raw samples are concatenated, ``sources`` are united, and

* ``device_id`` must be the same in every bundle (:class:`MergeError` otherwise), and so must
  the bundle-level ``provenance``;
* ``fingerprint``: the first bundle's (its ``profiler`` batches, phases and skipped cells
  united over all of them), with ``merged_from`` listing every source bundle's path, creation
  time, command and fingerprint; the fingerprints are compared (the profiler settings that
  naturally differ between runs - models, batches, phases, skipped cells - are left out of the
  comparison) and every difference is returned as a warning;
* ``command``: one line per source bundle's command, in the order given, then the merge command
  itself: running the lines in order rebuilds the bundle;
* ``notes``: the source notes, then what the merge did;
* a row that repeats another (same model, phase, batch, input shape and threads) is an error
  unless ``on_duplicate`` is ``first`` or ``last`` (which keeps that one, with a warning).

:func:`fill_kernels` fills the ``kernels`` column (compute kernels per forward pass) of rows
written by a profiler that did not have it yet, from a ``describe`` function (the zoo's). This
module does not import torch.
"""
from __future__ import annotations

import json
from typing import Callable, Iterable, Optional, Sequence

import pandas as pd

from edgesim.hardware.profiles.bundle import COLUMNS, Bundle, BundleError

__all__ = ["MergeError", "merge_bundles", "fingerprint_differences", "fill_kernels"]

_KEY = ["model", "phase", "batch", "input_shape", "threads"]
# profiler settings that differ between runs by design; not worth a warning
_RUN_SPECIFIC = {("profiler", "batches"), ("profiler", "phases"), ("profiler", "skipped"),
                 ("profiler", "models")}


class MergeError(BundleError):
    """The bundles cannot be merged (different devices or provenances, repeated rows)."""


def _flatten(d: object, prefix: tuple = ()) -> dict[tuple, object]:
    if isinstance(d, dict):
        out: dict[tuple, object] = {}
        for k, v in d.items():
            out.update(_flatten(v, prefix + (str(k),)))
        return out
    return {prefix: d}


def fingerprint_differences(fps: Sequence[dict], labels: Sequence[str]) -> list[str]:
    """One line per fingerprint entry that differs between the bundles (run-specific ones aside)."""
    flat = [_flatten(fp or {}) for fp in fps]
    keys = sorted({k for f in flat for k in f}, key=lambda k: ".".join(k))
    out = []
    for k in keys:
        if k[:2] in _RUN_SPECIFIC:
            continue
        vals = [f.get(k, "(absent)") for f in flat]
        if any(json.dumps(v, sort_keys=True, default=str) != json.dumps(vals[0], sort_keys=True,
                                                                       default=str)
               for v in vals[1:]):
            shown = ", ".join(f"{lab}: {v!r}" for lab, v in zip(labels, vals))
            out.append(f"fingerprint {'.'.join(k)} differs ({shown})")
    return out


def merge_bundles(bundles: Sequence[Bundle], command: str = "",
                  on_duplicate: str = "error") -> tuple[dict, pd.DataFrame,
                                                        Optional[pd.DataFrame], list[str]]:
    """(meta, table, samples or None, warnings) of the merged bundle; see the module docstring."""
    if len(bundles) < 1:
        raise MergeError("nothing to merge: give at least one bundle")
    if on_duplicate not in ("error", "first", "last"):
        raise ValueError(f"on_duplicate must be error, first or last, not {on_duplicate!r}")
    labels = [str(b.path) for b in bundles]
    ids = [b.device_id for b in bundles]
    if len(set(ids)) > 1:
        raise MergeError("cannot merge bundles of different devices: "
                         + ", ".join(f"{lab} is {i!r}" for lab, i in zip(labels, ids))
                         + " (merge bundles of one device_id only)")
    provs = [b.provenance for b in bundles]
    if len(set(provs)) > 1:
        raise MergeError("cannot merge bundles of different provenance: "
                         + ", ".join(f"{lab} is {p!r}" for lab, p in zip(labels, provs)))
    warnings = fingerprint_differences([b.meta.get("fingerprint") or {} for b in bundles], labels)

    extra: list[str] = []
    for b in bundles:
        extra += [c for c in b.table.columns[len(COLUMNS):] if c not in extra]
    frames = []
    for i, b in enumerate(bundles):
        t = b.table.copy()
        for c in extra:
            if c not in t.columns:
                t[c] = ""
        t = t[[*COLUMNS, *extra]]
        t["_src"] = i
        frames.append(t)
    table = pd.concat(frames, ignore_index=True)
    keycols = table[_KEY].astype(object).where(table[_KEY].notna(), None)
    keys = [tuple(r) for r in keycols.itertuples(index=False)]
    seen: dict[tuple, int] = {}
    drop: set[int] = set()
    for i, key in enumerate(keys):
        if key not in seen:
            seen[key] = i
            continue
        j = seen[key]
        what = (f"{key[0]} {key[1]} batch {key[2]}"
                + (f" input {key[3]}" if key[3] else "") + (f" threads {key[4]}" if key[4] else ""))
        a, b = labels[table.at[j, "_src"]], labels[table.at[i, "_src"]]
        if on_duplicate == "error":
            raise MergeError(f"{what} is in both {a} and {b}; pass on_duplicate first or last "
                             f"(--on-duplicate) to keep one")
        if on_duplicate == "first":
            drop.add(i)
            warnings.append(f"{what}: kept the row of {a}, dropped the one of {b}")
        else:
            drop.add(j)
            seen[key] = i
            warnings.append(f"{what}: kept the row of {b}, dropped the one of {a}")
    kept_src = {(keys[i], int(table.at[i, "_src"])) for i in range(len(table)) if i not in drop}
    table = table.drop(index=sorted(drop)).drop(columns="_src").reset_index(drop=True)

    samples = []
    for i, b in enumerate(bundles):
        s = b.load_samples()
        if s is None:
            continue
        # keep a source's samples of a (model, phase, batch) only where its row was kept
        rows = {(k[0], k[1], k[2]) for (k, src) in kept_src if src == i}
        mask = [(m, p, int(bb)) in rows for m, p, bb in zip(s["model"], s["phase"], s["batch"])]
        samples.append(s.loc[mask, ["model", "phase", "batch", "sample_ms"]])
    samples_df = pd.concat(samples, ignore_index=True) if samples else None
    if samples_df is not None and len(samples) < len(bundles):
        warnings.append("only some of the bundles have raw samples; the merged samples.parquet "
                        "covers their rows only")

    first = bundles[0].meta
    fp = dict(first.get("fingerprint") or {})
    profs = [(b.meta.get("fingerprint") or {}).get("profiler") for b in bundles]
    if isinstance(fp.get("profiler"), dict) and all(isinstance(x, dict) for x in profs):
        # the run-specific profiler settings of the merged bundle cover every run
        prof = dict(fp["profiler"])
        for key in ("batches", "phases", "skipped"):
            vals = [v for x in profs for v in (x.get(key) or [])]
            if key in prof or vals:
                uniq = list(dict.fromkeys(vals))
                prof[key] = sorted(uniq) if key == "batches" else uniq
        fp["profiler"] = prof
    fp["merged_from"] = [{"path": lab, "created": b.meta.get("created"),
                          "command": b.meta.get("command", ""),
                          "fingerprint": b.meta.get("fingerprint") or {}}
                         for lab, b in zip(labels, bundles)]
    sources: list[dict] = []
    for b in bundles:
        for src in b.meta.get("sources", []):
            if src not in sources:
                sources.append(src)
    cmds = [b.meta.get("command") or f"# {lab}: no command recorded"
            for lab, b in zip(labels, bundles)]
    lines = [line for c in cmds for line in c.splitlines()]
    if command:
        lines.append(command)
    notes = [f"{lab}: {b.meta['notes']}" for lab, b in zip(labels, bundles) if b.meta.get("notes")]
    notes.append(f"Merged from {len(bundles)} bundle(s) of {ids[0]!r} ({', '.join(labels)}), "
                 f"{len(table)} rows; the command field lists each source's command, then the "
                 f"merge.")
    meta = {"schema_version": first.get("schema_version", 1), "device_id": ids[0],
            "provenance": provs[0], "fingerprint": fp, "command": "\n".join(lines),
            "sources": sources, "notes": " ".join(notes)}
    return meta, table, samples_df, warnings


def fill_kernels(table: pd.DataFrame, describe: Callable[[str, int], dict],
                 models: Optional[Iterable[str]] = None) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Fill empty ``kernels`` cells from ``describe(model, batch)["kernels"]``.

    Returns (table, filled models, models describe could not count). The column is added (as the
    last one) where the table lacks it. Only rows whose ``kernels`` is empty are touched.
    """
    t = table.copy()
    if "kernels" not in t.columns:
        t["kernels"] = ""
    t["kernels"] = t["kernels"].astype(object)
    want = None if models is None else set(models)
    filled, failed = [], []
    cache: dict[tuple[str, int], Optional[int]] = {}
    for i, r in t.iterrows():
        v = r["kernels"]
        if not (v is None or v is pd.NA or (isinstance(v, float) and v != v) or str(v).strip() == ""):
            continue
        if want is not None and r["model"] not in want:
            continue
        key = (r["model"], int(r["batch"]))
        if key not in cache:
            try:
                k = describe(*key).get("kernels")
                cache[key] = None if k is None else int(k)
            except Exception:   # not a zoo model, or a counter that cannot follow it
                cache[key] = None
        if cache[key] is None:
            if r["model"] not in failed:
                failed.append(r["model"])
            continue
        t.at[i, "kernels"] = str(cache[key])
        if r["model"] not in filled:
            filled.append(r["model"])
    return t, filled, failed
