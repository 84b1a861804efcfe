"""A harder version of any data set, with known label noise and class imbalance, so that what
importance sampling and client selection do with hard, rare or wrong examples can be measured
against rates that are known exactly.

From a base set: its held-out split is fixed first (its own test split, else drawn as for any
set) and stays clean and as balanced as the base, so accuracy is measured against true labels.
The training examples are then

1. thinned to an exponential class profile: class c keeps n_c = round(n_0 imbalance^(-c/(C-1)))
   examples (class 0 the most, class C-1 the fewest, max/min = ``imbalance`` up to rounding),
   n_0 the largest count every class can supply, the examples kept drawn at random (the
   long-tailed profile of Cao et al., *Learning Imbalanced Datasets with Label-Distribution-Aware
   Margin Loss*, NeurIPS 2019);
2. given label noise: each training label independently, with probability ``noise``, is
   replaced by one of the other C-1 classes drawn uniformly (symmetric noise). The labels
   before noise stay in ``Dataset.clean_y``; ``Dataset.flipped`` marks the replaced ones.
"""
from __future__ import annotations

import numpy as np

from edgesim.learning.data import Dataset, DatasetError, heldout


def class_profile(available: np.ndarray, imbalance: float) -> np.ndarray:
    """Examples kept per class: n_c = round(n_0 r^(-c/(C-1))), with n_0 the largest value for
    which every class has its n_c (``available`` counts per class, r = ``imbalance``)."""
    classes = len(available)
    decay = float(imbalance) ** (-np.arange(classes) / max(classes - 1, 1))
    n0 = np.min(available / decay)
    keep = np.minimum(np.round(n0 * decay).astype(np.int64), available)
    if keep.min() < 1:
        raise DatasetError(f"imbalance {imbalance:g} leaves class {int(np.argmin(keep))} "
                           "without training examples: lower it or use more data")
    return keep


def difficulty(base: Dataset, noise: float, imbalance: float, holdout: float,
               rng: np.random.Generator, split_rng: np.random.Generator) -> Dataset:
    """``base`` made harder (module docstring). ``split_rng`` draws the held-out split when the
    base has none of its own (the same draw the base alone would get); ``rng`` the rest."""
    if not 0 <= noise < 1:
        raise DatasetError(f"noise must be in [0, 1), got {noise}")
    if imbalance < 1:
        raise DatasetError(f"imbalance is max/min class count, at least 1, got {imbalance}")
    train, test = heldout(base, holdout, split_rng)
    mask = np.zeros(len(base), dtype=bool)
    mask[test] = True
    base = Dataset(base.x, base.y, base.classes, base.name, mask, base.groups,
                   base.group_names, base.clean_y)
    labels = base.y[train]
    available = np.bincount(labels, minlength=base.classes)
    if available.min() == 0:
        raise DatasetError(f"{base.name}: class {int(np.argmin(available))} has no training "
                           "example to keep")
    keep_n = class_profile(available, imbalance)
    kept = [rng.choice(train[labels == c], size=keep_n[c], replace=False)
            for c in range(base.classes)]
    keep = np.sort(np.concatenate(kept + [test]))
    out = base.subset(keep)
    clean = out.y.copy()
    y = out.y.copy()
    trainable = ~out.test
    flip = trainable & (rng.random(len(y)) < noise)
    # A uniform other class: add 1..C-1 modulo C.
    y[flip] = (y[flip] + rng.integers(1, base.classes, int(flip.sum()))) % base.classes
    name = f"{base.name}+noise{noise:g}+imbalance{imbalance:g}"
    return Dataset(out.x, y, out.classes, name, out.test, out.groups, out.group_names, clean)
