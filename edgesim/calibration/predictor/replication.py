"""How far apart two published measurements of the same thing are: the anchors' own noise.

``calibration/literature/replications/`` holds rows that a *second* party published for keys
the anchors already hold (same device, model, runtime, precision, batch, threads), measured
with the same harness. They are never fitted on. :func:`replication_spread` pairs each with
its anchor and reports the relative difference ``replication / anchor - 1``: what a predictor
that reproduced one publication exactly would score against the other. It bounds how small a
per-anchor error target can meaningfully be (docs/validation.md sets the predictor's
leave-one-device-out figures beside it). Torch-free.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgesim.calibration.predictor.anchors import DEFAULT_LITERATURE, Anchor, load_anchor_dir, load_anchors

__all__ = ["load_replications", "replication_spread", "replication_markdown"]


def load_replications(literature: str | Path = DEFAULT_LITERATURE) -> list[Anchor]:
    """Every row of ``<literature>/replications/*.csv`` (the anchor CSV format)."""
    return load_anchor_dir(Path(literature) / "replications")


def replication_spread(anchors: Optional[Sequence[Anchor]] = None,
                       replications: Optional[Sequence[Anchor]] = None) -> dict:
    """Pairs of (anchor, replication) with the same key and their relative differences.

    Returns ``rows`` (device, model, runtime, precision, batch, anchor_ms, replication_ms,
    difference, the two sources), ``n``, ``unmatched`` (replication keys no anchor has),
    ``devices`` and the summary ``median_abs`` / ``p90_abs`` of |difference| (NaN when
    nothing pairs)."""
    anchors = list(load_anchors() if anchors is None else anchors)
    reps = list(load_replications() if replications is None else replications)
    by_key = {a.key: a for a in anchors}
    rows, unmatched = [], []
    for r in reps:
        a = by_key.get(r.key)
        if a is None:
            unmatched.append(r.key)
            continue
        rows.append({"device": r.device, "model": r.model, "runtime": r.runtime,
                     "precision": r.precision, "batch": r.batch, "anchor_ms": a.latency_ms,
                     "replication_ms": r.latency_ms, "difference": r.latency_ms / a.latency_ms - 1,
                     "anchor_source": a.source, "replication_source": r.source})
    d = np.abs([row["difference"] for row in rows])
    return {"rows": rows, "n": len(rows), "unmatched": unmatched,
            "devices": sorted({row["device"] for row in rows}),
            "median_abs": float(np.median(d)) if len(d) else math.nan,
            "p90_abs": float(np.percentile(d, 90)) if len(d) else math.nan}


def replication_markdown(res: dict) -> str:
    """One paragraph for docs/validation.md (empty when nothing pairs)."""
    if not res["n"]:
        return ""
    per_rt = {}
    for row in res["rows"]:
        per_rt.setdefault(row["runtime"], []).append(abs(row["difference"]))
    parts = ", ".join(f"{rt} {np.median(v):.1%} ({len(v)})" for rt, v in sorted(per_rt.items()))
    return (f"**Published replications** (`calibration/literature/replications/`: the same device, "
            f"model, runtime, precision and batch published twice by different parties with the "
            f"same harness; {res['n']} pairs on {', '.join(res['devices'])}): the two publications "
            f"differ by median {res['median_abs']:.1%}, p90 {res['p90_abs']:.1%} (median by "
            f"runtime: {parts}).")
