"""How many bytes an ensemble member's answer takes on the air.

VP paper §IV-D, Eq. 3: a member keeps its top-k classes and sends their scores with their
indices,

    h(k) = min{ k (size(fp) + 1), size(fp) C }   for k > 1
    h(k) = 1                                       for k = 1 (the class index alone)

with size(fp) the bytes of one score and C the number of classes: sending more than C/2 classes
costs more than the whole vector, hence the cap. The "+ 1" is a one-byte class index, as the
paper writes it (exact for C <= 256; the formula is kept as published).

Class parallelism (sensAI) sends one score per class its sub-model predicts: size(fp) x classes.
"""
from __future__ import annotations


def h(k: int, classes: int, float_bytes: int = 4) -> int:
    """Eq. 3: bytes of a top-k answer over ``classes`` classes with ``float_bytes`` per score."""
    if k < 1 or classes < 1 or float_bytes < 1:
        raise ValueError(f"need k, classes, float_bytes >= 1, got {k}, {classes}, {float_bytes}")
    if k == 1:
        return 1
    return min(k * (float_bytes + 1), float_bytes * classes)


def answer_bytes(spec) -> int:
    """Bytes of one answer for an `AnswerSpec`."""
    if spec.encoding == "topk":
        return h(spec.k, spec.classes, spec.float_bytes)
    return spec.float_bytes * spec.classes
