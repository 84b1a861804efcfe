"""Data sets and their split among nodes: a held-out evaluation split and private shards.

Pure numpy (scikit-learn only to read its bundled digits), so partitions can be tested and
inspected without torch. Every draw comes from a generator the caller passes, so one scenario
seed gives one split.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np


class DatasetError(ValueError):
    """A data set that cannot be used, with what was wrong in words."""


@dataclass(frozen=True)
class Dataset:
    """Examples ``x`` (float32, first axis = example) and integer labels ``y`` in 0..classes-1."""

    x: np.ndarray
    y: np.ndarray
    classes: int
    name: str

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray) -> "Dataset":
        return Dataset(self.x[idx], self.y[idx], self.classes, self.name)


def _checked(x, y, name: str) -> Dataset:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim < 2:
        raise DatasetError(f"{name}: x must have at least 2 axes (examples, features), "
                           f"got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DatasetError(f"{name}: y must be one label per example ({len(x)}), got shape "
                           f"{y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise DatasetError(f"{name}: labels must be integers")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise DatasetError(f"{name}: labels must be >= 0, found {int(y.min())}")
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{name}: x holds NaN or infinite values")
    classes = int(y.max()) + 1 if len(y) else 0
    if classes < 2:
        raise DatasetError(f"{name}: needs at least 2 classes, found {classes}")
    return Dataset(x, y, classes, name)


def _digits_file() -> Optional[Path]:
    """scikit-learn's own copy of the digits, found without importing scikit-learn (its import
    costs seconds; the file is what load_digits reads)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        f = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if f.exists():
            return f
    return None


def digits() -> Dataset:
    """scikit-learn's handwritten digits: 1,797 images of 8x8 pixels in 0..16, scaled to [0, 1]
    and kept as (n, 8, 8) so that both an MLP (flattened) and a CNN can read them."""
    f = _digits_file()
    if f is not None:
        table = np.loadtxt(f, delimiter=",")
        return _checked(table[:, :-1].reshape(-1, 8, 8) / 16.0, table[:, -1].astype(np.int64),
                        "digits")
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DatasetError("the digits data set comes with scikit-learn: pip install "
                           "scikit-learn (or the 'learn' extra)") from exc
    d = load_digits()
    return _checked(d.images / 16.0, d.target, "digits")


def read_file(path: Path) -> Dataset:
    """A user's arrays: ``.npz`` with 'x' and 'y', or ``.pt`` with a dict of tensors x, y."""
    if not path.exists():
        raise DatasetError(f"file not found: {path}")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = {"x", "y"} - set(z.files)
                if missing:
                    raise DatasetError(f"{path}: missing array(s) {sorted(missing)}; has "
                                       f"{sorted(z.files)}")
                return _checked(z["x"], z["y"], path.name)
        except (OSError, ValueError) as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(f"{path}: not a readable .npz file ({exc})") from exc
    if path.suffix == ".pt":
        import torch
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for a bad file
            raise DatasetError(f"{path}: not a readable torch file ({exc})") from exc
        if not isinstance(obj, dict) or not {"x", "y"} <= set(obj):
            raise DatasetError(f"{path}: expected a dict with tensors 'x' and 'y'")
        return _checked(np.asarray(obj["x"]), np.asarray(obj["y"]), path.name)
    raise DatasetError(f"{path}: expected a .npz or .pt file, got {path.suffix or 'no suffix'}")


def holdout_split(labels: np.ndarray, fraction: float, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices, the test share drawn per class so every class is in both."""
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(fraction * len(idx)))
        k = min(max(k, 1), len(idx) - 1) if len(idx) > 1 else 0
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def partition(labels: np.ndarray, clients: int, kind: str, alpha: float, min_samples: int,
              rng: np.random.Generator, tries: int = 1000) -> list[np.ndarray]:
    """Split example indices 0..len(labels)-1 among ``clients`` shards.

    'dirichlet' (label skew): for every class, its examples go to the clients in proportions
    drawn from Dir(alpha, ..., alpha); the whole draw is repeated until each client holds
    ``min_samples`` examples. 'iid': a shuffled split into near-equal parts.
    """
    n = len(labels)
    if clients * min_samples > n:
        raise DatasetError(f"{n} training examples cannot give {clients} clients "
                           f"{min_samples} each")
    if kind == "iid":
        return [np.sort(p) for p in np.array_split(rng.permutation(n), clients)]
    classes = np.unique(labels)
    for _ in range(tries):
        shards: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for c in classes:
            idx = np.flatnonzero(labels == c)
            rng.shuffle(idx)
            p = rng.dirichlet(np.full(clients, alpha))
            cuts = (np.cumsum(p)[:-1] * len(idx)).astype(int)
            for k, part in enumerate(np.split(idx, cuts)):
                shards[k].append(part)
        out = [np.sort(np.concatenate(s)) for s in shards]
        if min(len(s) for s in out) >= min_samples:
            return out
    raise DatasetError(f"no Dirichlet(alpha={alpha}) split in {tries} draws gave every one of "
                       f"{clients} clients {min_samples} examples; raise alpha or lower "
                       "min_samples")


def label_histogram(labels: np.ndarray, shards: list[np.ndarray], classes: int) -> np.ndarray:
    """Examples per (client, class): the partition's label skew at a glance."""
    return np.stack([np.bincount(labels[s], minlength=classes) for s in shards])
