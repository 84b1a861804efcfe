"""The page: one section per model in schema order, the extras (devices, policies), units, contents."""
from __future__ import annotations

import re
from typing import Callable, Optional

from pydantic import BaseModel

from edgesim import units
from edgesim.hardware.catalogue import CATALOGUE
from edgesim.policies import registry
from edgesim.policies.base import Policy
from edgesim.scenario import schema as S
from edgesim.docgen.notes import MODEL_NOTES, TITLES, UNION_TITLES
from edgesim.docgen.tables import _MARKERS, SI_UNIT, UNIT_TYPES, _cell, _doc, describe_type, field_table
from edgesim.docgen.walk import _all_paths, _children, _schema_models, _sub_path, _union_anchor, _variant_tag, anchor

__all__ = ["render", "builtin_policies", "EXTRAS"]

# --------------------------------------------------------------------------- sections

def _title(model: type[BaseModel]) -> str:
    return TITLES.get(model.__name__, model.__name__)


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
