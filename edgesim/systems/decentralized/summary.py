"""The `decentralized` part of summary.json: accuracy, computation, time and bytes of the rounds
that ran, and (with `compare_central`) the computation against the centralized baseline."""
from __future__ import annotations

import math
from statistics import fmean
from typing import Optional


def _to_target(rounds: list[dict], node_rows: list[dict], nodes: int,
               target: Optional[float]) -> dict:
    """The first round whose global accuracy reaches ``target``: rounds, simulated time, and
    the most any one node computed until then (FLOPs, compute seconds)."""
    out = {"rounds": None, "time_s": None, "flops_max_node": None, "flops_all": None,
           "compute_s_max_node": None}
    if target is None:
        return out
    for row in rounds:
        acc = row["global_accuracy"]
        if not math.isnan(acc) and acc >= target:
            r = row["round"]
            upto = [x for x in node_rows if x["round"] <= r]
            secs: dict[str, float] = {}
            for x in upto:
                secs[x["node"]] = secs.get(x["node"], 0.0) + x["compute_s"] + x["aggregation_s"]
            out.update(rounds=r + 1, time_s=row["end"], flops_max_node=row["cumulative_flops_max"],
                       flops_all=row["cumulative_flops"],
                       compute_s_max_node=max(secs.values()) if secs else 0.0)
            break
    return out


def _accs(rounds: list[dict]) -> list[float]:
    return [r["global_accuracy"] for r in rounds if not math.isnan(r["global_accuracy"])]


def decentral_summary(sim, system) -> dict:
    spec, run = system.spec, system.run_
    rows, nrows = run.rounds, run.node_rows
    cost, L = run.cost, system.learner
    accs = _accs(rows)
    central = spec.mode == "centralized"
    per_node = []
    for w in system.nodes:
        mine = [x for x in nrows if x["node"] == w.name]
        locs = [x["local_accuracy"] for x in mine if not math.isnan(x["local_accuracy"])]
        per_node.append({
            "node": w.name, "device": w.device.node.device, "tasks": list(w.tasks),
            "neighbours": [system.nodes[j].name for j in system.neighbours[w.k]],
            "examples": len(w.data),
            "parameters": (cost.baseline(spec.baseline)[0] if central
                           else cost.sub_params(len(w.tasks))),
            "forward_flops_per_example": (run.full_flops if central
                                          else cost.sub_flops(len(w.tasks))),
            "train_flops": sum(x["train_flops"] for x in mine),
            "aggregation_flops": sum(x["aggregation_flops"] for x in mine),
            "compute_s": sum(x["compute_s"] for x in mine),
            "aggregation_s": sum(x["aggregation_s"] for x in mine),
            "bytes_sent": sum(x["bytes_sent"] for x in mine),
            "bytes_received": sum(x["bytes_received"] for x in mine),
            "final_local_accuracy": locs[-1] if locs else None,
        })
    links: dict[str, float] = {}
    for x in run.link_rows:
        key = f"{x['a']}-{x['b']}"
        links[key] = links.get(key, 0.0) + x["bytes"]
    total_bytes = sum(r["bytes"] for r in rows)
    top = spec.topology if isinstance(spec.topology, str) else "graph"
    out = {
        "mode": spec.mode,
        "topology": top if spec.mode == "decentralized" else None,
        "links": system.graph.number_of_edges(),
        "tasks_per_node": spec.tasks_per_node, "overlap": spec.overlap,
        "data": spec.learning.data,
        "baseline": spec.baseline,
        "parameters": cost.baseline(spec.baseline)[0],
        "shared_parameters": cost.shared_params,
        "branch_parameters": cost.branch_params,
        "dense_parameters": cost.dense_params,
        "full_forward_flops_per_example": run.full_flops,
        "dense_forward_flops_per_example": cost.dense_flops,
        **_models(spec, L),
        "dataset": {"name": system.data.name, "examples": len(system.data),
                    "test_examples": len(system.test), "classes": system.data.classes,
                    "pretrain_examples": len(system.pretrain_set)},
        "rounds": len(rows),
        "complete": len(rows) == spec.rounds,
        "initial_global_accuracy": run.initial_accuracy,
        "final_global_accuracy": accs[-1] if accs else None,
        "best_global_accuracy": max(accs) if accs else None,
        "final_local_accuracy_mean": next((r["local_accuracy_mean"] for r in reversed(rows)
                                           if not math.isnan(r["local_accuracy_mean"])), None),
        "mean_round_s": fmean(r["duration"] for r in rows) if rows else None,
        "mean_compute_max_s": fmean(r["compute_max_s"] for r in rows) if rows else None,
        "mean_exchange_s": fmean(r["exchange_s"] for r in rows) if rows else None,
        "mean_aggregation_max_s": fmean(r["aggregation_max_s"] for r in rows) if rows else None,
        "bytes_total": total_bytes,
        "bytes_per_round": total_bytes / len(rows) if rows else None,
        "bytes_per_link": links,
        # The paper's Fig. 5: one node's computation per round, training + aggregation.
        "flops_per_round_max_node": (max(x["train_flops"] + x["aggregation_flops"]
                                         for x in nrows) if nrows else None),
        "aggregation_share": _share(nrows),
        "nodes": per_node,
        "target_accuracy": spec.target_accuracy,
        "learning_wall_s": sum(r["learn_wall_s"] for r in rows),
    }
    target = spec.target_accuracy
    if spec.compare_central:
        central = _central(sim)
        out["central"] = central
        if target is None:
            target = central["final_accuracy"]
            out["target_accuracy"] = target
        central_rows = central["_rounds"]
        c = _to_target(central["_rounds"], central["_nodes"], 1, target)
        del central["_rounds"], central["_nodes"]
        central["to_target"] = c
    out["to_target"] = _to_target(rows, nrows, len(system.nodes), target)
    if spec.compare_central:
        out["reduction"] = _reduction(out, out["central"])
        out["at_equal_flops"] = _at_equal(rows, central_rows, run.initial_accuracy,
                                          out["central"]["initial_accuracy"])
    return out


def _models(spec, learner) -> dict:
    """Which model was timed and which learned (as FedAce records them)."""
    m = spec.learning.model
    learned = {"model": f"{m.name} ({'dense' if learner.layout is None else 'branched'})",
               "params": int(learner.params)}
    if spec.timed is None:
        return {"learned_model": learned, "timed_model": dict(learned, source="learned")}
    t = spec.timed
    return {"learned_model": learned,
            "timed_model": {"model": t.model, "keep": t.keep, "decoupled": t.decoupled,
                            "source": "closed form"}}


def _acc_within(rows: list[dict], key: str, budget: float, start: float) -> float:
    """The last measured global accuracy of a run whose cumulative FLOPs (``key``) stay
    within ``budget`` (``start``, its accuracy before round 0, when none does)."""
    best = start
    for r in rows:
        if r[key] <= budget * (1 + 1e-12) and not math.isnan(r["global_accuracy"]):
            best = r["global_accuracy"]
    return best


def _at_equal(rows: list[dict], central: list[dict], start: float, c_start: float) -> dict:
    """Accuracy of both at equal computation: the smaller of the two runs' totals, counted
    over all nodes and on the busiest node."""
    out = {}
    for name, key in (("all", "cumulative_flops"), ("busiest_node", "cumulative_flops_max")):
        if not rows or not central:
            continue
        budget = min(rows[-1][key], central[-1]["cumulative_flops"])
        out[name] = {"flops": budget, "accuracy": _acc_within(rows, key, budget, start),
                     "central_accuracy": _acc_within(central, "cumulative_flops", budget,
                                                     c_start)}
    return out


def _share(nrows: list[dict]) -> Optional[float]:
    agg = sum(x["aggregation_flops"] for x in nrows)
    tot = agg + sum(x["train_flops"] for x in nrows)
    return agg / tot if tot > 0 else None


def _central(sim) -> dict:
    """The centralized baseline: the same scenario and seed with mode centralized."""
    ref = sim.reference(mode="centralized", compare_central=False).run()
    run = ref.system.run_
    accs = _accs(run.rounds)
    nrows = run.node_rows
    return {"node": ref.system.nodes[0].name, "rounds": len(run.rounds),
            "model": ref.system.spec.baseline, "initial_accuracy": run.initial_accuracy,
            "final_accuracy": accs[-1] if accs else None,
            "best_accuracy": max(accs) if accs else None,
            "flops_per_round": fmean(x["train_flops"] for x in nrows) if nrows else None,
            "train_flops": sum(x["train_flops"] for x in nrows),
            "compute_s": sum(x["compute_s"] for x in nrows),
            "sim_time_s": ref.end, "_rounds": run.rounds, "_nodes": nrows}


def _ratio(a, b) -> Optional[float]:
    return a / b if a is not None and b else None


def _reduction(out: dict, central: dict) -> dict:
    """Central computation / one decentralized node's (the most loaded), per round and to the
    target accuracy; and central over decentralized simulated time to the target."""
    d, c = out["to_target"], central["to_target"]
    return {"flops_per_round": _ratio(central["flops_per_round"],
                                      out["flops_per_round_max_node"]),
            "flops_to_target": _ratio(c["flops_max_node"], d["flops_max_node"]),
            "flops_all_to_target": _ratio(c["flops_all"], d["flops_all"]),
            "compute_s_to_target": _ratio(c["compute_s_max_node"], d["compute_s_max_node"]),
            "time_to_target": _ratio(c["time_s"], d["time_s"])}


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def _x(x) -> str:
    return "-" if x is None else f"{x:.2f}x"


def report_rows(body: dict) -> list[tuple[str, str]]:
    """The lines `edgesim run` prints for a decentralized summary."""
    from edgesim.report import fmt
    nodes = body["nodes"]
    rows = [("mode", body["mode"] if body["mode"] == "centralized" else
             f"{body['topology']}, {len(nodes)} nodes, {body['links']} links, overlap "
             f"{body['overlap']}"),
            ("tasks", "  ".join(f"{n['node']}:{','.join(map(str, n['tasks']))}" for n in nodes)),
            ("accuracy", f"global final {_pct(body['final_global_accuracy'])}  best "
                         f"{_pct(body['best_global_accuracy'])}  local mean "
                         f"{_pct(body['final_local_accuracy_mean'])}"),
            ("round (mean)", f"{fmt(body['mean_round_s'], 's')}: compute "
                             f"{fmt(body['mean_compute_max_s'], 's')}, exchange "
                             f"{fmt(body['mean_exchange_s'], 's')}, averaging "
                             f"{fmt(body['mean_aggregation_max_s'], 's')}"),
            ("FLOPs per round", f"{body['flops_per_round_max_node'] / 1e6:,.4g} MFLOP on the "
                                f"busiest node ({_pct(body['aggregation_share'])} averaging)"),
            ("bytes", f"{body['bytes_total'] / 1e6:,.4g} MB in all, "
                      f"{(body['bytes_per_round'] or 0) / 1e3:,.4g} kB per round")]
    t = body["to_target"]
    if body["target_accuracy"] is not None:
        rows.append((f"to {body['target_accuracy']:.1%}",
                     "not reached" if t["rounds"] is None else
                     f"{t['rounds']} rounds, {fmt(t['time_s'], 's')}, "
                     f"{t['flops_max_node'] / 1e6:,.4g} MFLOP on the busiest node"))
    tm, lm = body["timed_model"], body["learned_model"]
    if tm["source"] != "learned":
        rows.insert(1, ("models", f"timed {tm['model']} (keep {tm['keep']:.0%}), learned "
                                  f"{lm['model']}"))
    if "central" in body:
        c, red = body["central"], body["reduction"]
        eq = body["at_equal_flops"].get("all", {})
        rows += [("central", f"{c['model']}: final {_pct(c['final_accuracy'])}, "
                             f"{c['flops_per_round'] / 1e6:,.4g} MFLOP per epoch"),
                 ("reduction", f"per round {_x(red['flops_per_round'])}, to target "
                               f"{_x(red['flops_to_target'])} FLOPs (busiest node), "
                               f"{_x(red['flops_all_to_target'])} (all), "
                               f"{_x(red['time_to_target'])} time"),
                 ("at equal FLOPs", f"{_pct(eq.get('accuracy'))} against central "
                                    f"{_pct(eq.get('central_accuracy'))} (all nodes)")]
    return rows
