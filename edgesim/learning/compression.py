"""Federated model compression (FedAce §3.4.3), in numpy: local magnitude masks (Eq. 3.6), the
majority-vote global mask (Eq. 3.7) over cached local masks, the sparsity schedule, the bytes
of a sparse model on the wire, and the bit trick that carries a mask inside the weights.

Weights are one flat float32 vector; ``prunable`` marks the positions that may be pruned (the
weights of linear and convolution layers, never biases) and ``layers`` gives each layer's
slice of the vector.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def sparsity_at(round_: int, final: float, schedule: str, warmup: int, ramp: float) -> float:
    """Target share of pruned weights in round ``round_`` (0-based)."""
    if schedule == "constant":
        return final
    if round_ < warmup:
        return 0.0
    if schedule == "warmup":
        return final
    if schedule == "exponential":
        return final * (1.0 - math.exp(-(round_ - warmup + 1) / ramp))
    raise ValueError(f"unknown sparsity schedule {schedule!r}")


def local_mask(w: np.ndarray, prunable: np.ndarray, layers: Sequence[slice], sparsity: float,
               scope: str) -> np.ndarray:
    """M_k = sigma(|W_k|, s) (Eq. 3.6): True where a weight is kept. The threshold s is the
    magnitude that prunes ``sparsity`` of the prunable weights, per layer (``scope`` 'layer') or
    over the whole model ('model'); exactly round(sparsity x count) are pruned, the smallest
    magnitudes first (ties by position)."""
    keep = np.ones(len(w), dtype=bool)
    if sparsity <= 0.0:
        return keep
    groups = ([np.arange(sl.start, sl.stop)[prunable[sl]] for sl in layers] if scope == "layer"
              else [np.flatnonzero(prunable)])
    for pos in groups:
        k = int(round(sparsity * len(pos)))
        if k <= 0:
            continue
        order = np.argsort(np.abs(w[pos]), kind="stable")
        keep[pos[order[:k]]] = False
    return keep


def vote(masks: Sequence[np.ndarray], threshold: float) -> np.ndarray:
    """M_g = sigma(sum_k M_k, s) (Eq. 3.7): keep a weight when at least ``threshold`` of the
    masks keep it (s = threshold x number of masks)."""
    if not masks:
        raise ValueError("no local masks to vote on")
    counts = np.sum(np.stack(masks), axis=0, dtype=np.int64)
    need = threshold * len(masks)
    # Counts are integers: keep when count >= need, tolerant of float error in the product.
    return counts >= need - 1e-9


class MaskCache:
    """Local masks collected over ``every`` rounds, voted into one global mask (§3.4.3, Fig. 3.6:
    cache 1 votes every round, cache 2 every second round on both rounds' masks)."""

    def __init__(self, every: int, threshold: float) -> None:
        self.every = every
        self.threshold = threshold
        self.masks: list[np.ndarray] = []
        self.rounds = 0

    def add(self, masks: Sequence[np.ndarray]) -> None:
        self.masks.extend(masks)

    def end_round(self):
        """The newly voted global mask at the end of every ``every``-th round, else None."""
        self.rounds += 1
        if self.rounds % self.every or not self.masks:
            return None
        out = vote(self.masks, self.threshold)
        self.masks = []
        return out


def dense_bytes(params: int, dtype_bytes: int) -> float:
    return float(params * dtype_bytes)


def bitmap_bytes(bits: int) -> float:
    return float(math.ceil(bits / 8))


def model_bytes(nonzero: int, params: int, dtype_bytes: int) -> float:
    """Bytes of a model with ``nonzero`` of ``params`` weights kept: the kept values and a
    one-bit-per-weight position map, or the dense vector when that is smaller."""
    return min(dense_bytes(params, dtype_bytes),
               float(nonzero * dtype_bytes) + bitmap_bytes(params))


def update_bytes(nonzero: int, params: int, dtype_bytes: int, encoding: str,
                 compressed: bool) -> float:
    """Bytes of a client's upload: the values at the global mask's ``nonzero`` positions (the
    server knows where they are), plus the local mask as a bitmap over them unless it rides in
    the values' last bit. Without compression, the dense update."""
    if not compressed:
        return dense_bytes(params, dtype_bytes)
    extra = bitmap_bytes(nonzero) if encoding == "bitmap" else 0.0
    return float(nonzero * dtype_bytes) + extra


def encode_last_bit(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """float32 ``values`` with the lowest mantissa bit replaced by ``mask`` (the paper's trick:
    the change is below 1.2e-7 relative, far under SGD's noise)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).copy()
    bits = (bits & np.uint32(0xFFFFFFFE)) | mask.astype(np.uint32)
    return bits.view(np.float32)


def decode_last_bit(values: np.ndarray) -> np.ndarray:
    """The mask carried by :func:`encode_last_bit`."""
    return (np.ascontiguousarray(values, dtype=np.float32).view(np.uint32) & 1).astype(bool)
