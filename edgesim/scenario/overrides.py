"""`--set key.path=value` overrides applied to the raw scenario before validation."""
from __future__ import annotations

import copy
from typing import Any, Iterable

import yaml

from edgesim.errors import Problem, ScenarioError


def parse_assignment(text: str) -> tuple[list, Any]:
    """Split 'nodes.cam.count=12' into (['nodes', 'cam', 'count'], 12); the value is YAML."""
    if "=" not in text:
        raise ScenarioError([Problem("", "an override must look like key.path=value",
                                     value=text, has_value=True, file="--set")])
    key, _, raw = text.partition("=")
    parts = [p for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in parts):
        raise ScenarioError([Problem(key, "empty element in key path", value=text,
                                     has_value=True, file=f"--set {text}")])
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    path: list = [int(p) if p.lstrip("-").isdigit() else p for p in parts]
    return path, value


#: Mappings whose keys are names the scenario chooses. A `--set` that names a member absent
#: from the file once created it silently (`--set nodes.edg.count=2`, a typo of `edge`, added a
#: group of CPU nodes); creating one takes a `+` before the key: `--set +nodes.edg.count=2`.
NAMED = {("nodes",): "node group", ("links",): "link", ("cells",): "cell",
         ("devices",): "device", ("service",): "service model",
         ("workload", "sources"): "source", ("workload", "jobs"): "job"}


def _no_such_name(at: tuple, elem: str, existing: list, text: str) -> ScenarioError:
    from edgesim.errors import did_you_mean
    what = NAMED[at]
    close = did_you_mean(elem, existing)
    hint = f" (did you mean {close!r}?)" if close else ""
    key = text.partition("=")[0].strip()
    return ScenarioError([Problem(
        ".".join(map(str, (*at, elem))),
        f"no {what} named {elem!r} in the scenario{hint}; to add a new {what} from the "
        f"command line, write --set +{key}=...", valid=sorted(existing), file=f"--set {text}")])


def _cannot(parent: Any, elem: Any) -> str:
    """Why ``elem`` cannot be looked up in (or set on) ``parent``."""
    if isinstance(parent, list):
        if isinstance(elem, int):
            return f"no item {elem}: the list has {len(parent)} item(s)"
        return "this is a list: index it with a number"
    return f"cannot set this key: its parent is {type(parent).__name__}, not a mapping"


def apply_overrides(data: dict, assignments: Iterable[str]) -> tuple[dict, dict[tuple, str]]:
    """Return a copy of ``data`` with each assignment applied, and where each override came from."""
    out = copy.deepcopy(data)
    origins: dict[tuple, str] = {}
    for text in assignments:
        create = text.startswith("+")
        path, value = parse_assignment(text[1:] if create else text)
        cur: Any = out
        for i, elem in enumerate(path[:-1]):
            here = ".".join(map(str, path[: i + 1]))
            if isinstance(cur, dict):
                nxt = cur.get(elem, cur.get(str(elem)))
                if nxt is None:
                    at = tuple(map(str, path[:i]))
                    if at in NAMED and not create:
                        raise _no_such_name(at, str(elem), [str(k) for k in cur], text)
                    nxt = cur[str(elem)] = {}
                cur = nxt
            elif isinstance(cur, list) and isinstance(elem, int) and -len(cur) <= elem < len(cur):
                cur = cur[elem]
            else:
                raise ScenarioError([Problem(here, _cannot(cur, elem), file=f"--set {text}")])
        last = path[-1]
        if isinstance(cur, dict):
            cur[str(last)] = value
        elif isinstance(cur, list) and isinstance(last, int) and -len(cur) <= last < len(cur):
            cur[last] = value
        else:
            raise ScenarioError([Problem(".".join(map(str, path)), _cannot(cur, last),
                                         file=f"--set {text}")])
        origins[tuple(str(p) if not isinstance(p, int) else p for p in path)] = f"--set {text}"
    return out, origins
