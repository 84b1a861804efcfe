"""What every learning-in-the-loop training system builds the same way: the torch gate, the
data set and its held-out split, each problem located at its key path before t = 0."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from edgesim.engine.rng import generator
from edgesim.learning import INSTALL_HINT, LearningUnavailable, require_torch
from edgesim.learning import data as D


def torch_available(sim, base: str) -> bool:
    """False (and a problem at ``base``) when PyTorch is not installed."""
    try:
        require_torch(f"a '{base}' scenario")
    except LearningUnavailable:
        sim.problem(base, "trains a real model and needs PyTorch, which is not installed: "
                    f"{INSTALL_HINT}", None)
        return False
    return True


def _read(sim, spec, own: str) -> D.Dataset:
    """The set named ``own`` (the spec's name, or a difficulty set's base) with its keys."""
    from edgesim.learning import datasets
    from edgesim.learning.datasets.paths import resolve
    where = None
    if own == "file":
        where = resolve(spec.file, sim.file.path)
    elif spec.path is not None:
        where = resolve(spec.path, sim.file.path)
    return datasets.read(own, where, alpha=spec.alpha, beta=spec.beta, devices=spec.devices,
                         rng=generator(sim.seed, "learning:synthetic"))


def load_dataset(sim, spec, path: str) -> Optional[D.Dataset]:
    """The scenario's data set (a DatasetSpec at ``path``), or None after a recorded problem:
    read (or generated), its first ``writers`` kept, ``limit`` applied, made harder for
    ``name: difficulty``. Every draw is a named stream of the scenario seed."""
    own = spec.base if spec.name == "difficulty" else spec.name
    key, value = (("file", spec.file) if own == "file" else ("path", spec.path)
                  if spec.path is not None else ("name", spec.name))
    try:
        data = _read(sim, spec, own)
    except D.DatasetError as exc:
        message = str(exc)
        from edgesim.learning.datasets.paths import SHARED_PREFIX, where_shared
        if isinstance(exc, D.DatasetMissing) and str(value).startswith(SHARED_PREFIX):
            message += f" (shared: is {where_shared()})"
        sim.problem(f"{path}.{key}", message, value)
        return None
    if spec.writers is not None:
        try:
            data = data.first_writers(spec.writers)
        except D.DatasetError as exc:
            sim.problem(f"{path}.writers", str(exc), spec.writers)
            return None
    if data.test is not None and "holdout" in spec.model_fields_set:
        sim.problem(f"{path}.holdout", f"{data.name} comes with its own test split, which is "
                    "the held-out set: drop 'holdout'", spec.holdout)
        return None
    if spec.limit is not None and spec.limit < len(data):
        keep = generator(sim.seed, "learning:limit").permutation(len(data))[:spec.limit]
        data = data.subset(keep)
    if spec.name == "difficulty":
        from edgesim.learning.datasets.difficulty import difficulty
        try:
            data = difficulty(data, spec.noise, spec.imbalance, spec.holdout,
                              generator(sim.seed, "learning:difficulty"),
                              generator(sim.seed, "learning:split"))
        except D.DatasetError as exc:
            sim.problem(f"{path}.imbalance", str(exc), spec.imbalance)
            return None
    return data


def split(sim, data: D.Dataset, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions: the set's own test split, else the held-out split every
    learning system draws the same way (:func:`edgesim.learning.data.heldout`)."""
    return D.heldout(data, holdout, generator(sim.seed, "learning:split"))


def round_lr(local, r: int, rounds: int) -> float:
    """The local learning rate in round ``r`` of ``rounds`` (a LocalSpec's cosine decay is
    annealed over the rounds, not within one)."""
    if local.decay == "cosine":
        return local.lr * 0.5 * (1.0 + math.cos(math.pi * r / rounds))
    return local.lr


def make_learner(sim, factory, spec, data: D.Dataset, path: str):
    """``factory(spec, data, seed)`` (a Learner or BranchedLearner), or None after a problem
    at ``path`` (a model that does not fit the data, e.g. a CNN on flat vectors)."""
    try:
        return factory(spec, data, sim.seed)
    except D.DatasetError as exc:
        sim.problem(path, str(exc), spec.model.name)
        return None


def shards(sim, data: D.Dataset, train: np.ndarray, count: int, spec,
           path: str) -> Optional[list[np.ndarray]]:
    """A PartitionSpec's split of the training positions ``train`` of ``data`` among ``count``
    nodes (positions into ``train``), or None after a problem at ``path``."""
    try:
        if spec.kind == "natural":
            return D.natural_partition(data, train, count, spec.min_samples)
        return D.partition(data.y[train], count, spec.kind, spec.alpha, spec.min_samples,
                           generator(sim.seed, "learning:partition"))
    except D.DatasetError as exc:
        sim.problem(f"{path}.kind" if spec.kind == "natural" else path, str(exc), spec.kind)
        return None
