"""The one thing pyproject.toml cannot say: install the bundled scenarios, traces and calibration
bundles under <prefix>/share/edgesim/ with their folder structure (``[tool.setuptools]
data-files`` would flatten every sub-folder into one). All metadata is in pyproject.toml (PEP 621)."""
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def _bundled(folder: str) -> list:
    """Data files that a non-editable install puts under <prefix>/share/edgesim/."""
    out = {}
    for path in sorted((HERE / folder).rglob("*")):
        if path.is_file():
            out.setdefault(str(Path("share/edgesim") / path.parent.relative_to(HERE)), []).append(
                str(path.relative_to(HERE)))
    return sorted(out.items())


setup(data_files=_bundled("scenarios") + _bundled("traces") + _bundled("calibration"))
