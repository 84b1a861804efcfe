"""The public data sets edgesim reads from their standard files, and the generated ones.

Torch-free (numpy, json, and pickle only for CIFAR's official pickles, read by a restricted
unpickler). Each reader returns :class:`edgesim.learning.data.Dataset`, with the set's official
test split and natural partition (writers, speakers, devices) where it has them. edgesim never
downloads: a missing file is a :class:`~edgesim.learning.data.DatasetMissing` that names the
path looked at and where the set is published. docs/guides/datasets.md lists the sets, their
formats, licences and citations.

* :mod:`.cifar`: CIFAR-10 / CIFAR-100 (official python pickles) and CIFAR-10 as a ``.npz``;
* :mod:`.leaf`: LEAF FEMNIST and Shakespeare (LEAF's JSON folders);
* :mod:`.speech`: Speech Commands as precomputed features (``.npz``);
* :mod:`.synthetic`: Synthetic(alpha, beta) of FedProx / LEAF, generated;
* :mod:`.difficulty`: any set with known label noise and class imbalance;
* :mod:`.paths`: the ``shared:`` prefix for the shared data beside the project.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edgesim.learning.data import Dataset, DatasetError, digits, read_file

def _file_sets() -> dict[str, Callable[[Path], Dataset]]:
    """The sets read from a file or folder the scenario names (``path``), and their readers."""
    from edgesim.learning.datasets import cifar, leaf, speech
    return {"cifar10": cifar.cifar10, "cifar100": cifar.cifar100, "femnist": leaf.femnist,
            "shakespeare": leaf.shakespeare, "speech-commands": speech.speech_commands}


def read(name: str, path: Optional[Path] = None, *, alpha: float = 1.0, beta: float = 1.0,
         devices: int = 30, rng: Optional[np.random.Generator] = None) -> Dataset:
    """The set ``name`` ('digits', 'file', a file set read from ``path``, or 'synthetic'
    generated from ``rng`` with ``alpha``, ``beta``, ``devices``)."""
    if name == "digits":
        return digits()
    if name == "file":
        return read_file(path)
    if name == "synthetic":
        from edgesim.learning.datasets.synthetic import synthetic
        if rng is None:
            raise ValueError("synthetic needs the scenario's generator")
        return synthetic(alpha, beta, devices, rng)
    readers = _file_sets()
    if name not in readers:
        raise DatasetError(f"unknown data set {name!r}; known: digits, file, synthetic, "
                           f"{', '.join(readers)}")
    return readers[name](path)


__all__ = ["read"]
