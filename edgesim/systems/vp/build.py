"""Build an ensemble job: one plan for the query (what the recorder and the summary see), one
one-stage plan per member, and the `Ensemble` that connects them; every problem is recorded
with its key path."""
from __future__ import annotations

from typing import Callable

from edgesim.engine.plan import JobPlan, StagePlan
from edgesim.systems.vp.accuracy import Accuracy
from edgesim.systems.vp.answer import answer_bytes
from edgesim.systems.vp.ensemble import Ensemble
from edgesim.systems.vp.predictions import PredictionsError, read as read_predictions


def build_ensemble(sim, name: str, job, path: str, candidates: Callable) -> tuple[list, object]:
    """([the query's plan], the callable that takes a new query) for ensemble job ``name``.

    ``candidates(sim, member_spec, path)`` is the engine's resolver of a stage's nodes."""
    spec = job.ensemble
    epath = f"{path}.ensemble"
    nbytes = answer_bytes(spec.answer)
    member_plans = []
    for i, m in enumerate(spec.members):
        mpath = f"{epath}.members.{i}"
        stage = StagePlan(m.model, candidates(sim, m, mpath), spec.input_bytes,
                          at_origin=m.node == "@origin")
        member_plans.append(JobPlan(-1, f"{name}/{i}:{m.model}", [stage], float(nbytes),
                                    job.timeout, group=name))
    models = [m.model for m in spec.members]
    accuracy = None
    if spec.accuracy is not None and spec.accuracy.source == "predictions":
        accuracy = _computed_accuracy(sim, spec, models, epath)
    elif spec.accuracy is not None:
        accuracy = Accuracy(spec.accuracy, models)
        missing = accuracy.missing()
        if missing:
            sim.problem(f"{epath}.accuracy.table", f"no accuracy is known for model "
                        f"{missing[0]!r} (Table VI of the '{spec.accuracy.dataset}' dataset has "
                        f"{', '.join(sorted(accuracy.single))}); add it to the table",
                        missing[0])
    stream = None
    if spec.aggregate is not None:
        _check_aggregate(sim, name, spec.aggregate, f"{epath}.aggregate")
        stream = sim.streams(f"ensemble:{name}:aggregate")
    ens = Ensemble(sim, name, spec, member_plans, models, accuracy, stream)
    plan = JobPlan(len(sim.jobs), name, [], 0.0, job.timeout, coordinator=ens)
    return [plan], ens.enter


def _computed_accuracy(sim, spec, models: list[str], epath: str):
    """The `Accuracy` computed from the predictions file, or None after recording why not."""
    acc = spec.accuracy
    try:
        preds = read_predictions(sim.file.path(acc.file))
    except PredictionsError as exc:
        sim.problem(f"{epath}.accuracy.file", str(exc), acc.file)
        return None
    ok = True
    for i, m in enumerate(models):
        if m not in preds.variants:
            sim.problem(f"{epath}.members.{i}.model", f"the predictions file {acc.file!r} has "
                        f"no variant {m!r}", m, list(preds.variants))
            ok = False
    answer = spec.answer
    if answer.encoding == "topk" and answer.classes != preds.classes:
        sim.problem(f"{epath}.answer.classes", f"the predictions file {acc.file!r} scores "
                    f"{preds.classes} classes", answer.classes, [preds.classes])
        ok = False
    if acc.top > preds.classes:
        sim.problem(f"{epath}.accuracy.top", f"more than the {preds.classes} classes of the "
                    "predictions file", acc.top)
        ok = False
    if not ok:
        return None
    k = answer.k if answer.encoding == "topk" else None
    return Accuracy(acc, models, preds, k)


def _check_aggregate(sim, job: str, model: str, path: str) -> None:
    """The aggregation runs on the master (each source's node): it needs one, with the model."""
    if model not in sim.spec.service:
        sim.problem(path, "no service times are given for this model", model,
                    sorted(sim.spec.service))
        return
    for sname, src in sim.spec.workload.sources.items():
        if src.job != job:
            continue
        if src.at is None:
            sim.problem(f"workload.sources.{sname}.at", f"job {job!r} aggregates on the master, "
                        "the node its queries come from: place the source 'at' a node", None)
            continue
        for node in sim.groups.get(src.at, []) or [sim.node_by_name.get(src.at)]:
            if node is not None and model not in node.services:
                sim.problem(path, f"the master {node.name!r} (device {node.device!r}) has no "
                            f"service time for model {model!r}", model)
                return
