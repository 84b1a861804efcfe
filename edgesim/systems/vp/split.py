"""Model parallelism's baseline: MobileNetV2 cut into k sequential slices on k devices.

The candidate cuts are the activations after each top-level stage of the zoo's MobileNetV2
(224 x 224 input, 101 classes as trained on Food-101 in the VP paper), with the bytes a cut
must send (float32) and the FLOPs computed before it, from
``edgesim.calibration.zoo.analysis.split_points("mobilenet_v2", num_classes=101)`` (copied
here so that a simulation never imports torch; ``tests/test_vp_scenarios.py`` recomputes them
when torch is installed).

`balanced_cuts` chooses the k - 1 cuts whose FLOP shares are nearest to 1/k, 2/k, ... (the
usual way to balance a pipeline's stages); `mp_stages` turns them into stages: each slice's
service time is the whole model's time on the device times its share of the FLOPs (an
approximation: layers differ in FLOP efficiency), and each slice after the first receives its
predecessor's activation. ``python -m edgesim.systems.vp.split 5 226`` prints them as YAML stages.

Class parallelism's baseline is derived the same way (`cp_time`): a sensAI sub-model is
MobileNetV2 pruned to serve a share of the classes (the zoo's ``sensai_part``: width 0.45, 21
classes), so its time is the whole model's time on the device times its share of the FLOPs,
the zoo's FLOPs of ``sensai_part`` (read torch-free from the zoo's table) over MobileNetV2's
(101 classes, the last row above). ``python -m edgesim.systems.vp.split --cp 226`` prints it.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from edgesim.hardware.model_sizes import model_size

#: (index, stage, activation bytes after it at batch 1, FLOPs up to and including it).
MOBILENET_V2_SPLITS: tuple[tuple[int, str, int, int], ...] = (
    (0, "features.0", 1605632, 21676032),
    (1, "features.1", 802816, 41746432),
    (2, "features.2", 301056, 100151296),
    (3, "features.3", 301056, 151631872),
    (4, "features.4", 100352, 182565376),
    (5, "features.5", 100352, 204542464),
    (6, "features.6", 100352, 226519552),
    (7, "features.7", 50176, 241647616),
    (8, "features.8", 50176, 262269952),
    (9, "features.9", 50176, 282892288),
    (10, "features.10", 50176, 303514624),
    (11, "features.11", 75264, 328953856),
    (12, "features.12", 75264, 374338048),
    (13, "features.13", 75264, 419722240),
    (14, "features.14", 31360, 450937984),
    (15, "features.15", 31360, 481890304),
    (16, "features.16", 31360, 512842624),
    (17, "features.17", 62720, 558847744),
    (18, "features.18", 250880, 598988544),
    (19, "head", 404, 599247104),
)


def balanced_cuts(k: int, splits: Sequence[tuple] = MOBILENET_V2_SPLITS) -> list[int]:
    """Indices (into ``splits``) of the k - 1 cuts nearest to equal FLOP shares, increasing."""
    total = splits[-1][3]
    if not 1 <= k <= len(splits):
        raise ValueError(f"k must be between 1 and {len(splits)}, got {k}")
    cuts: list[int] = []
    for j in range(1, k):
        target = total * j / k
        lo = cuts[-1] + 1 if cuts else 0
        hi = len(splits) - 1 - (k - 1 - j)          # leave room for the remaining cuts
        best = min(range(lo, hi), key=lambda i: (abs(splits[i][3] - target), i))
        cuts.append(best)
    return cuts


def mp_stages(k: int, total_s: float, input_bytes: float = 0.0,
              splits: Sequence[tuple] = MOBILENET_V2_SPLITS) -> list[dict]:
    """The k slices: ``{"part", "after", "time_s", "bytes"}`` (bytes moved to the slice)."""
    total = splits[-1][3]
    cuts = balanced_cuts(k, splits)
    bounds = [-1] + cuts + [len(splits) - 1]
    out = []
    for p in range(k):
        start, end = bounds[p], bounds[p + 1]
        before = splits[start][3] if start >= 0 else 0
        out.append({"part": p + 1, "after": splits[end][1],
                    "time_s": total_s * (splits[end][3] - before) / total,
                    "bytes": input_bytes if start < 0 else splits[start][2]})
    return out


def cp_time(total_s: float, model: str = "sensai_part",
            splits: Sequence[tuple] = MOBILENET_V2_SPLITS) -> float:
    """A class-parallel sub-model's time: the whole MobileNetV2's ``total_s`` times the FLOP share
    of the zoo's ``model`` (the same proportionality as `mp_stages`)."""
    return total_s * model_size(model).flops / splits[-1][3]


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--cp":
        total_ms = float(args[1]) if len(args) > 1 else 226.0
        size = model_size("sensai_part")
        print(f"sensai_part: {size.flops:.0f} FLOPs / {MOBILENET_V2_SPLITS[-1][3]} "
              f"(mobilenet_v2, 101 classes) x {total_ms:g} ms = "
              f"{cp_time(total_ms / 1000.0) * 1000!r}ms")
        return 0
    k = int(args[0]) if args else 5
    total_ms = float(args[1]) if len(args) > 1 else 226.0
    for s in mp_stages(k, total_ms / 1000.0):
        print(f"- {{part: {s['part']}, after: {s['after']}, time: {s['time_s'] * 1000:.4f}ms, "
              f"bytes: {s['bytes']}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
