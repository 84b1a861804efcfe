"""The ``answers`` section of summary.json: availability, expected accuracy, who answered, and
bytes on air per query, over the queries created after the warm-up that ended in the run.

* ``availability``: answered (completed) queries / ended queries. ``within_slo``: answered
  within ``metrics.slo`` / ended (when an SLO is set): the availability a real-time
  application sees, comparable across ensembles (bounded by their window) and stage jobs
  (which have none).
* ``accuracy.expected``: mean expected accuracy per ended query, an unanswered one counting 0;
  ``accuracy.answered``: the mean over answered queries only (queries of jobs without an
  accuracy are left out of both).
* ``bytes_per_query``: bytes the network moved for a query (inputs, intermediate tensors,
  answers), including ensemble answers that arrived after the master closed the query.
* ``members``: for ensembles, how many members answered an answered query (mean, and the
  share of answered queries per count), the answering sets, and the mean bytes of an answer.
"""
from __future__ import annotations

import numpy as np


def summary_sections(sim) -> dict:
    """The sections VP adds to a request run's summary.json: `answers`, when any job's
    requests carry answers (ensembles, or stage jobs with an accuracy)."""
    return {"answers": answers_summary(sim)} if sim.recorder.answers else {}


def answers_summary(sim) -> dict:
    rec = sim.recorder
    n = len(rec)
    out: dict = {"queries": 0, "answered": 0, "availability": None}
    if not n:
        return out
    outcome = np.frombuffer(rec.outcome, dtype=np.int8)
    measured = ~np.frombuffer(rec.warm, dtype=np.int8).astype(bool)
    done = measured & (outcome == 0)
    ended = int(measured.sum())
    out["queries"] = ended
    out["answered"] = int(done.sum())
    out["availability"] = float(done.sum() / ended) if ended else None
    slo = sim.spec.metrics.slo
    if slo is not None and ended:
        lat = np.frombuffer(rec.finished, dtype=float) - np.frombuffer(rec.created, dtype=float)
        out["within_slo"] = float((done & (lat <= slo)).sum() / ended)
    acc = np.frombuffer(rec.accuracy, dtype=float)
    jobs = np.frombuffer(rec.job, dtype=np.int32)
    known = np.array([p.accuracy is not None or (p.coordinator is not None and
                                                 p.coordinator.accuracy is not None)
                      for p in sim.jobs], dtype=bool)
    has = measured & known[jobs] if len(known) else np.zeros(n, bool)
    if has.any():
        per_query = np.where(done & has, np.nan_to_num(acc, nan=0.0), 0.0)[has]
        answered = acc[done & has]
        out["accuracy"] = {"expected": float(per_query.mean()),
                           "answered": float(answered.mean()) if len(answered) else None}
    late = sum(p.coordinator.late_bytes for p in sim.jobs if p.coordinator is not None)
    nbytes = np.frombuffer(rec.nbytes, dtype=float)[measured]
    out["bytes_per_query"] = float((nbytes.sum() + late) / ended) if ended else None
    ens = [p.coordinator for p in sim.jobs if p.coordinator is not None]
    if ens:
        out["members"] = _members(rec, done, ens)
    return out


def _members(rec, done, ensembles) -> dict:
    codes = np.frombuffer(rec.answered_by, dtype=np.int32)[done]
    labels = {code: label for label, code in rec._labels.items()}
    counts = np.bincount(codes, minlength=len(labels)) if len(codes) else np.zeros(0, int)
    sets = {labels[c]: int(k) for c, k in enumerate(counts) if k}
    sizes: dict[str, int] = {}
    for label, k in sets.items():
        size = str(len(label.split("+"))) if label else "0"
        sizes[size] = sizes.get(size, 0) + k
    total = sum(sets.values())
    answers = sum(e.answers for e in ensembles)
    return {
        "mean": sum(int(s) * k for s, k in sizes.items()) / total if total else None,
        "share_by_count": {s: k / total for s, k in sorted(sizes.items(), key=lambda x: int(x[0]))},
        "sets": dict(sorted(sets.items(), key=lambda x: -x[1])),
        "bytes_per_answer": sum(e.answer_bytes for e in ensembles) / answers if answers else None,
    }
