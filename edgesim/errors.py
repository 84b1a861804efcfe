"""User-facing errors: every mistake in a scenario is reported as file:line, key path, bad value,
and what would be valid, then the CLI exits with status 2 and no traceback."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence


def did_you_mean(value: Any, choices: Iterable[str]) -> str | None:
    """The closest valid choice to a misspelt value, if one is close enough to suggest."""
    if not isinstance(value, str):
        return None
    close = difflib.get_close_matches(value, [str(c) for c in choices], n=1, cutoff=0.6)
    return close[0] if close else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Problem:
    """One thing wrong with a scenario."""

    path: str                       # dotted key path, e.g. "nodes.cam.count"
    message: str                    # what is wrong, e.g. "must be >= 1"
    value: Any = None
    valid: Sequence[str] = ()       # valid choices, if the set is small enough to list
    file: str | None = None
    line: int | None = None
    has_value: bool = False

    def render(self) -> str:
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        head = f"{where}: {self.path or '<top level>'}: "
        text = self.message
        shown = _short(self.value)
        # Skip the value only where the message already quotes it ("unknown key 'seeed'") or
        # starts with it ("-5 is not a duration"); a bare number inside the message is likely
        # a bound ("must be > 0.0"), not the value.
        if self.has_value and not (text.startswith(shown) or (
                isinstance(self.value, str) and shown in text)):
            text = f"{shown}: {text}"
        if self.valid:
            hint = did_you_mean(self.value, self.valid)
            if hint is not None and "did you mean" not in text:
                text += f" (did you mean {hint!r}?)"
            shown = list(self.valid)[:25]
            more = f", ... ({len(self.valid) - 25} more)" if len(self.valid) > 25 else ""
            text += "; valid: " + ", ".join(str(v) for v in shown) + more
        return head + text


@dataclass
class ScenarioError(Exception):
    """A scenario (or an override of it) is invalid. Holds every problem found, not just the first."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        lines = [p.render() for p in self.problems]
        if len(lines) > 1:
            lines.insert(0, f"{len(lines)} problems in scenario:")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class UserError(Exception):
    """A mistake on the command line or in a referenced file that is not a scenario key."""
