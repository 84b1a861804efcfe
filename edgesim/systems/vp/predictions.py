"""Prediction files: each variant's class probabilities on a held-out set, from which the
ensemble's accuracy for any set of answering members is computed (`edgesim.systems.vp.aggregate`).

Format: a ``.npz`` (numpy, no pickle) with

=============  ==================  ===========================================================
array          shape, dtype        what
=============  ==================  ===========================================================
``variants``   (V,) str            variant names; an ensemble member's ``model`` picks its row
``probs``      (V, N, C) float     each variant's class probabilities (softmax outputs) on the
                                   same N held-out examples, rows summing to 1
``labels``     (N,) int            the examples' true classes, 0..C-1
``resolution`` (V,) number         optional: input side rho_i of each variant (Eq. 1)
``width``      (V,) number         optional: width (depth multiplier) d_i of each variant (Eq. 1)
``meta``       () str              optional: JSON, how the file was made
=============  ==================  ===========================================================

Without ``resolution`` and ``width`` every variant weighs the same in the aggregation. Your own
variants: save their softmax outputs on one test set in this shape (``np.savez``).

``python -m edgesim.systems.vp.predictions make --out FILE [--data cifar10|digits] [--variants 5]
[--epochs E] [--seed S] [--cifar PATH]`` trains the paper's variants, scaled to the data set's image size
(`edgesim.learning.variants.scaled`), on the CIFAR-10 extract (``../shared/data/learning/``) or
scikit-learn's digits, and writes their probabilities on the held-out split; ``show FILE``
prints each variant's accuracy. Reading a file needs numpy only; making one needs torch.
"""
from __future__ import annotations

# argparse, not click: a `python -m` maintainer's tool (it regenerates a shipped file), not a
# user command; the layering keeps click in edgesim.cli, which nothing below it imports.
import argparse
import io
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgesim.learning.variants import VariantArch

__all__ = ["Predictions", "PredictionsError", "read", "write", "main"]

#: The CIFAR-10 extract beside the project (``../shared/data/learning``, never copied in).
CIFAR_EXTRACT = (Path(__file__).resolve().parents[3].parent / "shared" / "data" / "learning"
                 / "cifar10" / "cifar10-extract.npz")


class PredictionsError(ValueError):
    """A predictions file that cannot be used; the message says which array and why."""


@dataclass(frozen=True)
class Predictions:
    variants: tuple[str, ...]
    probs: np.ndarray           # (V, N, C) float64
    labels: np.ndarray          # (N,) int64
    resolution: Optional[np.ndarray]
    width: Optional[np.ndarray]
    meta: dict

    @property
    def classes(self) -> int:
        return int(self.probs.shape[2])

    def index(self, name: str) -> int:
        return self.variants.index(name)


def read(path: Path) -> Predictions:
    """Load and check a predictions file; PredictionsError naming the array otherwise."""
    if not path.is_file():
        raise PredictionsError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise PredictionsError(f"{path}: not a readable .npz file ({exc})") from exc
    missing = [k for k in ("variants", "probs", "labels") if k not in arrays]
    if missing:
        raise PredictionsError(f"{path}: missing array(s) {missing}; has {sorted(arrays)}")
    variants = tuple(str(v) for v in np.atleast_1d(arrays["variants"]))
    probs = np.asarray(arrays["probs"], dtype=np.float64)
    labels = np.asarray(arrays["labels"])
    if probs.ndim != 3 or probs.shape[0] != len(variants):
        raise PredictionsError(f"{path}: 'probs' must have shape (variants={len(variants)}, "
                               f"examples, classes), got {probs.shape}")
    if len(set(variants)) != len(variants):
        raise PredictionsError(f"{path}: 'variants' repeats a name: {list(variants)}")
    if labels.ndim != 1 or len(labels) != probs.shape[1] or not np.issubdtype(labels.dtype,
                                                                              np.integer):
        raise PredictionsError(f"{path}: 'labels' must be {probs.shape[1]} integers (one per "
                               f"example of 'probs'), got shape {labels.shape} {labels.dtype}")
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= probs.shape[2]:
        raise PredictionsError(f"{path}: 'labels' must lie in 0..{probs.shape[2] - 1}")
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or \
            not np.allclose(probs.sum(axis=2), 1.0, atol=1e-3):
        raise PredictionsError(f"{path}: 'probs' must be probabilities (>= 0, each row summing "
                               "to 1): save softmax outputs, not logits")
    extra = {}
    for key in ("resolution", "width"):
        if key in arrays:
            a = np.asarray(arrays[key], dtype=np.float64)
            if a.shape != (len(variants),) or not np.all(a > 0):
                raise PredictionsError(f"{path}: '{key}' must be {len(variants)} positive "
                                       f"numbers (one per variant), got {a.tolist()}")
            extra[key] = a
    meta = {}
    if "meta" in arrays:
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as exc:
            raise PredictionsError(f"{path}: 'meta' is not JSON ({exc})") from exc
    return Predictions(variants, probs, labels.astype(np.int64), extra.get("resolution"),
                       extra.get("width"), meta)


def write(path: Path, variants: Sequence[str], probs: np.ndarray, labels: np.ndarray,
          resolution: Sequence[float], width: Sequence[float], meta: dict) -> None:
    """Write a predictions file, byte for byte the same for the same arrays (fixed zip dates,
    where ``np.savez`` stamps the current time)."""
    arrays = {"variants": np.array(list(variants)), "probs": np.asarray(probs, np.float32),
              "labels": np.asarray(labels, np.int64),
              "resolution": np.asarray(resolution, np.float64),
              "width": np.asarray(width, np.float64),
              "meta": np.array(json.dumps(meta, sort_keys=True))}
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def _dataset(name: str, seed: int, cifar: Path = CIFAR_EXTRACT) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """(x_train, y_train, x_test, y_test, description), images normalised per channel with the
    training set's mean and standard deviation."""
    if name == "cifar10":
        path = cifar
        if not path.is_file():
            raise PredictionsError(f"{path}: the CIFAR-10 extract is not here (see "
                                   "../shared/data/learning/README.md); give --cifar PATH or use --data digits")
        with np.load(path, allow_pickle=False) as d:
            xtr, ytr = d["x_train"].astype(np.float32) / 255.0, d["y_train"]
            xte, yte = d["x_test"].astype(np.float32) / 255.0, d["y_test"]
        what = (f"CIFAR-10 extract ({path.name}): {len(ytr)} train, {len(yte)} test images "
                "(the extract's own split)")
    elif name == "digits":
        from edgesim.learning.data import digits, holdout_split
        ds = digits()
        train, test = holdout_split(ds.y, 0.3, np.random.default_rng(seed))
        xtr, ytr, xte, yte = ds.x[train], ds.y[train], ds.x[test], ds.y[test]
        what = f"scikit-learn digits: {len(ytr)} train, {len(yte)} held out (30 % per class)"
    else:
        raise PredictionsError(f"unknown data set {name!r}; valid: cifar10, digits")
    # Per channel for NHWC colour images, over everything for (N, H, W) grey ones.
    mean, std = xtr.mean(axis=(0, 1, 2)), xtr.std(axis=(0, 1, 2))
    return (xtr - mean) / std, ytr, (xte - mean) / std, yte, what


def baseline_arch(base_resolution: int) -> VariantArch:
    """The paper's baseline in the variants' network shape, trained with the same policy as
    they are (§IV-C): MobileNetV2 at width 1 and the full resolution, last conv 1280
    (MobileNetV2's own), variant name ``mobilenet_v2``."""
    return VariantArch("mobilenet_v2", 0, "base", 1.0, base_resolution, 1280)


def make(out: Path, data: str = "cifar10", count: int = 5, epochs: int = 6, seed: int = 1,
         command: str = "", cifar: Path = CIFAR_EXTRACT, baseline: bool = False) -> Predictions:
    """Train V1..V_count scaled to the data set (with ``baseline``, MobileNetV2 too) and write
    their held-out probabilities. Each model draws from its own seeded streams, so adding the
    baseline leaves the variants' probabilities unchanged."""
    from edgesim.learning import require_torch
    require_torch("making VP predictions")
    from edgesim.learning.variant_models import train_family
    from edgesim.learning.variants import scaled

    xtr, ytr, xte, yte, what = _dataset(data, seed, cifar)
    archs = scaled(count, int(xtr.shape[1]))
    if baseline:
        archs.append(baseline_arch(int(xtr.shape[1])))
    classes = int(max(ytr.max(), yte.max())) + 1
    probs = train_family(archs, xtr, ytr, xte, classes, seed, epochs,
                         progress=lambda m: print(m, file=sys.stderr, flush=True))
    acc = [float((p.argmax(1) == yte).mean()) for p in probs]
    meta = {"command": command, "data": what, "seed": seed, "epochs": epochs,
            "variants": [a.__dict__ for a in archs], "top1": dict(zip([a.name for a in archs], acc)),
            "training": "Adam lr 2e-3, batch 128, random horizontal flips, one cross-entropy per "
                        "variant (edgesim.learning.variant_models)"}
    write(out, [a.name for a in archs], probs, yte, [a.resolution for a in archs],
          [a.width for a in archs], meta)
    return read(out)


def _print_sets(p: Predictions, k: Optional[int], top: int, alpha: float) -> None:
    """Every non-empty subset of the file's variants with its aggregated accuracy."""
    from itertools import combinations

    from edgesim.systems.vp.aggregate import eq1_weights, set_accuracy
    n = len(p.variants)
    w = (np.ones(n) if p.resolution is None or p.width is None
         else eq1_weights(p.resolution, p.width, alpha))
    for size in range(1, n + 1):
        for members in combinations(range(n), size):
            acc = set_accuracy(p.probs, p.labels, members, w, k, top)
            print(f"{'+'.join(p.variants[i] for i in members)}: {acc:.4f}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgesim.systems.vp.predictions",
                                 description="Make or show a VP predictions file.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make", help="train the variants and write their predictions")
    mk.add_argument("--out", required=True, type=Path)
    mk.add_argument("--data", default="cifar10", choices=["cifar10", "digits"])
    mk.add_argument("--variants", type=int, default=5)
    mk.add_argument("--epochs", type=int, default=6)
    mk.add_argument("--seed", type=int, default=1)
    mk.add_argument("--baseline", action="store_true",
                    help="also train the baseline, MobileNetV2 at width 1 ('mobilenet_v2')")
    mk.add_argument("--cifar", type=Path, default=CIFAR_EXTRACT,
                    help="the CIFAR-10 extract (default: ../shared/data/learning/cifar10/)")
    sh = sub.add_parser("show", help="each variant's top-1 accuracy")
    sh.add_argument("file", type=Path)
    st = sub.add_parser("sets", help="the ensemble's accuracy for every answering set")
    st.add_argument("file", type=Path)
    st.add_argument("--k", type=int, default=2, help="top-k answers (0: whole vectors)")
    st.add_argument("--top", type=int, default=1)
    st.add_argument("--alpha", type=float, default=1.0)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "make":
            cmd = (f"python -m edgesim.systems.vp.predictions make --out {args.out} --data "
                   f"{args.data} --variants {args.variants} --epochs {args.epochs} "
                   f"--seed {args.seed}" + (" --baseline" if args.baseline else ""))
            p = make(args.out, args.data, args.variants, args.epochs, args.seed, cmd, args.cifar,
                     args.baseline)
        else:
            p = read(args.file)
    except PredictionsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "sets":
        _print_sets(p, args.k or None, args.top, args.alpha)
        return 0
    for i, name in enumerate(p.variants):
        acc = float((p.probs[i].argmax(1) == p.labels).mean())
        print(f"{name}: top-1 {acc:.4f} on {len(p.labels)} examples, {p.classes} classes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
