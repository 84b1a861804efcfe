"""Service times from a bundle, for `dist: calibrated` and the testbed's simulated twin.

* :class:`ServiceSource` / :func:`bundle_service`: the bundle's batch-1 back-to-back profile
  (its mean sets the testbed's arrival rates) and its raw samples per batch size;
* :class:`PerBatchEmpirical`: those samples resampled independently (the back-to-back
  prediction);
* :func:`served_service`: the bundle's served-mode calls as a
  :class:`~edgesim.hardware.profiles.served_model.ServedService`.

Torch-free.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from edgesim.engine.rng import Stream
from edgesim.hardware.profiles.bundle import as_bundle
from edgesim.hardware.service import ServiceModel

__all__ = ["ServiceSource", "bundle_service", "PerBatchEmpirical", "served_service"]


@dataclass
class ServiceSource:
    """What the simulation draws service times from (the back-to-back profile)."""

    mean_s: float                       # the bundle's batch-1 mean (sets the arrival rate)
    samples_s: Optional[list]           # raw batch-1 samples, seconds (None: none in the bundle)
    median_s: float
    p90_s: Optional[float]
    threads: Optional[int]
    kind: str = ""                      # "empirical" or "lognormal" (what `service_spec` gives)
    by_batch: Optional[dict] = None     # batch -> raw samples (s), every measured batch size
    medians: Optional[dict] = None      # batch -> back-to-back median (s), from latency.csv

    def service_spec(self) -> dict:
        """The scenario's batch-1 service entry for this model on the node's device."""
        if self.samples_s:
            return {"dist": "empirical", "samples": [float(s) for s in self.samples_s]}
        # No raw samples: a lognormal with the bundle's mean and the spread of its median and p90.
        cv = 0.0
        if self.p90_s and self.p90_s > self.median_s > 0:
            sigma = math.log(self.p90_s / self.median_s) / 1.2815515655446004
            cv = math.sqrt(math.expm1(sigma * sigma))
        if cv <= 0:
            return {"dist": "constant", "time": self.mean_s}
        return {"dist": "lognormal", "mean": self.mean_s, "cv": cv}

    def describe(self) -> str:
        spec = self.service_spec()
        if spec["dist"] == "empirical":
            a = np.asarray(self.samples_s)
            return (f"empirical: the bundle's {len(a)} raw batch-1 samples (mean "
                    f"{a.mean() * 1e3:.3f} ms, cv {a.std() / a.mean():.3f})")
        if spec["dist"] == "lognormal":
            return (f"lognormal: the bundle's batch-1 mean {self.mean_s * 1e3:.3f} ms, cv "
                    f"{spec['cv']:.3f} from its median and p90 (no samples.parquet)")
        return f"constant: the bundle's batch-1 mean {self.mean_s * 1e3:.3f} ms"


def bundle_service(bundle, model: str, threads: Optional[int] = None) -> ServiceSource:
    """Batch-1 inference service of ``model`` in ``bundle`` (a Bundle or a folder path)."""
    b = as_bundle(bundle)
    t = b.table
    every = t[(t["model"] == model) & (t["phase"] == "infer")]
    rows = every[every["batch"] == 1]
    if rows.empty:
        have = sorted(set(t.loc[(t["phase"] == "infer") & (t["batch"] == 1), "model"]))
        raise LookupError(f"{b.path}: no batch-1 infer row for model {model!r}; it has "
                          f"{', '.join(have) or 'none'}")
    if threads is not None and rows["threads"].notna().any():
        match = rows[rows["threads"] == threads]
        rows = match if not match.empty else rows
        pick = every[every["threads"] == threads]
        every = pick if not pick.empty else every
    row = rows.iloc[0]
    mean_ms = row["mean_ms"] if not _nan(row["mean_ms"]) else row["median_ms"]
    samples, by_batch = None, None
    raw = b.load_samples() if b.has_samples() else None
    if raw is not None:
        sel = raw[(raw["model"] == model) & (raw["phase"] == "infer")]
        by_batch = {int(k): [float(x) / 1e3 for x in g["sample_ms"]]
                    for k, g in sel.groupby("batch")}
        samples = by_batch.get(1)
    medians = {int(r.batch): float(r.median_ms) / 1e3 for r in every.itertuples()}
    src = ServiceSource(mean_s=float(mean_ms) / 1e3, samples_s=samples,
                        median_s=float(row["median_ms"]) / 1e3,
                        p90_s=None if _nan(row["p90_ms"]) else float(row["p90_ms"]) / 1e3,
                        threads=None if _nan(row["threads"]) else int(row["threads"]),
                        by_batch=by_batch or None, medians=medians)
    src.kind = src.service_spec()["dist"]
    return src


def _nan(v) -> bool:
    try:
        return v is None or bool(np.isnan(float(v)))
    except (TypeError, ValueError):
        return True


class PerBatchEmpirical(ServiceModel):
    """Back-to-back samples resampled independently, per batch size; a size the profile did not
    measure scales the nearest smaller measured size's samples by the ratio of the medians
    (linear interpolation of the bundle's medians)."""

    def __init__(self, by_batch: dict, medians: Optional[dict] = None) -> None:
        if not by_batch:
            raise ValueError("no samples")
        self.by_batch = {int(k): [float(x) for x in v] for k, v in by_batch.items() if v}
        self.sizes = sorted(self.by_batch)
        self.med = dict(medians or {})
        for k in self.sizes:
            self.med.setdefault(k, float(np.median(self.by_batch[k])))
        self._cache: dict[int, tuple[list, float]] = {}

    def _at(self, b: int) -> tuple[list, float]:
        hit = self._cache.get(b)
        if hit is None:
            ks = self.sizes
            i = bisect.bisect_right(ks, b)
            base = ks[max(i - 1, 0)]
            ms = sorted(self.med)
            j = bisect.bisect_left(ms, b)
            if j < len(ms) and ms[j] == b:
                target = self.med[b]
            elif 0 < j < len(ms):
                lo, hi = ms[j - 1], ms[j]
                target = self.med[lo] + (self.med[hi] - self.med[lo]) * (b - lo) / (hi - lo)
            else:                              # outside the measured sizes: linear in b
                target = self.med[base] * b / base
            hit = self._cache[b] = (self.by_batch[base], target / self.med[base])
        return hit

    def sample(self, b: int, stream: Stream) -> float:
        xs, f = self._at(b)
        return xs[int(stream.uniform() * len(xs))] * f

    def mean(self, b: int = 1) -> float:
        xs, f = self._at(b)
        return float(np.mean(xs)) * f


def served_service(bundle, model: str, workers: int, order: str = "replay",
                   threads: Optional[int] = None, load: Optional[float] = None,
                   max_batch: Optional[int] = None):
    """(ServedService, note) from the bundle's served-mode calls of ``model`` with ``workers``
    workers (else the nearest worker count, said in the note).

    ``load`` and ``max_batch`` narrow the calls to the profiled configuration nearest the one
    simulated (the nearest load, the same largest batch when it was profiled): its idle gaps
    came from that inter-arrival process. None: every load and batching of that worker count."""
    from edgesim.hardware.profiles.served_model import ServedService
    b = as_bundle(bundle)
    df = b.load_served() if b.has_served() else None
    if df is None or not (df["model"] == model).any():
        raise LookupError(f"{b.path}: no served-mode calls for {model!r}; make them with "
                          f"`edgesim calibrate served {b.path} --model {model}` (or use "
                          f"--service backtoback)")
    df = df[df["model"] == model]
    have = sorted(set(int(x) for x in df["workers"]))
    w = min(have, key=lambda x: (abs(x - workers), x))
    notes = [] if w == workers else [f"served calls of W={w} (none with W={workers})"]
    df = df[df["workers"] == w]
    where = f"W={w}"
    if load is not None:
        loads = sorted(set(float(x) for x in df["load"]))
        near = min(loads, key=lambda x: (abs(x - load), x))
        if not math.isclose(near, load, rel_tol=1e-9):
            notes.append(f"served calls at load {near:g} (none at {load:g})")
        df = df[df["load"] == near]
        where += f", load {near:g}"
    if max_batch is not None:
        same = df[df["max_batch"] == max_batch]
        if same.empty:
            notes.append(f"served calls of every batching (none with max_batch {max_batch})")
        else:
            df = same
            where += f", max_batch {max_batch}"
    df = df.sort_values(["run", "worker", "seq"], kind="stable")
    src = bundle_service(b, model, threads)
    m = ServedService(df["batch"].to_numpy(), df["gap_ms"].to_numpy() / 1e3,
                      df["sample_ms"].to_numpy() / 1e3,
                      segment=(df["run"].astype(np.int64) * 1000 + df["worker"]).to_numpy(),
                      order=order, fallback=src.medians, source=f"{b.path} ({where})")
    m.calibration_workers = w
    m.calibration_runs = sorted(set(int(x) for x in df["run"]))
    return m, "; ".join(notes)
