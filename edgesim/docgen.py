"""Generate ``docs/scenario-reference.md`` from the scenario schema.

    python -m edgesim.docgen            # (re)write docs/scenario-reference.md
    python -m edgesim.docgen --check    # exit 1 if the file on disk is out of date

The reference is built by walking the pydantic models of :mod:`edgesim.scenario.schema` from
:class:`~edgesim.scenario.schema.Scenario` down, in field order: one section per model (one per
variant of a discriminated union such as ``process:`` or ``dist:``), one table row per key with
its type, constraints, default, description and the units it accepts.  A model added to the
schema therefore appears in the reference without touching this file; ``tests/test_docs.py``
fails until the committed reference is regenerated.

Field descriptions come from the schema (``Field(description=...)``).  A few keys have no
description there; :data:`NOTES` supplies one.  Notes are keyed by class and field name, so a
renamed key never breaks the generator, and :func:`stale_notes` (checked by the tests) lists
notes that no longer describe anything.  The registered policies come
from :func:`edgesim.policies.registry.available` (built-in ones only, so a plug-in installed in
one environment does not change the file), the device names from the built-in catalogue.

Output is deterministic: no dates, no versions, no dependence on dict or set ordering.
"""
from __future__ import annotations

import argparse
import difflib
import inspect
import re
import sys
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import annotated_types as at
from pydantic import BaseModel, WithJsonSchema
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from . import units
from .hardware.catalogue import CATALOGUE
from .metrics.atomic import write_text_atomic
from .policies import registry
from .policies.base import Policy
from .scenario import schema as S
from .scenario import types as T

__all__ = ["REFERENCE", "render", "main", "stale_notes", "builtin_policies", "anchor",
           "describe_type"]

#: Where the generated reference lives in a source checkout.
REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "scenario-reference.md"

_NONE = type(None)
_DISCRIMINATORS = ("process", "dist")

# --------------------------------------------------------------------------- units

#: Unit-typed fields are recognised by the WithJsonSchema marker of their pydantic type.
UNIT_TYPES: dict[str, Any] = {
    "duration": T.Duration, "bandwidth": T.Bandwidth, "size": T.Size, "rate": T.Rate,
    "fraction": T.Fraction,
}
#: What a bare number means for each kind (the SI unit edgesim uses inside).
SI_UNIT = {"duration": "seconds", "bandwidth": "bit/s", "size": "bytes",
           "rate": "events per second", "fraction": "a fraction in [0, 1]"}
_FORMAT: dict[str, Callable[[float], str]] = {
    "duration": lambda v: units.format_duration(v, 6),
    "bandwidth": lambda v: units.format_bandwidth(v, 6),
    "size": lambda v: units.format_size(v, 6),
}


def _json_marker(tp: Any) -> dict:
    return next(m.json_schema for m in typing.get_args(tp)[1:] if isinstance(m, WithJsonSchema))


_MARKERS = {kind: _json_marker(tp) for kind, tp in UNIT_TYPES.items()}


def _unit_kind(metadata: Iterable[Any]) -> Optional[str]:
    for m in metadata:
        if isinstance(m, WithJsonSchema):
            for kind, marker in _MARKERS.items():
                if m.json_schema == marker:
                    return kind
    return None


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
    ("WorkloadSpec", "jobs"): "job types: pipelines of stages",
    ("JobSpec", "stages"): "run in order; each stage is placed on one node",
    ("StageSpec", "model"): "a key of `service`: the model this stage runs",
    ("Constant", "time"): "service time of a batch of one",
    ("Exponential", "mean"): "mean service time of a batch of one",
    ("Lognormal", "mean"): "mean service time of a batch of one",
    ("Empirical", "samples"): "measured service times, resampled uniformly",
    ("Empirical", "column"): "CSV column to read (name or index); default: the first",
    ("Empirical", "unit"): "unit of the numbers in `file`",
    ("FailureSpec", "kind"): "what happens to the target",
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
    "FailureSpec": "Failures",
    "PolicySpec": "Policy",
    "MetricsSpec": "Metrics",
}
#: What one value of a model is called, for links in the type column.
NOUNS: dict[str, str] = {
    "DeviceSpec": "device", "NodeSpec": "node group", "LinkSpec": "link", "CellSpec": "cell",
    "TraceRef": "bandwidth trace", "NetworkSpec": "network settings", "RouteSpec": "route",
    "WorkloadSpec": "workload", "SourceSpec": "source", "JobSpec": "job", "StageSpec": "stage",
    "FailureSpec": "failure", "PolicySpec": "policy", "MetricsSpec": "metrics",
}
UNION_TITLES = {"process": "Arrival processes", "dist": "Service-time models"}


def _schema_models() -> dict[str, type[BaseModel]]:
    """Every model reachable from Scenario, by class name."""
    found: dict[str, type[BaseModel]] = {}

    def walk(model: type[BaseModel]) -> None:
        if model.__name__ in found:
            return
        found[model.__name__] = model
        for _name, child, _levels, _is_list in _children(model):
            for m in (child if isinstance(child, list) else [child]):
                walk(m)

    walk(S.Scenario)
    return found


def stale_notes() -> list[str]:
    """Entries of NOTES, KEY_NAMES, MODEL_NOTES, TITLES and NOUNS that name nothing any more."""
    models = _schema_models()
    out = []
    for model, name in list(NOTES) + list(KEY_NAMES):
        if model not in models or name not in models[model].model_fields:
            out.append(f"{model}.{name}")
    for table in (MODEL_NOTES, TITLES, NOUNS):
        out += [m for m in table if m not in models]
    return sorted(set(out))


def _title(model: type[BaseModel]) -> str:
    return TITLES.get(model.__name__, model.__name__)


# --------------------------------------------------------------------------- types

def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _strip(tp: Any) -> tuple[Any, list]:
    """Annotated[...] -> (inner type, metadata)."""
    meta: list = []
    while typing.get_origin(tp) is typing.Annotated:
        args = typing.get_args(tp)
        tp, meta = args[0], meta + list(args[1:])
    return tp, meta


def _variant_tag(model: type[BaseModel]) -> Optional[tuple[str, str]]:
    for key in _DISCRIMINATORS:
        f = model.model_fields.get(key)
        if f is not None and typing.get_origin(f.annotation) is typing.Literal:
            values = typing.get_args(f.annotation)
            if len(values) == 1:
                return key, str(values[0])
    return None


def _union_models(tp: Any) -> Optional[list[type[BaseModel]]]:
    """The members of a discriminated union of models, else None."""
    tp, _ = _strip(tp)
    if typing.get_origin(tp) is not typing.Union:
        return None
    members = [_strip(a)[0] for a in typing.get_args(tp)]
    if members and all(_is_model(m) and _variant_tag(m) for m in members):
        return members
    return None


def anchor(model: type[BaseModel]) -> str:
    tag = _variant_tag(model)
    return f"{tag[0]}-{tag[1]}" if tag else model.__name__.lower()


def _union_anchor(key: str) -> str:
    return f"{key}-variants"


def _constraints(metadata: Iterable[Any]) -> list[str]:
    def num(v: Any) -> str:
        if isinstance(v, int) and v >= 2**32 and (v & (v - 1)) == 0:
            return f"2^{v.bit_length() - 1}"
        return f"{v:g}" if isinstance(v, float) else str(v)

    out = []
    for m in metadata:
        if isinstance(m, at.Gt):
            out.append(f"> {num(m.gt)}")
        elif isinstance(m, at.Ge):
            out.append(f"≥ {num(m.ge)}")
        elif isinstance(m, at.Lt):
            out.append(f"< {num(m.lt)}")
        elif isinstance(m, at.Le):
            out.append(f"≤ {num(m.le)}")
        elif isinstance(m, at.MinLen):
            out.append(f"at least {m.min_length} {'entry' if m.min_length == 1 else 'entries'}")
        elif isinstance(m, at.MaxLen):
            out.append(f"at most {m.max_length} entries")
    return out


def describe_type(tp: Any, metadata: Iterable[Any] = (), kinds: Optional[list] = None) -> str:
    """A short human description of a field's type, collecting unit kinds into ``kinds``."""
    if kinds is None:
        kinds = []
    inner, meta = _strip(tp)
    meta = list(metadata) + meta
    kind = _unit_kind(meta)
    if kind is not None:
        if kind not in kinds:
            kinds.append(kind)
        return kind
    tp = inner
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = typing.get_args(tp)
        members = _union_models(tp)
        if members is not None:
            key = _variant_tag(members[0])[0]
            return f"[{UNION_TITLES.get(key, key).lower()}](#{_union_anchor(key)})"
        parts = [describe_type(a, (), kinds) for a in args if a is not _NONE]
        text = " or ".join(parts)
        return text + " or null" if _NONE in args else text
    if origin is typing.Literal:
        values = typing.get_args(tp)
        if len(values) == 1:
            return f"`{values[0]}`"
        return "one of " + ", ".join(f"`{v}`" for v in values)
    if origin is list:
        return "list of " + describe_type(typing.get_args(tp)[0], (), kinds)
    if origin is tuple:
        args = typing.get_args(tp)
        return f"list of {len(args)}: [" + ", ".join(describe_type(a, (), kinds) for a in args) + "]"
    if origin is dict:
        return "mapping of name to " + describe_type(typing.get_args(tp)[1], (), kinds)
    if _is_model(tp):
        return f"[{NOUNS.get(tp.__name__, tp.__name__)}](#{anchor(tp)})"
    if tp is typing.Any:
        return "any"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _yaml_value(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str):
        return v if v else '""'
    if isinstance(v, dict):
        return "{}" if not v else repr(v)
    if isinstance(v, (list, tuple)):
        return "[]" if not v else repr(list(v))
    return str(v)


def describe_default(field: FieldInfo, kind: Optional[str]) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(all defaults)"
    else:
        value = field.default
    if value is PydanticUndefined:  # pragma: no cover
        return ""
    if kind in _FORMAT and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"`{_FORMAT[kind](value)}`"
    return f"`{_yaml_value(value)}`"


def describe_units(kinds: list[str]) -> str:
    if not kinds:
        return ""
    return "; ".join(f"{', '.join(units.VALID_UNITS[k])} (bare number: {SI_UNIT[k]})"
                     for k in kinds)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def field_table(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The markdown table of a model's fields."""
    rows = ["| key | type | default | description | units accepted |",
            "|---|---|---|---|---|"]
    for name, f in model.model_fields.items():
        kinds: list[str] = []
        typ = describe_type(f.annotation, f.metadata, kinds)
        for placeholder in KEY_NAMES.get((model.__name__, name), ()):
            typ = typ.replace("mapping of name to", f"mapping of `{placeholder}` to", 1)
        cons = _constraints(f.metadata)
        if cons:
            typ += ", " + ", ".join(cons)
        default = describe_default(f, kinds[0] if len(kinds) == 1 else None)
        parts = []
        if f.description:
            parts.append(f.description)
        note = NOTES.get((model.__name__, name))
        if note:
            parts.append(note)
        tag = _variant_tag(model)
        if tag is not None and name == tag[0]:
            parts.append(f"selects this variant: `{tag[0]}: {tag[1]}`")
        desc = "; ".join(parts)
        key = f.alias or name
        rows.append(f"| `{prefix}{key}` | {_cell(typ)} | {_cell(default)} | {_cell(desc)} | "
                    f"{_cell(describe_units(kinds))} |")
    return rows


def _doc(obj: Any) -> str:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return " ".join(inspect.cleandoc(doc).split()) if doc else ""


# --------------------------------------------------------------------------- sections

def _children(model: type[BaseModel]):
    """(field name, child model or union members, dict levels, is list) for nested models."""
    for name, f in model.model_fields.items():
        tp, _ = _strip(f.annotation)
        levels = 0
        is_list = False
        while True:
            origin = typing.get_origin(tp)
            if origin is dict:
                levels += 1
                tp, _ = _strip(typing.get_args(tp)[1])
            elif origin is list:
                is_list = True
                tp, _ = _strip(typing.get_args(tp)[0])
            elif origin is typing.Union and _union_models(tp) is None:
                non_none = [a for a in typing.get_args(tp) if a is not _NONE]
                if len(non_none) != 1:
                    break
                tp, _ = _strip(non_none[0])
            else:
                break
        members = _union_models(tp)
        if members is not None:
            yield name, members, levels, is_list
        elif _is_model(tp):
            yield name, tp, levels, is_list


def _heading(depth: int) -> str:
    return "#" * min(depth + 2, 5)


def _extra_devices() -> list[str]:
    rows = ["Built-in catalogue (use these names in `nodes.<group>.device` or as `base`):", "",
            "| device | kind | executors | peak FLOP/s | memory bandwidth | description |",
            "|---|---|---|---|---|---|"]
    for name in sorted(CATALOGUE):
        d = CATALOGUE[name]
        flops = f"{d.peak_flops / 1e12:g} TFLOP/s" if d.peak_flops else "–"
        mem = f"{d.mem_bandwidth / 1e9:g} GB/s" if d.mem_bandwidth else "–"
        rows.append(f"| `{name}` | {d.kind} | {d.executors} | {flops} | {mem} | "
                    f"{_cell(d.description)} |")
    return rows + [""]


def builtin_policies() -> dict[str, type[Policy]]:
    """The registered policies that ship with edgesim (plug-ins excluded: they vary by install)."""
    return {n: c for n, c in registry.available().items()
            if c.__module__ == "edgesim" or c.__module__.startswith("edgesim.")}


def _extra_policies() -> list[str]:
    out = ['<a id="policies"></a>', "", "### Policies", "",
           "Built-in policies (`edgesim policies` also lists installed plug-ins). A policy is "
           "asked only for stages with more than one candidate node.", "",
           "| name | description | reads the monitor view |", "|---|---|---|"]
    pols = builtin_policies()
    for name, cls in pols.items():
        out.append(f"| [`{name}`](#policy-{name}) | {_cell(cls.description)} | "
                   f"{'yes' if cls.uses_monitor else 'no'} |")
    out.append("")
    for name, cls in pols.items():
        out += [f'<a id="policy-{name}"></a>', "", f"#### `{name}`", ""]
        doc = _doc(cls)
        if doc:
            out += [doc, ""]
        if cls.Config.model_fields:
            out += ["Parameters (`policy.params`):", ""]
            out += field_table(cls.Config, "") + [""]
        else:
            out += ["No parameters (`policy.params` must be empty).", ""]
    return out


EXTRAS: dict[str, Callable[[], list[str]]] = {
    "DeviceSpec": _extra_devices,
    "PolicySpec": _extra_policies,
}


def _sub_path(model: type[BaseModel], path: str, name: str, levels: int, is_list: bool) -> str:
    keys = KEY_NAMES.get((model.__name__, name), ("<name>",) * levels)
    key = model.model_fields[name].alias or name
    return ".".join(p for p in [path, key, *keys] if p) + ("[i]" if is_list else "")


def _all_paths() -> dict[type[BaseModel], list[str]]:
    """Every path at which each model occurs in a scenario file, in schema order."""
    paths: dict[type[BaseModel], list[str]] = {}

    def walk(model: type[BaseModel], path: str, stack: tuple) -> None:
        if model in stack:
            return
        paths.setdefault(model, [])
        if path not in paths[model]:
            paths[model].append(path)
        for name, child, levels, is_list in _children(model):
            sub = _sub_path(model, path, name, levels, is_list)
            for m in (child if isinstance(child, list) else [child]):
                walk(m, sub, stack + (model,))

    walk(S.Scenario, "", ())
    return paths


def _sections() -> list[str]:
    out: list[str] = []
    seen: set = set()
    all_paths = _all_paths()

    def model_section(model, path: str, depth: int, title: Optional[str] = None) -> None:
        if model in seen:
            return
        seen.add(model)
        tag = _variant_tag(model)
        if title is None:
            title = f"`{tag[0]}: {tag[1]}`" if tag else _title(model)
        out.extend([f'<a id="{anchor(model)}"></a>', "", f"{_heading(depth)} {title}", ""])
        if path:
            where = ", ".join(f"`{p}`" for p in all_paths.get(model, [path]))
            label = "Paths" if "," in where else "Path"
            out.extend([f"{label}: {where}" + (f" with `{tag[0]}: {tag[1]}`" if tag else ""), ""])
        doc = _doc(model)
        if doc:
            out.extend([doc, ""])
        if model.__name__ in MODEL_NOTES:
            out.extend([MODEL_NOTES[model.__name__], ""])
        out.extend(field_table(model))
        out.append("")
        if model.__name__ in EXTRAS:
            out.extend(EXTRAS[model.__name__]())
        below = 0 if not path else depth + 1
        for name, child, levels, is_list in _children(model):
            sub = _sub_path(model, path, name, levels, is_list)
            if isinstance(child, list):
                key = _variant_tag(child[0])[0]
                out.extend([f'<a id="{_union_anchor(key)}"></a>', "",
                            f"{_heading(below)} {UNION_TITLES.get(key, key)}", "",
                            f"Path: `{sub}`; the `{key}` key selects one of:", "",
                            f"| `{key}` | required keys |", "|---|---|"])
                for m in child:
                    req = [n for n, f in m.model_fields.items() if f.is_required() and n != key]
                    out.append(f"| [`{_variant_tag(m)[1]}`](#{anchor(m)}) | "
                               f"{', '.join(f'`{r}`' for r in req) or '–'} |")
                out.append("")
                for m in child:
                    model_section(m, sub, below + 1)
            else:
                model_section(child, sub, below)

    model_section(S.Scenario, "", 0)
    return out


def _units_section() -> list[str]:
    used: dict[str, list[str]] = {k: [] for k in UNIT_TYPES}
    for model in _schema_models().values():
        for name, f in model.model_fields.items():
            kinds: list[str] = []
            describe_type(f.annotation, f.metadata, kinds)
            for k in kinds:
                used[k].append(f"{model.__name__}.{name}")
    out = ['<a id="units"></a>', "", "## Units", "",
           "Quantities are written as a number and a unit, with or without a space "
           "(`20ms`, `20 ms`, `10Mbps`, `8MB`, `30fps`, `25%`); a bare number is in the SI unit "
           "shown. Inside edgesim every quantity is an SI float. Ambiguous spellings are "
           "rejected with a hint rather than guessed: `10Mb` (bits or bytes?), `10M`, `5m` "
           "(minutes or metres?). `K` is accepted as kilo (1000), never 1024; binary sizes "
           "are written `KiB`, `MiB`, `GiB`.", "",
           "| kind | bare number means | recommended units | example |", "|---|---|---|---|"]
    for kind in UNIT_TYPES:
        desc = _MARKERS[kind].get("description", "")
        example = desc.split("e.g. ", 1)[1].split(" ", 1)[0].strip("'\"") if "e.g. " in desc \
            else ""
        out.append(f"| {kind} | {SI_UNIT[kind]} | {', '.join(units.VALID_UNITS[kind])} | "
                   f"`{example}` |")
    unused = [k for k in UNIT_TYPES if not used[k]]
    if unused:
        out += ["", "No scenario key takes a " + " or ".join(unused) + " yet."]
    return out + [""]


def render() -> str:
    """The full text of docs/scenario-reference.md."""
    head = [
        "<!-- Generated by `python -m edgesim.docgen` from edgesim/scenario/schema.py. "
        "Do not edit by hand: change the schema (or edgesim/docgen.py) and regenerate. -->",
        "",
        "# Scenario file reference",
        "",
        "A scenario is one YAML file. This page lists every key: its type, its default "
        "(**required** keys have none), what it means and, for quantities, the units it "
        "accepts. `<group>`, `<source>` and the like stand for names you choose. "
        "`edgesim check FILE` validates a file without running it; `edgesim schema` prints "
        "the same schema as JSON Schema for editor completion. For a walk-through see the "
        "[tutorial](tutorial.md).",
        "",
    ]
    sections = _units_section() + _sections()
    contents = []
    for i, line in enumerate(sections):
        m = re.match(r"(#{2,4}) ([^`].*)$", line)   # variants (`dist: constant`) left out
        if m and i >= 2 and sections[i - 2].startswith('<a id="'):
            ident = sections[i - 2][len('<a id="'):-len('"></a>')]
            indent = "  " * (len(m.group(1)) - 2)
            contents.append(f"{indent}- [{m.group(2)}](#{ident})")
    head += ["Contents:", ""] + contents + [""]
    body = head + sections
    text = "\n".join(body)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"


# --------------------------------------------------------------------------- entry point

def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgesim.docgen",
                                     description="Generate the scenario file reference.")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the file on disk differs from what would be generated")
    parser.add_argument("-o", "--output", type=Path, default=REFERENCE,
                        help=f"file to write or check (default: {REFERENCE})")
    args = parser.parse_args(argv)
    text = render()
    target: Path = args.output
    if args.check:
        try:
            current = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(f"{target}: missing; run `python -m edgesim.docgen`", file=sys.stderr)
            return 1
        if current != text:
            diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(),
                                             str(target), "generated", lineterm="", n=1))
            shown = diff[:40] + ([f"... ({len(diff) - 40} more diff lines)"] if len(diff) > 40
                                 else [])
            print("\n".join(shown), file=sys.stderr)
            print(f"{target}: out of date; run `python -m edgesim.docgen`", file=sys.stderr)
            return 1
        print(f"{target}: up to date")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
