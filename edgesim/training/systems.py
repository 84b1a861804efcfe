"""The training systems a scenario can name, looked up by the key of its `training:` section.

DEEPCON and Mercury are built in :mod:`.build`. Every learning-in-the-loop system (it trains a
real model on :mod:`edgesim.learning`) is a class named here, imported only when a scenario
uses it, that provides:

* ``name``, ``routes()`` and ``process()`` (as every training system: what must be reachable,
  and the SimPy process that runs the training);
* ``tx`` (a :class:`.devices.Transfers`) and ``log`` (a :class:`.devices.ScheduleLog`);
* ``summary(sim) -> dict``: its part of summary.json, under the key ``name``;
* ``frames() -> dict[str, DataFrame]``: the tables written as ``<key>.parquet``;
* ``plots(directory, summary)``: its figures, beside the schedule's;
* ``describe() -> str``: what `edgesim check` prints after "training system <name>, ";

and whose module has ``report_rows(body) -> list[tuple[str, str]]``, the lines of the table
`edgesim run` prints.
"""
from __future__ import annotations

from importlib import import_module

LEARNING = {
    "federated": "edgesim.training.fed_system:FederatedSystem",
    "clue": "edgesim.training.clue.system:ClueSystem",
    "decentralized": "edgesim.training.decentral.system:DecentralizedSystem",
}


def _target(name: str):
    module, _, attr = LEARNING[name].partition(":")
    return import_module(module), attr


def learning_system(name: str):
    """The class of learning system ``name``."""
    module, attr = _target(name)
    return getattr(module, attr)


def report_rows(name: str, body: dict) -> list[tuple[str, str]]:
    """The rows `edgesim run` prints for a summary of learning system ``name``."""
    module, _attr = _target(name)
    return module.report_rows(body)
