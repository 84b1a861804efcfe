"""Start-up cost of the command line: `import edgesim`, `import edgesim.cli.app` and `edgesim --help`
load click and edgesim's own small modules only, never the simulation stack (simpy, numpy,
pandas, pyarrow, pydantic, networkx), the plotting stack (matplotlib, rich) or torch.

Each check runs in a fresh interpreter, so what an earlier test imported does not count. This
file imports nothing heavy itself (docs/performance.md).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("simpy", "numpy", "pandas", "pyarrow", "pydantic", "networkx", "matplotlib", "rich",
         "scipy", "yaml", "torch")


def loaded_after(code: str) -> list[str]:
    """The HEAVY top-level packages in sys.modules after running ``code`` in a new process."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("code", ["import edgesim", "import edgesim.cli.app",
                                  "from edgesim import ScenarioError, __version__"])
def test_import_loads_nothing_heavy(code):
    assert loaded_after(code) == []


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["calibrate", "--help"],
                                  ["training", "--help"]])
def test_help_loads_nothing_heavy(argv):
    code = ("from edgesim.cli.app import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code")
    assert loaded_after(code) == []


def test_every_command_is_registered_without_importing_it():
    code = ("from edgesim.cli.app import main\n"
            "assert {'run', 'check', 'schema', 'scenarios', 'policies', 'trace', 'calibrate',\n"
            "        'testbed', 'compare', 'sweep', 'capacity', 'plot', 'training'}"
            " <= set(main.commands), sorted(main.commands)")
    assert loaded_after(code) == []


def test_lazy_api_names_resolve():
    """The package's API is imported on first use and is the same object as before."""
    pytest.importorskip("simpy")
    pytest.importorskip("pandas")
    code = ("import edgesim, edgesim.api, edgesim.result\n"
            "assert edgesim.run is edgesim.api.run and edgesim.load is edgesim.api.load\n"
            "assert edgesim.simulation is edgesim.api.simulation\n"
            "assert edgesim.Result is edgesim.result.Result\n"
            "from edgesim import run, Result\n"
            "assert {'run', 'load', 'simulation', 'Result'} <= set(dir(edgesim))\n"
            "assert edgesim.units.VALID_UNITS\n"            # a submodule, without importing it
            "assert not hasattr(edgesim, 'no_such_thing')")
    loaded_after(code)
