"""Hand-written parts of the reference: notes on keys and models, section titles, nouns.

Plain data, edited by hand; :func:`edgesim.docgen.walk.stale_notes` reports entries that name
nothing in the schema any more.
"""
from __future__ import annotations

__all__ = ["NOTES", "MODEL_NOTES", "KEY_NAMES", "TITLES", "NOUNS", "UNION_TITLES"]

# --------------------------------------------------------------------------- hand-written notes
#
# Keyed by class and field *names*, so that a model renamed or removed in the schema does not
# break the generator; a key naming nothing is reported by stale_notes() (and by the tests).

#: Descriptions for keys whose schema field has none (appended where it has one).
NOTES: dict[tuple[str, str], str] = {
    ("Scenario", "name"): "names the run: the default run directory is `runs/<name>-<time>`; "
                          "shown in plot titles and `summary.json`",
    ("Scenario", "description"): "free text; its first line is what `edgesim scenarios` lists",
    ("Scenario", "seed"): "every component draws from its own random stream derived from this "
                          "seed and the component's name; `edgesim run --seed` overrides it",
    ("Scenario", "max_completions"): "completed requests, over all sources; the run ends at "
                                     "the completion that reaches the count",
    ("Scenario", "devices"): "devices defined here, in addition to (or overriding) the built-in "
                             "catalogue",
    ("Scenario", "nodes"): "node groups; a group with `count: n` becomes members "
                           "`<group>0` .. `<group>{n-1}`",
    ("Scenario", "switches"): "names of network switches: link ends that are not nodes",
    ("Scenario", "links"): "wired links; with neither links nor cells, data moves between "
                           "nodes instantly",
    ("Scenario", "network"): "network-wide settings",
    ("Scenario", "workload"): "where requests come from and which stages they go through",
    ("Scenario", "service"): "`*` stands for any device without an entry of its own",
    ("Scenario", "failures"): "things that go down and come back",
    ("Scenario", "policy"): "the placement policy and how often its monitor view is refreshed",
    ("Scenario", "metrics"): "what is measured and how",
    ("DeviceSpec", "kind"): "device class",
    ("DeviceSpec", "description"): "free text",
    ("DeviceSpec", "mem_bandwidth"): "memory bandwidth",
    ("NodeSpec", "count"): "number of members; `cam` with count 3 is `cam0`, `cam1`, `cam2`",
    ("NodeSpec", "role"): "what the group is in the system (a label carried by each node)",
    ("NodeSpec", "device"): "a built-in catalogue device or a key of `devices`",
    ("NodeSpec", "queue"): "discipline of the per-model queues; `priority` serves the highest "
                           "source `priority` first",
    ("NodeSpec", "max_batch"): "largest batch one executor serves at once",
    ("LinkSpec", "ends"): "the two ends: a node, a node group (one link per member) or a "
                          "switch; at most one end may be a group of several nodes",
    ("LinkSpec", "bandwidth"): "capacity in each direction (unless `up`/`down` say otherwise); "
                               "flows crossing a link share it max-min fairly",
    ("LinkSpec", "latency"): "propagation delay",
    ("TraceRef", "format"): "file format; `auto` guesses from the contents",
    ("RouteSpec", "src"): "the node where the route starts",
    ("RouteSpec", "dst"): "the node where it ends",
    ("CellSpec", "standard"): "802.11 amendment: default PHY rate and MAC timing",
    ("Poisson", "rate"): "mean arrival rate",
    ("OnOff", "periods"): "period lengths: exponential with the given means, or exactly the means",
    ("TraceArrivals", "loop"): "replay the trace again from the start when it ends",
    ("SourceSpec", "arrivals"): "the arrival process; its `process` key selects the model",
    ("SourceSpec", "job"): "a key of `workload.jobs`",
    ("WorkloadSpec", "sources"): "arrival streams",
    ("WorkloadSpec", "jobs"): "job types: pipelines of stages, DAGs, or ensembles",
    ("JobSpec", "stages"): "run in order; each stage is placed on one node",
    ("JobSpec", "ensemble"): "fan-out to members and fan-in at the master (variant "
                             "parallelism, class parallelism); see the [VP guide](guides/vp.md)",
    ("EnsembleMember", "model"): "a key of `service`: the model this member runs",
    ("StageSpec", "model"): "a key of `service`: the model this stage runs",
    ("Constant", "time"): "service time of a batch of one",
    ("Exponential", "mean"): "mean service time of a batch of one",
    ("Lognormal", "mean"): "mean service time of a batch of one",
    ("Empirical", "samples"): "measured service times, resampled uniformly",
    ("Empirical", "column"): "CSV column to read (name or index); default: the first",
    ("Empirical", "unit"): "unit of the numbers in `file`",
    ("FailureSpec", "kind"): "what happens to the target; see the "
                             "[failures guide](guides/failures.md)",
    ("PolicySpec", "name"): "a registered policy; see [Policies](#policies)",
    ("PolicySpec", "params"): "the policy's own settings, checked against its parameters below",
}

#: Extra paragraphs under a model's heading: rules that validators and the check phase enforce.
MODEL_NOTES: dict[str, str] = {
    "Scenario": "Unknown keys are errors everywhere in the file (with a did-you-mean hint). "
                "`warmup` must be shorter than `duration`.",
    "DeviceSpec": "A device named here that is also in the catalogue overrides the catalogue's "
                  "entry; `base` copies another catalogue entry and overrides what is given.",
    "NodeSpec": "Member names must not collide with another group's or a switch's name.",
    "WorkloadSpec": "Every source names a job; every stage names a model of `service`.",
    "SourceSpec": "With `at` a group of n nodes, the source becomes n independent sources "
                  "named `<source>.<member>`, each with its own random stream.",
    "StageSpec": "When a stage has several candidate nodes, the policy chooses one per request; "
                 "with one candidate the placement is fixed. Every candidate's device needs a "
                 "service time for the stage's model.",
    "MMPP": "`rates` and `sojourn` have one entry per state; `transitions`, if given, is an "
            "n x n matrix whose rows sum to 1 with a zero diagonal. The process starts in state 0.",
    "OnOff": "A two-state MMPP that starts in the on state.",
    "TraceArrivals": "The file is CSV or whitespace-separated; `#` lines are comments and a "
                     "non-numeric first row is a header.",
    "Empirical": "Give exactly one of `samples` or `file`.",
    "Profile": "Calibration CSV: columns `model`, `batch`, `median_ms` and optionally `p90_ms` "
               "and `phase`; batch sizes between measured ones are interpolated linearly, and "
               "a node's `max_batch` may not exceed the largest measured batch.",
    "PolicySpec": "`report_interval` matters only for policies that read the monitor view "
                  "(marked below).",
    "MetricsSpec": "Statistics cover requests created after `warmup`; time series are sampled "
                   "every `interval` from the end of the warm-up.",
    "TrainingSpec": "A scenario with a `training` section trains models instead of serving a "
                    "workload: it may leave out `workload` and `service`, and may not have "
                    "`workload` or `failures`. `duration` caps the simulated time. Guides: "
                    "docs/guides/deepcon.md and docs/guides/mercury.md.",
    "DeepconSpec": "`server` names one node; `workers` a node group (or node). `rounds` is per "
                   "training; with `ota`, every trigger trains `ota.rounds` rounds instead.",
    "MercurySpec": "`devices` needs at least two members. Iteration times are simulated; the "
                   "totals multiply the steady mean iteration by the iterations in "
                   "`convergence`, which are inputs.",
    "ConvergenceSpec": "The schedule being run needs its ratio (sgd's is 1).",
    "FailureSpec": "`outage`, `crash`, `slowdown` and `preemption` take exactly one of "
                   "`schedule`, `mtbf` with `mttr`, or `trace`; `fault` and `loss` take "
                   "`probability` and none of those. `factor` goes with `slowdown` only, `mode` "
                   "with `outage` and `preemption` only. Node kinds target a node or group, "
                   "`outage` and `loss` a link or cell.",
    "EnsembleSpec": "The master is the node the query comes from (its source's `at`). Each "
                    "member receives `input_bytes` and answers with `answer` bytes; the query "
                    "is answered when at least `quorum` answers arrive within `deadline`. An "
                    "ensemble job takes no `result_bytes` and no job-level `accuracy`; its "
                    "`timeout` applies to each member at its service start.",
    "AccuracySpec": "Every member's model needs a single-model accuracy: from `table`, or from "
                    "the dataset's column of Table VI (zoo names `mobilenet_v2`, `vp_v1`.. "
                    "`vp_v7`, on ImageNet `vp_im1`..`vp_im7`), unless `value` is given.",
}

#: How dict keys are named in section paths, per (model, field); one entry per dict level.
KEY_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Scenario", "devices"): ("<device>",),
    ("Scenario", "nodes"): ("<group>",),
    ("Scenario", "links"): ("<link>",),
    ("Scenario", "cells"): ("<cell>",),
    ("Scenario", "service"): ("<model>", "<device>"),
    ("WorkloadSpec", "sources"): ("<source>",),
    ("WorkloadSpec", "jobs"): ("<job>",),
    ("CellSpec", "rates"): ("<station>",),
    ("DeepconSpec", "models"): ("<model>",),
}

#: Section headings, by model name (default: the class name).
TITLES: dict[str, str] = {
    "Scenario": "Top level",
    "DeviceSpec": "Devices",
    "NodeSpec": "Nodes",
    "LinkSpec": "Links",
    "TraceRef": "Bandwidth traces",
    "CellSpec": "Wi-Fi cells",
    "NetworkSpec": "Network",
    "RouteSpec": "Pinned routes",
    "WorkloadSpec": "Workload",
    "SourceSpec": "Sources",
    "JobSpec": "Jobs",
    "StageSpec": "Stages",
    "EnsembleSpec": "Ensembles",
    "EnsembleMember": "Ensemble members",
    "AnswerSpec": "Ensemble answers",
    "AccuracySpec": "Ensemble accuracy",
    "FailureSpec": "Failures",
    "PolicySpec": "Policy",
    "MetricsSpec": "Metrics",
    "TrainingSpec": "Training",
    "DeepconSpec": "DEEPCON",
    "TrainModelSpec": "DEEPCON models",
    "OTASpec": "Over-the-air loop",
    "GapSpec": "Consistency gap",
    "MercurySpec": "Mercury",
    "GroupSpec": "Importance groups",
    "ReshardSpec": "Resharding",
    "ConvergenceSpec": "Convergence inputs",
}
#: What one value of a model is called, for links in the type column.
NOUNS: dict[str, str] = {
    "DeviceSpec": "device", "NodeSpec": "node group", "LinkSpec": "link", "CellSpec": "cell",
    "TraceRef": "bandwidth trace", "NetworkSpec": "network settings", "RouteSpec": "route",
    "WorkloadSpec": "workload", "SourceSpec": "source", "JobSpec": "job", "StageSpec": "stage",
    "EnsembleSpec": "ensemble", "EnsembleMember": "ensemble member", "AnswerSpec": "answer",
    "AccuracySpec": "accuracy table",
    "FailureSpec": "failure", "PolicySpec": "policy", "MetricsSpec": "metrics",
    "TrainingSpec": "training", "DeepconSpec": "DEEPCON settings", "TrainModelSpec": "model",
    "OTASpec": "over-the-air loop", "GapSpec": "gap process", "MercurySpec": "Mercury settings",
    "GroupSpec": "group settings", "ReshardSpec": "resharding", "ConvergenceSpec": "convergence",
}
UNION_TITLES = {"process": "Arrival processes", "dist": "Service-time models"}
