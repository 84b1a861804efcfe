"""edgesim: a discrete-event simulator of edge-cloud deep-learning systems, on SimPy."""
from ._version import __version__
from .api import load, run, simulation
from .errors import ScenarioError
from .result import Result

__all__ = ["__version__", "load", "run", "simulation", "Result", "ScenarioError"]
