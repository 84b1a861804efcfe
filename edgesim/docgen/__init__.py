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

# Besides what main() uses, every public attribute of the former single-file module stays
# importable from here (the names marked F401), so code written against it keeps working.
# argparse, not click: a `python -m` maintainer's tool (it regenerates a shipped file), not a
# user command; the layering keeps click in edgesim.cli, which nothing below it imports.
import argparse
import difflib
import inspect  # noqa: F401
import re  # noqa: F401
import sys
import typing  # noqa: F401
from pathlib import Path
from typing import Any, Callable, Iterable, Optional  # noqa: F401

import annotated_types as at  # noqa: F401
from pydantic import BaseModel, WithJsonSchema  # noqa: F401
from pydantic.fields import FieldInfo  # noqa: F401
from pydantic_core import PydanticUndefined  # noqa: F401

from edgesim import units  # noqa: F401
from edgesim.hardware.catalogue import CATALOGUE  # noqa: F401
from edgesim.metrics.atomic import write_text_atomic
from edgesim.policies import registry  # noqa: F401
from edgesim.policies.base import Policy  # noqa: F401
from edgesim.scenario import schema as S  # noqa: F401
from edgesim.scenario import types as T  # noqa: F401
from edgesim.docgen.notes import KEY_NAMES, MODEL_NOTES, NOTES, NOUNS, TITLES, UNION_TITLES  # noqa: F401
from edgesim.docgen.sections import EXTRAS, builtin_policies, render  # noqa: F401
from edgesim.docgen.tables import (SI_UNIT, UNIT_TYPES, describe_default, describe_type,  # noqa: F401
                     describe_units, field_table)
from edgesim.docgen.walk import _schema_models, anchor, stale_notes  # noqa: F401  (tests use _schema_models)

__all__ = ["REFERENCE", "render", "main", "stale_notes", "builtin_policies", "anchor",
           "describe_type"]

#: Where the generated reference lives in a source checkout (this package is edgesim/docgen/).
REFERENCE = Path(__file__).resolve().parent.parent.parent / "docs" / "scenario-reference.md"


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
