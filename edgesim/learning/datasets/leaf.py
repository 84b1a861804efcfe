"""LEAF's federated data sets from the JSON files its scripts write: FEMNIST and Shakespeare.

LEAF (Caldas et al., *LEAF: A Benchmark for Federated Settings*, arXiv:1812.01097;
https://github.com/TalwalkarLab/leaf) writes a folder with ``train/*.json`` and
``test/*.json``, each file one object ``{"users": [id, ...], "num_samples": [n, ...],
"user_data": {id: {"x": [...], "y": [...]}}}`` (other keys, such as Shakespeare's
``hierarchies``, are ignored). A user is a writer (FEMNIST) or a speaking role (Shakespeare):
the set's natural partition. Writers are taken in the order they first appear in the train
files, the files sorted by name; a writer's test examples are those under the same id in the
test files (LEAF's ``-t sample`` split). The test files are the set's held-out split.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from edgesim.learning.data import Dataset, DatasetError, DatasetMissing, checked
from edgesim.learning.datasets.paths import missing



def published(name: str) -> str:
    return f"https://github.com/TalwalkarLab/leaf (data/{name}/preprocess.sh makes the folder)"

#: LEAF's character vocabulary for Shakespeare, ``ALL_LETTERS`` in LEAF's
#: models/utils/language_utils.py (TalwalkarLab/leaf): 80 characters, a character's index is
#: its position here (LEAF's ``letter_to_index`` / ``word_to_indices``).
SHAKESPEARE_VOCAB = ("\n !\"&'(),-.0123456789:;>?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]"
                     "abcdefghijklmnopqrstuvwxyz}")
SEQ_LENGTH = 80                       # LEAF's SEQ_LENGTH: characters of context per example
FEMNIST_CLASSES = 62                  # 0-9 digits, 10-35 'A'-'Z', 36-61 'a'-'z'

# One writer's examples of one file: (x, y) as arrays.
Convert = Callable[[list, list, str], tuple[np.ndarray, np.ndarray]]


def _files(folder: Path, split: str, name: str) -> list[Path]:
    sub = folder / split
    if not sub.is_dir():
        raise DatasetMissing(missing(sub, f"LEAF {name}'s {split}/ folder", published(name)))
    files = sorted(sub.glob("*.json"))
    if not files:
        raise DatasetMissing(missing(sub / "*.json", f"LEAF {name}'s {split} files",
                                     published(name)))
    return files


def _load(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(d, dict) or not isinstance(d.get("users"), list) or \
            not isinstance(d.get("user_data"), dict):
        keys = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise DatasetError(f"{path}: not a LEAF file: expected an object with 'users' (a list)"
                           f" and 'user_data' (an object), got {keys}")
    return d


def _writers(path: Path, convert: Convert) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(writer id, x, y) of every user of one LEAF file, checked against the file's own
    counts."""
    d = _load(path)
    counts = d.get("num_samples")
    if counts is not None and (not isinstance(counts, list) or len(counts) != len(d["users"])):
        raise DatasetError(f"{path}: 'num_samples' must have one count per user "
                           f"({len(d['users'])})")
    out = []
    for k, user in enumerate(d["users"]):
        entry = d["user_data"].get(user)
        if not isinstance(entry, dict) or not isinstance(entry.get("x"), list) or \
                not isinstance(entry.get("y"), list):
            raise DatasetError(f"{path}: user_data[{user!r}] must be an object with lists "
                               "'x' and 'y'")
        xs, ys = entry["x"], entry["y"]
        if len(xs) != len(ys):
            raise DatasetError(f"{path}: user {user!r} has {len(xs)} x and {len(ys)} y")
        if counts is not None and counts[k] != len(ys):
            raise DatasetError(f"{path}: user {user!r} has {len(ys)} examples, num_samples "
                               f"says {counts[k]}")
        if ys:
            x, y = convert(xs, ys, f"{path}: user {user!r}")
            out.append((str(user), x, y))
    return out


def read_leaf(folder: Path, convert: Convert, name: str, classes: int) -> Dataset:
    """A LEAF folder (``train/``, ``test/``) as one Dataset: every train example, then every
    test example; ``test`` marks the latter, ``groups`` holds each writer's examples."""
    if not folder.is_dir():
        raise DatasetMissing(missing(folder, f"the LEAF {name} folder", published(name)))
    parts: dict[str, list] = {"train": [], "test": []}
    for split in parts:
        for f in _files(folder, split, name):
            parts[split] += _writers(f, convert)
    order: dict[str, int] = {}
    for user, _x, _y in parts["train"]:
        order.setdefault(user, len(order))
    xs, ys, owner, is_test = [], [], [], []
    for split, rows in parts.items():
        for user, x, y in rows:
            xs.append(x)
            ys.append(y)
            owner.append(np.full(len(y), order.get(user, -1), dtype=np.int64))
            is_test.append(np.full(len(y), split == "test"))
    if not parts["train"]:
        raise DatasetError(f"{folder / 'train'}: the train files hold no examples")
    owner_all = np.concatenate(owner)
    groups = tuple(np.flatnonzero(owner_all == k) for k in range(len(order)))
    return checked(np.concatenate(xs), np.concatenate(ys), name, classes,
                   test=np.concatenate(is_test), groups=groups, group_names=tuple(order))


def _femnist(xs: list, ys: list, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        x = np.asarray(xs, dtype=np.float32)
        y = np.asarray(ys)
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{where}: x must be lists of 784 numbers ({exc})") from None
    if x.ndim != 2 or x.shape[1] != 784:
        raise DatasetError(f"{where}: every x must be 784 pixels (28x28), got shape {x.shape}")
    if not np.all((x >= 0) & (x <= 1)):
        raise DatasetError(f"{where}: pixels must be in [0, 1] (LEAF's grey level / 255)")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= FEMNIST_CLASSES:
        raise DatasetError(f"{where}: labels must be integers 0-{FEMNIST_CLASSES - 1}")
    return x.reshape(-1, 1, 28, 28), y.astype(np.int64)


def femnist(folder: Path) -> Dataset:
    """LEAF FEMNIST: 28x28 greyscale characters as (N, 1, 28, 28) float32, kept as LEAF
    writes them (1.0 = white background, 0.0 = black ink, the reverse of MNIST), 62 classes;
    one writer per group."""
    return read_leaf(folder, _femnist, "femnist", FEMNIST_CLASSES)


_INDEX = {c: i for i, c in enumerate(SHAKESPEARE_VOCAB)}


def _indices(text, where: str, length: int) -> list[int]:
    if not isinstance(text, str) or len(text) != length:
        raise DatasetError(f"{where}: expected strings of {length} character(s), got "
                           f"{text!r:.40}")
    try:
        return [_INDEX[c] for c in text]
    except KeyError as exc:
        raise DatasetError(f"{where}: character {exc.args[0]!r} is not in LEAF's "
                           f"{len(SHAKESPEARE_VOCAB)}-character vocabulary") from None


def _shakespeare(xs: list, ys: list, where: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([_indices(s, where, SEQ_LENGTH) for s in xs], dtype=np.float32)
    y = np.array([_indices(c, where, 1)[0] for c in ys], dtype=np.int64)
    return x, y


def shakespeare(folder: Path) -> Dataset:
    """LEAF Shakespeare: x the 80 characters before the target as indices into
    :data:`SHAKESPEARE_VOCAB`, (N, 80) stored as float32 (exact: indices < 80); y the next
    character's index; 80 classes; one speaking role per group."""
    return read_leaf(folder, _shakespeare, "shakespeare", len(SHAKESPEARE_VOCAB))
