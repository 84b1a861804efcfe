"""Packaging for edgesim (setup.py because users asked for it; tool settings live in pyproject.toml)."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = {}
exec((HERE / "edgesim" / "_version.py").read_text(), VERSION)


def _bundled(folder: str) -> list:
    """Data files that a non-editable install puts under <prefix>/share/edgesim/."""
    out = {}
    for path in sorted((HERE / folder).rglob("*")):
        if path.is_file():
            out.setdefault(str(Path("share/edgesim") / path.parent.relative_to(HERE)), []).append(
                str(path.relative_to(HERE)))
    return sorted(out.items())


TEST = ["pytest>=7", "hypothesis>=6", "nbclient>=0.7", "nbformat>=5", "ipykernel>=6", "duckdb>=0.9",
        "scipy>=1.10"]
CALIBRATE = ["torch==2.13.0"]
# Learning in the loop (training.federated): real PyTorch steps on scikit-learn's digits.
LEARN = ["torch==2.13.0", "scikit-learn>=1.3"]
DASK = ["dask[distributed]==2026.8.0", "distributed==2026.8.0"]   # tested versions (sweeps)
VIDEO = ["opencv-python-headless>=4.8"]

setup(
    name="edgesim",
    version=VERSION["__version__"],
    description="Discrete-event simulator of edge-cloud deep-learning systems, on SimPy",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["edgesim", "edgesim.*"]),
    data_files=_bundled("scenarios") + _bundled("traces") + _bundled("calibration"),
    install_requires=[
        "simpy>=4.0", "numpy>=1.24", "networkx>=3.0", "pandas>=2.0", "pyarrow>=12",
        "matplotlib>=3.6", "click>=8.1", "pyyaml>=6.0", "pydantic>=2.4,<3", "rich>=13",
    ],
    extras_require={
        "calibrate": CALIBRATE,
        "learn": LEARN,
        "dask": DASK,
        "video": VIDEO,
        "test": TEST + VIDEO + DASK + LEARN,
        "all": CALIBRATE + LEARN + DASK + VIDEO + TEST,
    },
    entry_points={"console_scripts": ["edgesim=edgesim.cli:main"]},
)
