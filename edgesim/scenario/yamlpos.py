"""YAML loading that remembers where every key came from, so errors can name file and line.

PyYAML's safe_load forgets positions and silently keeps the last of two duplicate keys; we
compose the node tree ourselves, build plain Python objects, and record the line of each key path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, ScenarioError

PathKey = tuple  # tuple of str | int


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: dict[PathKey, int] = {}
        self.problems: list[Problem] = []
        self._scalar = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    merged = self.build(value_node, path)
                    if isinstance(merged, dict):
                        for k, v in merged.items():
                            out.setdefault(k, v)
                    continue
                key = self._scalar.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    key = str(key)
                if isinstance(key, bool) or not isinstance(key, str):
                    key = str(key).lower() if isinstance(key, bool) else str(key)
                child = path + (key,)
                if key in out:
                    self.problems.append(Problem(
                        ".".join(map(str, child)), f"duplicate key {key!r} (first given on line "
                        f"{self.lines.get(child, '?')})", file=self.filename,
                        line=key_node.start_mark.line + 1))
                    continue
                self.lines[child] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, child)
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
    return parse_yaml(text, str(path))


def parse_yaml(text: str, filename: str) -> tuple[Any, dict[PathKey, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([Problem("", f"not valid YAML: {problem}", file=filename,
                                     line=mark.line + 1 if mark else None)]) from None
    if node is None:
        return {}, {}
    builder = _Builder(filename)
    data = builder.build(node, ())
    if builder.problems:
        raise ScenarioError(builder.problems)
    return data, builder.lines
