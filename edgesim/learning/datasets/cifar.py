"""CIFAR-10 and CIFAR-100 from their official python files, and the shared CIFAR-10 extract.

The official files (https://www.cs.toronto.edu/~kriz/cifar.html) are Python 2 pickles: a dict
with bytes keys, ``b'data'`` a (N, 3072) uint8 array, each row the 1,024 red, then green, then
blue pixels of a 32x32 image, row-major; labels in ``b'labels'`` (CIFAR-10) or
``b'fine_labels'`` (CIFAR-100, with ``b'coarse_labels'``). A pickle can run any code it names,
so these are read by an unpickler that resolves only the four numpy names an array needs and
refuses everything else: a file that asks for more is not a CIFAR file.

Images become float32 in [0, 1] of shape (N, 3, 32, 32); the official test split comes along
as the set's own held-out split (``Dataset.test``).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from edgesim.learning.data import Dataset, DatasetError, DatasetMissing, checked
from edgesim.learning.datasets.paths import missing

PUBLISHED = "https://www.cs.toronto.edu/~kriz/cifar.html"


def _numpy_names() -> dict[tuple[str, str], object]:
    """The only globals a CIFAR pickle needs: numpy's array reconstructor (named by its
    numpy-1 module in the official files, numpy-2's in re-pickled ones), ndarray and dtype."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    names: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray,
                                            ("numpy", "dtype"): np.dtype}
    for mod in ("numpy.core", "numpy._core"):
        names[(f"{mod}.multiarray", "_reconstruct")] = multiarray._reconstruct
        names[(f"{mod}.multiarray", "scalar")] = multiarray.scalar
        if hasattr(numeric, "_frombuffer"):   # protocol-5 pickles of arrays
            names[(f"{mod}.numeric", "_frombuffer")] = numeric._frombuffer
    return names


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, strings, numbers and numpy arrays."""

    allowed = _numpy_names()

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which no CIFAR file "
                                         "needs (refused: a pickle can run the code it "
                                         "names)") from None


def read_pickle(path: Path) -> dict:
    """One official CIFAR python file as a dict with bytes keys (Python 2 strings as bytes,
    as the files' own instructions read them)."""
    try:
        with open(path, "rb") as fh:
            obj = _CifarUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OverflowError, MemoryError) as exc:
        raise DatasetError(f"{path}: not a readable CIFAR python file ({exc})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: expected a dict (a CIFAR batch), got "
                           f"{type(obj).__name__}")
    return obj


def _batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 3, 32, 32) uint8, labels) of one CIFAR python file."""
    d = read_pickle(path)
    for key in (b"data", label_key):
        if key not in d:
            raise DatasetError(f"{path}: no {key!r} entry; has "
                               f"{sorted(k for k in d if isinstance(k, bytes))}")
    data = np.asarray(d[b"data"])
    labels = np.asarray(d[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetError(f"{path}: b'data' must be (N, 3072) uint8 (32x32 RGB planes), got "
                           f"{data.shape} {data.dtype}")
    if labels.shape != (len(data),):
        raise DatasetError(f"{path}: {label_key!r} must hold one label per image "
                           f"({len(data)}), got {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _folder(path: Path, inner: str) -> Path:
    """The folder of python files: ``path`` itself, or ``path/inner`` when ``path`` is the
    folder the archive was unpacked in."""
    if not path.exists():
        raise DatasetMissing(missing(path, f"the CIFAR folder {inner}", PUBLISHED))
    if path.is_dir() and (path / inner).is_dir():
        return path / inner
    return path


def _assemble(train: list[tuple], test: tuple, name: str, classes: int) -> Dataset:
    x = np.concatenate([b[0] for b in train] + [test[0]])
    y = np.concatenate([b[1] for b in train] + [test[1]])
    mask = np.zeros(len(y), dtype=bool)
    mask[len(y) - len(test[1]):] = True
    return checked(x.astype(np.float32) / 255.0, y, name, classes, test=mask)


def cifar10(path: Path) -> Dataset:
    """CIFAR-10: ``path`` is the folder ``cifar-10-batches-py`` (``data_batch_1``..``5``,
    ``test_batch``), or the folder it was unpacked in, or a ``.npz`` laid out as the shared
    extract (:func:`cifar10_npz`)."""
    if path.suffix == ".npz":
        return cifar10_npz(path)
    folder = _folder(path, "cifar-10-batches-py")
    files = [folder / f"data_batch_{i}" for i in range(1, 6)] + [folder / "test_batch"]
    absent = [f.name for f in files if not f.is_file()]
    if absent:
        raise DatasetMissing(missing(folder, f"CIFAR-10's {', '.join(absent)}", PUBLISHED))
    batches = [_batch(f, b"labels") for f in files]
    return _assemble(batches[:5], batches[5], "cifar10", 10)


def cifar100(path: Path) -> Dataset:
    """CIFAR-100 with its 100 fine labels: ``path`` is the folder ``cifar-100-python``
    (``train``, ``test``) or the folder it was unpacked in."""
    folder = _folder(path, "cifar-100-python")
    files = [folder / "train", folder / "test"]
    absent = [f.name for f in files if not f.is_file()]
    if absent:
        raise DatasetMissing(missing(folder, f"CIFAR-100's {', '.join(absent)}", PUBLISHED))
    train, test = (_batch(f, b"fine_labels") for f in files)
    return _assemble([train], test, "cifar100", 100)


NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def cifar10_npz(path: Path) -> Dataset:
    """CIFAR-10 images in one ``.npz``: ``x_train`` and ``x_test`` (N, 32, 32, 3) uint8 in
    height x width x RGB order (torchvision's layout), ``y_train`` and ``y_test`` labels 0-9;
    other arrays are ignored. The shared ``cifar10-extract.npz`` is such a file (a subset of
    CIFAR-10, so its name says so: results on it are not CIFAR-10 accuracy)."""
    if not path.is_file():
        raise DatasetMissing(missing(path, "the CIFAR-10 .npz", PUBLISHED))
    try:
        with np.load(path, allow_pickle=False) as z:
            absent = [a for a in NPZ_ARRAYS if a not in z.files]
            if absent:
                raise DatasetError(f"{path}: missing array(s) {absent}; has {sorted(z.files)}")
            parts = {a: z[a] for a in NPZ_ARRAYS}
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable .npz file ({exc})") from None
    split = []
    for s in ("train", "test"):
        x, y = parts[f"x_{s}"], parts[f"y_{s}"]
        if x.dtype != np.uint8 or x.shape[1:] != (32, 32, 3):
            raise DatasetError(f"{path}: x_{s} must be (N, 32, 32, 3) uint8, got {x.shape} "
                               f"{x.dtype}")
        if y.shape != (len(x),):
            raise DatasetError(f"{path}: y_{s} must hold one label per image ({len(x)}), got "
                               f"{y.shape}")
        split.append((x.transpose(0, 3, 1, 2), y))
    return _assemble(split[:1], split[1], path.stem, 10)
