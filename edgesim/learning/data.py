"""Data sets and their split among nodes: a held-out evaluation split and private shards.

Pure numpy (scikit-learn only to read its bundled digits), so partitions can be tested and
inspected without torch. Every draw comes from a generator the caller passes, so one scenario
seed gives one split. The readers of the standard public sets (CIFAR, LEAF, Speech Commands,
Synthetic, the difficulty set) are in :mod:`edgesim.learning.datasets`.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np


class DatasetError(ValueError):
    """A data set that cannot be used, with what was wrong in words."""


class DatasetMissing(DatasetError):
    """A data set's file or folder is not where the scenario says (edgesim never downloads)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Examples ``x`` (float32, first axis = example) and integer labels ``y`` in 0..classes-1.

    What a set may carry besides (None when it has none), all indexed like ``y``:

    * ``test``: bool mask of the set's own held-out examples (an official test split), which
      then replaces the drawn held-out split;
    * ``groups``: its natural partition, the example indices of each writer, speaker or
      device (train and test examples alike), with their ids in ``group_names``;
    * ``clean_y``: the labels before label noise was added (the difficulty set), so that
      ``flipped`` can say which labels are wrong.
    """

    x: np.ndarray
    y: np.ndarray
    classes: int
    name: str
    test: Optional[np.ndarray] = None
    groups: Optional[tuple] = None
    group_names: Optional[tuple] = None
    clean_y: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.y)

    @property
    def flipped(self) -> Optional[np.ndarray]:
        """Per example: True where the label was replaced by noise (None: a clean set)."""
        return None if self.clean_y is None else self.y != self.clean_y

    def subset(self, idx: np.ndarray) -> "Dataset":
        """The examples at ``idx``, in that order, with the test mask, the writers (their
        examples renumbered; writers left with none dropped) and the clean labels kept."""
        idx = np.asarray(idx, dtype=np.int64)
        groups, names = self.groups, self.group_names
        if groups is not None:
            # old index -> new position (-1: not kept)
            where = np.full(len(self.y), -1, dtype=np.int64)
            where[idx] = np.arange(len(idx))
            kept = [(np.sort(where[g][where[g] >= 0]), nm) for g, nm in zip(groups, names)]
            kept = [(g, nm) for g, nm in kept if len(g)]
            groups = tuple(g for g, _ in kept)
            names = tuple(nm for _, nm in kept)
        return replace(self, x=self.x[idx], y=self.y[idx],
                       test=None if self.test is None else self.test[idx],
                       clean_y=None if self.clean_y is None else self.clean_y[idx],
                       groups=groups, group_names=names)

    def first_writers(self, count: int) -> "Dataset":
        """Only the examples of the first ``count`` writers (train and test alike)."""
        if self.groups is None:
            raise DatasetError(f"{self.name} has no writers to choose from")
        if not 1 <= count <= len(self.groups):
            raise DatasetError(f"{self.name} has {len(self.groups)} writers; cannot keep "
                               f"{count}")
        return self.subset(np.sort(np.concatenate(self.groups[:count])))


def checked(x, y, name: str, classes: Optional[int] = None, **extra) -> Dataset:
    """A Dataset from arrays, or a DatasetError saying what is wrong with them. ``classes``:
    the set's number of classes when it is known (a class may be absent from a subset);
    ``extra``: the optional fields of Dataset."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim < 2:
        raise DatasetError(f"{name}: x must have at least 2 axes (examples, features), "
                           f"got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DatasetError(f"{name}: y must be one label per example ({len(x)}), got shape "
                           f"{y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.equal(np.mod(y, 1), 0)):
            raise DatasetError(f"{name}: labels must be integers")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise DatasetError(f"{name}: labels must be >= 0, found {int(y.min())}")
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{name}: x holds NaN or infinite values")
    found = int(y.max()) + 1 if len(y) else 0
    if classes is not None and found > classes:
        raise DatasetError(f"{name}: labels must be below {classes}, found {found - 1}")
    classes = found if classes is None else classes
    if classes < 2:
        raise DatasetError(f"{name}: needs at least 2 classes, found {classes}")
    return Dataset(x, y, classes, name, **extra)


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
        return checked(table[:, :-1].reshape(-1, 8, 8) / 16.0, table[:, -1].astype(np.int64),
                        "digits")
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DatasetError("the digits data set comes with scikit-learn: pip install "
                           "scikit-learn (or the 'learn' extra)") from exc
    d = load_digits()
    return checked(d.images / 16.0, d.target, "digits")


def read_file(path: Path) -> Dataset:
    """A user's arrays: ``.npz`` with 'x' and 'y', or ``.pt`` with a dict of tensors x, y."""
    if not path.exists():
        raise DatasetMissing(f"file not found: {path}")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = {"x", "y"} - set(z.files)
                if missing:
                    raise DatasetError(f"{path}: missing array(s) {sorted(missing)}; has "
                                       f"{sorted(z.files)}")
                return checked(z["x"], z["y"], path.name)
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
        return checked(np.asarray(obj["x"]), np.asarray(obj["y"]), path.name)
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


def heldout(data: Dataset, fraction: float, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of ``data``. A set with its own test split keeps it (``fraction``
    and ``rng`` unused: results stay comparable with the literature's); a set of writers
    without one holds out ``fraction`` of each writer's examples, as LEAF's ``-t sample`` and
    FedProx's generator do, so every writer keeps training examples; any other set a
    stratified ``fraction`` (:func:`holdout_split`)."""
    if data.test is not None:
        return np.flatnonzero(~data.test), np.flatnonzero(data.test)
    if data.groups is None:
        return holdout_split(data.y, fraction, rng)
    train, test = [], []
    for g in data.groups:
        idx = rng.permutation(g)
        k = int(round(fraction * len(idx)))
        k = min(max(k, 1), len(idx) - 1) if len(idx) > 1 else 0
        test.append(idx[:k])
        train.append(idx[k:])
    rest = np.setdiff1d(np.arange(len(data)), np.concatenate(data.groups))
    return (np.sort(np.concatenate(train + [rest])).astype(np.int64),
            np.sort(np.concatenate(test)).astype(np.int64))


def natural_partition(data: Dataset, train: np.ndarray, clients: int, min_samples: int
                      ) -> list[np.ndarray]:
    """Each writer's training examples as one shard: positions into ``train``, writer k to
    client k. A set without writers, a writer count other than ``clients``, or a writer with
    fewer than ``min_samples`` training examples is a DatasetError saying which."""
    if data.groups is None:
        raise DatasetError(f"{data.name} has no natural partition (no writers, speakers or "
                           "devices): use kind 'dirichlet' or 'iid'")
    writers = len(data.groups)
    if writers != clients:
        keep = (f"keep the first {clients} writers with the data set's 'writers: {clients}', "
                if clients < writers else "")
        raise DatasetError(f"{data.name} has {writers} writers and the scenario {clients} "
                           f"clients: give {writers} clients, {keep}or use kind 'dirichlet' "
                           "or 'iid'")
    where = np.full(len(data), -1, dtype=np.int64)
    where[train] = np.arange(len(train))
    out = []
    for g, name in zip(data.groups, data.group_names):
        pos = np.sort(where[g][where[g] >= 0])
        if len(pos) < min_samples:
            raise DatasetError(f"{data.name}: writer {name} has {len(pos)} training examples,"
                               f" fewer than min_samples {min_samples}")
        out.append(pos)
    return out


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
