"""BERT-base (Devlin et al. 2019) as a sequence classifier, in the zoo's stage layout.

Attention is written out as matmul + softmax + matmul (not a fused attention op), so that the
meta-device trace sees the two batched matmuls and counts their FLOPs. 12 layers, hidden 768, 12
heads, FFN 3072, vocabulary 30522, 512 positions: 109,483,778 parameters with the 2-class head.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from edgesim.calibration.zoo.base import _Staged

__all__ = ["BertEncoder"]


class _Embeddings(nn.Module):
    def __init__(self, vocab: int, hidden: int, max_pos: int):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(max_pos, hidden)
        self.segment = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        return self.norm(self.word(ids) + self.pos(pos) + self.segment(torch.zeros_like(ids)))


class _Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn = nn.Sequential(nn.Linear(hidden, ffn), nn.GELU(), nn.Linear(ffn, hidden))
        self.norm2 = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, s, h = x.shape
        d = h // self.heads
        q, k, v = self.qkv(x).view(n, s, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(n, s, h)
        x = self.norm1(x + self.out(ctx))
        return self.norm2(x + self.ffn(x))


class _Pooler(nn.Module):
    def __init__(self, hidden: int, num_classes: int):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.cls = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls(torch.tanh(self.dense(x[:, 0])))


class BertEncoder(_Staged):
    """BERT encoder + pooler + linear classifier: ``(N, seq_len)`` token ids -> ``(N, classes)``."""

    def __init__(self, vocab_size: int = 30522, hidden: int = 768, layers: int = 12, heads: int = 12,
                 ffn: int = 3072, max_positions: int = 512, num_classes: int = 2):
        super().__init__()
        self.embeddings = _Embeddings(vocab_size, hidden, max_positions)
        self.encoder = nn.Sequential(*[_Layer(hidden, heads, ffn) for _ in range(layers)])
        self.head = _Pooler(hidden, num_classes)
        self._stage_names = (["embeddings"] + [f"encoder.{i}" for i in range(layers)] + ["head"])
