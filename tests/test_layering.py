"""The package's layering, read from its own imports (docs/architecture.md, "Layers").

Every ``import`` and ``from ... import`` counts, at module level or inside a function: a lazy
import is still a dependency. A module's own ancestor packages are not counted (Python imports
them first whatever the module says). The checks: no import circle; no import from a lower
layer up; no system imports another system, the CLI or a tool; no module over 600 lines.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "edgesim"

#: Layers, bottom first: a module may import its own layer and those below it.
LAYERS = [
    ("base", ["edgesim", "edgesim._version", "edgesim.units", "edgesim.errors",
              "edgesim.bundled", "edgesim.registry", "edgesim.shared_data"]),
    ("scenario", ["edgesim.scenario"]),
    ("core", ["edgesim.engine", "edgesim.hardware", "edgesim.network", "edgesim.workload",
              "edgesim.failures", "edgesim.metrics", "edgesim.learning", "edgesim.policies",
              "edgesim.result", "edgesim.report"]),
    ("runs", ["edgesim.training", "edgesim.api"]),
    ("systems", ["edgesim.systems"]),
    ("tools", ["edgesim.calibration", "edgesim.study", "edgesim.analysis", "edgesim.video",
               "edgesim.docgen"]),
    ("cli", ["edgesim.cli", "edgesim.__main__"]),
]
MAX_LINES = 600


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(ROOT.rglob("*.py")):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports() -> dict[str, set[str]]:
    """Module -> the edgesim modules it imports (by its text, not by running it)."""
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        pkg = m if path.name == "__init__.py" else m.rpartition(".")[0]
        ancestors = {".".join(m.split(".")[:k]) for k in range(1, m.count(".") + 1)}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    head = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                    base = ".".join(head + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m and t not in ancestors:
                    edges[m].add(t)
    return edges


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, (_name, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    if rank is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and to "
                             "docs/architecture.md")
    return rank


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict = {}
    low: dict = {}
    on, stack, out = set(), [], []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} ({LAYERS[layer_of(a)][0]}) -> {b} ({LAYERS[layer_of(b)][0]})"
                  for a, bs in edges.items() for b in bs if layer_of(b) > layer_of(a))


def system_of(module: str):
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "systems" else None


def test_every_module_has_a_layer():
    for m in modules():
        layer_of(m)


def test_no_import_circle():
    assert cycles(imports()) == []


def test_no_import_from_a_lower_layer_up():
    assert upward(imports()) == []


def test_systems_are_independent():
    """A system imports the core, the shared training machinery and itself: never another
    system (they meet only through the registry)."""
    bad = [f"{a} -> {b}" for a, bs in imports().items() for b in bs
           if system_of(a) and system_of(b) and system_of(a) != system_of(b)]
    assert bad == []


def test_no_module_over_the_limit():
    long = {m: n for m, p in modules().items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_checker_sees_a_circle_and_an_upward_import():
    """The checks above can fail: a made-up graph with both faults is caught."""
    edges = {"edgesim.engine.a": {"edgesim.engine.b"}, "edgesim.engine.b": {"edgesim.engine.a",
                                                                             "edgesim.cli.app"},
             "edgesim.cli.app": set()}
    assert cycles(edges) == [["edgesim.engine.a", "edgesim.engine.b"]]
    assert upward(edges) == ["edgesim.engine.b (core) -> edgesim.cli.app (cli)"]


def test_every_layer_is_in_the_architecture_page():
    text = (ROOT.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name, prefixes in LAYERS:
        for p in prefixes:
            short = p.replace("edgesim.", "", 1) if p != "edgesim" else None
            if short and not short.startswith("_") and short != "__main__":
                assert short in text, f"docs/architecture.md does not mention {short}"


if __name__ == "__main__":      # a report: python tests/test_layering.py
    e = imports()
    print("circles:", cycles(e) or "none")
    print("upward imports:", "\n  ".join(upward(e)) or "none")
