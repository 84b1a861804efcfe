"""Speech Commands as precomputed features: edgesim does not compute MFCCs, so the set comes
as one ``.npz`` of features a user made from the recordings (with librosa, torchaudio, TF's
``audio_microfrontend``, ...).

The set: Pete Warden, *Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition*,
arXiv:1804.03209, 2018; the recordings are at
http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz (CC BY 4.0), also
TensorFlow Datasets' ``speech_commands``.

The ``.npz`` (``np.load`` without pickle, so ids are numbers or fixed-width strings):

=================  ============================  =============================================
array              shape, dtype                  what
=================  ============================  =============================================
``x_train``        (N, frames, coefficients)     features of each training clip (e.g. 98 x 40
                   float                         log-mel or MFCC frames of a 1 s clip)
``y_train``        (N,) int                      class 0..C-1
``x_test``,        (M, frames, coefficients),    optional: the official test clips
``y_test``         (M,) int                      (``testing_list.txt``), used as the held-out
                                                 split; without them ``holdout`` is drawn
``speaker_train``  (N,) int or str               optional: who spoke each clip (the hash
                                                 before ``_nohash_`` in its file name): the
                                                 natural partition, one speaker per client
``speaker_test``   (M,) int or str               optional: the test clips' speakers
``class_names``    (C,) str                      optional: the words; fixes C
=================  ============================  =============================================
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesim.learning.data import Dataset, DatasetError, DatasetMissing, checked
from edgesim.learning.datasets.paths import missing

PUBLISHED = ("http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz (Warden 2018, "
             "arXiv:1804.03209), then compute the features yourself")


def speech_commands(path: Path) -> Dataset:
    """The features file described in this module's docstring."""
    if not path.is_file():
        raise DatasetMissing(missing(path, "the Speech Commands features .npz", PUBLISHED))
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable .npz file without pickles ({exc})") from None
    absent = [a for a in ("x_train", "y_train") if a not in arrays]
    if absent:
        raise DatasetError(f"{path}: missing array(s) {absent}; has {sorted(arrays)}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DatasetError(f"{path}: give both x_test and y_test, or neither")
    splits = ["train"] + (["test"] if "x_test" in arrays else [])
    for s in splits:
        x, y = arrays[f"x_{s}"], arrays[f"y_{s}"]
        if x.ndim != 3:
            raise DatasetError(f"{path}: x_{s} must be (clips, frames, coefficients), got "
                               f"shape {x.shape}")
        if y.shape != (len(x),):
            raise DatasetError(f"{path}: y_{s} must hold one label per clip ({len(x)}), got "
                               f"{y.shape}")
        spk = arrays.get(f"speaker_{s}")
        if spk is not None and spk.shape != (len(x),):
            raise DatasetError(f"{path}: speaker_{s} must name one speaker per clip "
                               f"({len(x)}), got {spk.shape}")
    if len(splits) == 2 and arrays["x_test"].shape[1:] != arrays["x_train"].shape[1:]:
        raise DatasetError(f"{path}: x_test's clips are {arrays['x_test'].shape[1:]}, "
                           f"x_train's {arrays['x_train'].shape[1:]}")
    names = arrays.get("class_names")
    classes = None if names is None else len(names)
    x = np.concatenate([arrays[f"x_{s}"] for s in splits])
    y = np.concatenate([arrays[f"y_{s}"] for s in splits])
    extra: dict = {}
    if len(splits) == 2:
        extra["test"] = np.arange(len(y)) >= len(arrays["y_train"])
    if "speaker_train" in arrays:
        extra.update(_speakers(arrays, splits))
    return checked(x, y, "speech-commands", classes, **extra)


def _speakers(arrays: dict, splits: list[str]) -> dict:
    """Groups by speaker, in order of first appearance among the training clips; a test clip
    joins its speaker's group (a test clip of no training speaker, or of unknown speaker,
    joins none)."""
    train = [str(s) for s in arrays["speaker_train"]]
    order: dict[str, int] = {}
    for s in train:
        order.setdefault(s, len(order))
    owner = [order[s] for s in train]
    if "test" in splits:
        test = arrays.get("speaker_test")
        owner += ([-1] * len(arrays["y_test"]) if test is None
                  else [order.get(str(s), -1) for s in test])
    owner_a = np.asarray(owner)
    return {"groups": tuple(np.flatnonzero(owner_a == k) for k in range(len(order))),
            "group_names": tuple(order)}
