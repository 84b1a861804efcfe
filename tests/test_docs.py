"""The documentation moves with the code.

* ``docs/scenario-reference.md`` is exactly what ``python -m edgesim.docgen`` generates now.
* ``docs/tutorial.md`` is executed top to bottom, in a scratch directory: every ```yaml block is
  a valid scenario (``# name.yaml`` on its first line saves it under that name), every
  ```yaml-invalid block is rejected, every ``edgesim ...`` line of a ```bash block names a real
  command with real options and runs with the exit status it claims (``# exits with status N``,
  0 otherwise; a failing command's output must equal the ```text block right after it), and
  every ```python block runs.  Partial YAML (``yaml-snippet``), blocks marked ``no-run`` in
  their info string (```python no-run) and other languages are skipped.
* ``docs/architecture.md``: its policy examples register, run and are removed again.
* Links between the docs and anchors inside them resolve.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgesim
from edgesim import docgen
from edgesim.cli.app import main as cli_main
from edgesim.errors import ScenarioError

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
TUTORIAL = DOCS / "tutorial.md"
ARCHITECTURE = DOCS / "architecture.md"
REFERENCE = DOCS / "scenario-reference.md"

_FENCE = re.compile(r"^```([^\s`]*)([^\n]*)\n(.*?)^```\s*$", re.S | re.M)
_EXIT = re.compile(r"exits? with status (\d+)")
_SHELL = ("bash", "sh", "shell", "console")


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """(language tag, body, line number) of every fenced code block, in order.

    A block whose info string says ``no-run`` (```python no-run) is shown, not tested: its tag
    comes back as ``<lang>-no-run``.
    """
    text = path.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        lang = m.group(1) + ("-no-run" if "no-run" in m.group(2).split() else "")
        out.append((lang, m.group(3), text.count("\n", 0, m.start()) + 1))
    return out


def edgesim_lines(body: str) -> list[tuple[list[str], int, str]]:
    """(argv after 'edgesim', expected exit status, source line) for each edgesim command."""
    out = []
    # A command continued over lines (a trailing backslash) is one command.
    for raw in re.sub(r"\\\n\s*", " ", body).splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not re.match(r"(edgesim|python -m edgesim)(\s|$)", line):
            continue
        hash_ = re.search(r"\s#(\s|$)", line)
        code, comment = (line[:hash_.start()], line[hash_.end():]) if hash_ else (line, "")
        m = _EXIT.search(comment)
        argv = shlex.split(code)
        argv = argv[3:] if argv[:3] == ["python", "-m", "edgesim"] else argv[1:]
        if ">" in argv:
            argv = argv[:argv.index(">")]
        out.append((argv, int(m.group(1)) if m else 0, line))
    return out


def _scenario_name(body: str) -> str | None:
    first = body.lstrip().splitlines()[0] if body.strip() else ""
    m = re.fullmatch(r"#\s*([\w.-]+\.ya?ml)\s*", first)
    return m.group(1) if m else None


def _assert_parses(argv: list[str], where: str) -> None:
    """The command exists and click accepts its options (without running it)."""
    assert argv, f"{where}: bare 'edgesim'"
    if argv[0].startswith("-"):
        assert argv[0] in ("--help", "-h"), f"{where}: unexpected top-level option {argv[0]}"
        return
    name = argv[0]
    assert name in cli_main.commands, (
        f"{where}: 'edgesim {name}' is not a command; have {sorted(cli_main.commands)}")
    if "--help" in argv or "-h" in argv:
        return
    cmd = cli_main.commands[name]
    cmd.make_context(name, list(argv[1:]))  # raises UsageError / NoSuchOption if wrong


# ------------------------------------------------------------------------------ reference

def test_reference_is_up_to_date():
    assert REFERENCE.exists(), "docs/scenario-reference.md is missing: run python -m edgesim.docgen"
    assert REFERENCE.read_text(encoding="utf-8") == docgen.render(), (
        "docs/scenario-reference.md is out of date: run `python -m edgesim.docgen`")
    assert docgen.main(["--check"]) == 0


def test_docgen_check_detects_a_stale_file(tmp_path, capsys):
    target = tmp_path / "ref.md"
    assert docgen.main(["--check", "-o", str(target)]) == 1          # missing
    assert docgen.main(["-o", str(target)]) == 0
    assert docgen.main(["--check", "-o", str(target)]) == 0
    target.write_text(target.read_text(encoding="utf-8").replace("| `seed` |", "| `sead` |"),
                      encoding="utf-8")
    assert docgen.main(["--check", "-o", str(target)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_docgen_is_deterministic_across_processes(tmp_path):
    """No dependence on hash seeds or import order: two fresh interpreters agree."""
    outs = []
    for seed in ("1", "2"):
        target = tmp_path / f"ref{seed}.md"
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
        subprocess.run([sys.executable, "-m", "edgesim.docgen", "-o", str(target)], check=True,
                       cwd=tmp_path, env=env, capture_output=True)
        outs.append(target.read_text(encoding="utf-8"))
    assert outs[0] == outs[1] == docgen.render()


def test_reference_covers_the_schema():
    """Every key of every model reachable from Scenario, and every built-in policy, appears."""
    text = docgen.render()
    models = docgen._schema_models()
    assert {"Scenario", "NodeSpec", "SourceSpec", "StageSpec", "Poisson", "Profile",
            "PolicySpec", "MetricsSpec"} <= set(models)
    for model in models.values():
        assert f'<a id="{docgen.anchor(model)}"></a>' in text, model.__name__
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in text, f"{model.__name__}.{name}"
    for name in docgen.builtin_policies():
        assert f"#### `{name}`" in text
    for kind, unit_list in edgesim.units.VALID_UNITS.items():
        assert ", ".join(unit_list) in text, kind


def test_docgen_notes_name_real_keys():
    """Hand-written notes in edgesim/docgen/ must not outlive the keys they describe."""
    assert docgen.stale_notes() == []


def test_reference_anchors_resolve():
    text = REFERENCE.read_text(encoding="utf-8")
    ids = set(re.findall(r'<a id="([^"]+)"></a>', text))
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in ids, f"broken anchor #{target}"


# ------------------------------------------------------------------------------ tutorial

def test_tutorial_yaml_blocks_are_valid_scenarios(tmp_path):
    found = 0
    for lang, body, line in blocks(TUTORIAL):
        if lang == "yaml":
            found += 1
            path = tmp_path / (_scenario_name(body) or f"block-{line}.yaml")
            path.write_text(body, encoding="utf-8")
            try:
                edgesim.simulation(edgesim.load(path))   # schema and cross-reference checks
            except ScenarioError as exc:  # pragma: no cover - the failure message is the point
                pytest.fail(f"docs/tutorial.md:{line}: ```yaml block is not a valid scenario "
                            f"(tag partial snippets ```yaml-snippet):\n{exc}")
        elif lang == "yaml-invalid":
            path = tmp_path / (_scenario_name(body) or f"block-{line}.yaml")
            path.write_text(body, encoding="utf-8")
            with pytest.raises(ScenarioError):
                edgesim.simulation(edgesim.load(path))
    assert found >= 1


def test_tutorial_commands_exist():
    found = 0
    for lang, body, line in blocks(TUTORIAL):
        if lang in _SHELL:
            for argv, _code, text in edgesim_lines(body):
                found += 1
                _assert_parses(argv, f"docs/tutorial.md:{line}: {text}")
    # Commands quoted inline in the prose, e.g. `edgesim check FILE`.
    for span in re.findall(r"`(edgesim [^`]+)`", TUTORIAL.read_text(encoding="utf-8")):
        sub = span.split()[1]
        assert sub.startswith("-") or sub in cli_main.commands, f"inline `{span}`"
    assert found >= 5


#: Commands whose output the tutorial shows and the test compares.
_SHOWN = ("policies", "run")


def _steady(text: str) -> str:
    """Output without what changes from run to run: the wall-clock time of a run."""
    text = re.sub(r" in \d+(\.\d+)? s \(", " in N s (", text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def test_tutorial_runs_top_to_bottom(tmp_path, monkeypatch):
    """Execute the tutorial in order in a scratch directory that sees the bundled scenarios."""
    pytest.importorskip("duckdb", reason="the tutorial's DuckDB examples need duckdb (test extras)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    (tmp_path / "scenarios").symlink_to(REPO / "scenarios", target_is_directory=True)
    runner = CliRunner()
    namespace: dict = {"__name__": "tutorial"}
    items = blocks(TUTORIAL)
    for i, (lang, body, line) in enumerate(items):
        where = f"docs/tutorial.md:{line}"
        if lang in ("yaml", "yaml-invalid"):
            name = _scenario_name(body)
            if name:
                (tmp_path / name).write_text(body, encoding="utf-8")
        elif lang in _SHELL:
            for argv, code, text in edgesim_lines(body):
                result = runner.invoke(cli_main, argv, prog_name="edgesim")
                if code == 0 and result.exception and not isinstance(result.exception, SystemExit):
                    raise result.exception
                assert result.exit_code == code, (
                    f"{where}: `{text}` exited {result.exit_code}, expected {code}:\n"
                    f"{result.output}")
                nxt = items[i + 1] if i + 1 < len(items) else None
                if code == 0 and nxt is not None and nxt[0] == "text" and argv[0] in _SHOWN:
                    # What the tutorial shows a command printing is what it prints (the
                    # tutorial once listed 4 of 10 policies and 74,906 of 95,246 events);
                    # only the wall-clock time may differ.
                    assert _steady(result.output) == _steady(nxt[1]), (
                        f"{where}: the output shown for `{text}` differs from the real one:\n"
                        f"{result.output}")
                if code != 0:
                    assert nxt is not None and nxt[0] == "text", (
                        f"{where}: show the output of `{text}` in a ```text block after it")
                    assert result.output.strip() == nxt[1].strip(), (
                        f"{where}: the output shown for `{text}` differs from the real one:\n"
                        f"{result.output}")
        elif lang == "python":
            try:
                code = compile(body, f"{where} (python block)", "exec", dont_inherit=True)
                exec(code, namespace)
            except Exception as exc:  # pragma: no cover
                pytest.fail(f"{where}: python block failed: {exc!r}")
    assert (tmp_path / "runs" / "quickstart" / "summary.json").exists()
    assert (tmp_path / "runs" / "quickstart" / "plots" / "latency_cdf.png").exists()


def test_docs_links_resolve():
    for doc in (TUTORIAL, ARCHITECTURE):
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
            assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"
        for target, anchor in re.findall(r"\]\(([^)#\s]+\.md)#([^)]+)\)", text):
            other = (doc.parent / target).read_text(encoding="utf-8")
            headings = {_slug(h) for h in re.findall(r"^#+ (.+)$", other, re.M)}
            ids = set(re.findall(r'<a id="([^"]+)"></a>', other))
            assert anchor in headings | ids, f"{doc.name}: broken anchor {target}#{anchor}"


def _slug(heading: str) -> str:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


# ------------------------------------------------------------------------------ architecture

def test_architecture_commands_exist():
    for lang, body, line in blocks(ARCHITECTURE):
        if lang in _SHELL:
            for argv, _code, text in edgesim_lines(body):
                _assert_parses(argv, f"docs/architecture.md:{line}: {text}")


def test_architecture_policy_examples_run():
    """The example policies register under their names, validate params and place requests."""
    from edgesim.policies import registry

    registry.available()                         # load the built-ins and plug-ins first
    saved = dict(registry._REGISTRY)
    try:
        namespace: dict = {"__name__": "docs_architecture_example"}
        ran = 0
        for lang, body, line in blocks(ARCHITECTURE):
            if lang == "python":
                code = compile(body, f"docs/architecture.md:{line}", "exec", dont_inherit=True)
                exec(code, namespace)
                ran += 1
        assert ran >= 1
        new = {n: c for n, c in registry.available().items() if n not in saved}
        assert new, "the architecture examples register no policy"
        for name, cls in new.items():
            scenario = {
                "name": f"example-{name}", "duration": "300s", "seed": 5,
                "nodes": {"srv": {"count": 3}},
                "workload": {"jobs": {"j": {"stages": [{"model": "m", "node": "srv"}]}},
                             "sources": {"s": {"arrivals": {"process": "poisson", "rate": "2/s"},
                                                "job": "j"}}},
                "service": {"m": {"cpu": {"dist": "exponential", "mean": "1s"}}},
                "policy": {"name": name},
            }
            result = edgesim.run(scenario)
            used = set(result.requests["nodes"].astype(str))
            assert result.summary["requests"]["completed"] > 400, name
            assert len(used) >= 2, f"{name} sent everything to {used}"
            with pytest.raises(ScenarioError):
                edgesim.simulation(dict(scenario, policy={"name": name,
                                                          "params": {"no_such_param": 1}}))
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(saved)
