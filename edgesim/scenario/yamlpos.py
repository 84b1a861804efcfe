"""YAML loading that remembers where every key came from, so errors can name file and line.

PyYAML's safe_load forgets positions and silently keeps the last of two duplicate keys; we
compose the node tree ourselves, build plain Python objects, and record the line of each key path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edgesim.errors import Problem, ScenarioError

PathKey = tuple  # tuple of str | int

#: Caps on what aliases may expand to. An 841-byte file of nested aliases (a "billion laughs")
#: once took 3.8 GB and 30 s before a MemoryError; the largest bundled scenario builds about
#: 2,000 values and reuses an anchor a few dozen times.
MAX_VALUES = 200_000
MAX_ALIAS_USES = 10_000


class _TooLarge(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: dict[PathKey, int] = {}
        self.problems: list[Problem] = []
        self._scalar = yaml.constructor.SafeConstructor()
        self._active: set[int] = set()   # nodes being built: an alias to one is a cycle
        self._seen: set[int] = set()     # nodes built once: building one again is an alias use
        self._values = 0
        self._alias_uses = 0

    def _problem(self, path: PathKey, message: str, node: yaml.Node) -> None:
        self.problems.append(Problem(".".join(map(str, path)), message, file=self.filename,
                                     line=node.start_mark.line + 1))

    def _count(self, node: yaml.Node, path: PathKey) -> None:
        self._values += 1
        if id(node) in self._seen:
            self._alias_uses += 1
        else:
            self._seen.add(id(node))
        if self._values > MAX_VALUES or self._alias_uses > MAX_ALIAS_USES:
            what = (f"more than {MAX_ALIAS_USES:,} uses of aliases" if
                    self._alias_uses > MAX_ALIAS_USES else f"more than {MAX_VALUES:,} values")
            raise _TooLarge(Problem(".".join(map(str, path)),
                                    f"the document expands to {what} (nested aliases?); "
                                    "a scenario is refused past that size", file=self.filename,
                                    line=node.start_mark.line + 1))

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self._count(node, path)
        self.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self._active:
            self._problem(path, "an alias refers to a mapping or list that contains it", node)
            return None
        self._active.add(id(node))
        try:
            return self._build(node, path)
        finally:
            self._active.discard(id(node))

    def _build(self, node: yaml.Node, path: PathKey) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict = {}
            merged: dict = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    # `<<: *a` or `<<: [*a, *b]`: keys written here win, then earlier merges.
                    sources = value_node.value if isinstance(value_node, yaml.SequenceNode) \
                        else [value_node]
                    for m in [self.build(n, path) for n in sources]:
                        if isinstance(m, dict):
                            for k, v in m.items():
                                merged.setdefault(k, v)
                        else:
                            self._problem(path, "'<<' merges a mapping or a list of mappings, "
                                          f"not {type(m).__name__}", key_node)
                    continue
                # Keys are names: keep a scalar key as written, so that `on:`/`off:` (booleans
                # to YAML 1.1) stay 'on'/'off' and `0x10:` stays '0x10'.
                if isinstance(key_node, yaml.ScalarNode):
                    key = key_node.value
                else:
                    key = str(self._scalar.construct_object(key_node, deep=True))
                child = path + (key,)
                if key in out:
                    self._problem(child, f"duplicate key {key!r} (first given on line "
                                  f"{self.lines.get(child, '?')})", key_node)
                    continue
                self.lines[child] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, child)
            for k, v in merged.items():
                out.setdefault(k, v)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._scalar.construct_object(node, deep=True)


def load_yaml(path: Path) -> tuple[Any, dict[PathKey, int]]:
    """Parse a YAML file into plain objects plus a map from key path to line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([Problem("", f"cannot read scenario file: {exc.strerror}",
                                     file=str(path))]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([Problem("", f"not a text file (not UTF-8: byte {exc.start} is "
                                     f"{exc.object[exc.start:exc.start + 1]!r})",
                                     file=str(path))]) from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, filename: str) -> tuple[Any, dict[PathKey, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([Problem("", f"not valid YAML: {problem}", file=filename,
                                     line=mark.line + 1 if mark else None)]) from None
    except RecursionError:
        raise ScenarioError([Problem("", "not valid YAML: nested too deeply",
                                     file=filename)]) from None
    if node is None:
        return {}, {}
    builder = _Builder(filename)
    try:
        data = builder.build(node, ())
    except _TooLarge as exc:
        raise ScenarioError([exc.problem]) from None
    except yaml.YAMLError as exc:   # e.g. an unknown tag: !python/object
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([Problem("", f"not valid YAML: {problem}", file=filename,
                                     line=mark.line + 1 if mark else None)]) from None
    if builder.problems:
        raise ScenarioError(builder.problems)
    return data, builder.lines
