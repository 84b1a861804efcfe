"""What every learning-in-the-loop training system builds the same way: the torch gate, the
data set and its held-out split, each problem located at its key path before t = 0."""
from __future__ import annotations

import math
from pathlib import Path
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


def load_dataset(sim, spec, path: str) -> Optional[D.Dataset]:
    """The scenario's data set (a DatasetSpec at ``path``), or None after a recorded problem."""
    try:
        if spec.name == "digits":
            data = D.digits()
        else:
            data = D.read_file(Path(sim.file.path(spec.file)))
    except D.DatasetError as exc:
        sim.problem(f"{path}.{'file' if spec.name == 'file' else 'name'}", str(exc),
                    spec.file or spec.name)
        return None
    if spec.limit is not None and spec.limit < len(data):
        keep = generator(sim.seed, "learning:limit").permutation(len(data))[:spec.limit]
        data = data.subset(keep)
    return data


def split(sim, data: D.Dataset, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions: the stratified held-out split every learning system uses."""
    return D.holdout_split(data.y, holdout, generator(sim.seed, "learning:split"))


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


def shards(sim, labels: np.ndarray, count: int, spec, path: str) -> Optional[list[np.ndarray]]:
    """A PartitionSpec's split of ``labels`` among ``count`` nodes, or None after a problem."""
    try:
        return D.partition(labels, count, spec.kind, spec.alpha, spec.min_samples,
                           generator(sim.seed, "learning:partition"))
    except D.DatasetError as exc:
        sim.problem(path, str(exc), spec.kind)
        return None
