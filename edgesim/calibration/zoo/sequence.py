"""Sequence models: the stacked LSTM regressor (Distream's workload predictor) and TextCNN."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from edgesim.calibration.zoo.base import _Staged

__all__ = ["StackedLSTM", "TextCNN"]


# ---- sequence models -----------------------------------------------------------------------

class _LSTMLayer(nn.Module):
    """One LSTM layer (batch first) returning only its output sequence, so it can be a stage."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=1, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


class _LastStep(nn.Module):
    def __init__(self, hidden_size: int, out_features: int):
        super().__init__()
        self.fc = nn.Linear(hidden_size, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x[:, -1])


class StackedLSTM(_Staged):
    """Stacked LSTM regressor/classifier: ``(N, seq_len, input_size)`` -> ``(N, num_outputs)`` from
    the last time step. Stages: ``lstm1`` .. ``lstm<num_layers>``, ``head``. Same parameters as one
    ``nn.LSTM(num_layers=...)``; kept as separate layers so the model can be split between them."""

    def __init__(self, input_size: int = 24, hidden_size: int = 256, num_layers: int = 2,
                 num_outputs: int = 24):
        super().__init__()
        names = []
        for i in range(1, num_layers + 1):
            setattr(self, f"lstm{i}", _LSTMLayer(input_size if i == 1 else hidden_size, hidden_size))
            names.append(f"lstm{i}")
        self.head = _LastStep(hidden_size, num_outputs)
        self._stage_names = names + ["head"]


class _ParallelConvMaxPool(nn.Module):
    """TextCNN's parallel 1-D convolutions (+ReLU) with max-over-time pooling, concatenated."""

    def __init__(self, embed_dim: int, kernel_sizes: Sequence[int], num_filters: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in kernel_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)                        # (N, L, D) -> (N, D, L)
        return torch.cat([torch.relu(c(x)).amax(dim=2) for c in self.convs], dim=1)


class TextCNN(_Staged):
    """TextCNN (Kim 2014): ``(N, seq_len)`` int64 token ids -> ``(N, num_classes)`` logits.
    Stages: ``embedding``, ``convs`` (parallel convs + max-over-time), ``head`` (dropout, linear)."""

    def __init__(self, vocab_size: int = 20000, embed_dim: int = 100, kernel_sizes: Sequence[int] = (3, 4, 5),
                 num_filters: int = 100, num_classes: int = 2, dropout: float = 0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.convs = _ParallelConvMaxPool(embed_dim, tuple(kernel_sizes), num_filters)
        self.head = nn.Sequential(nn.Dropout(dropout),
                                  nn.Linear(num_filters * len(kernel_sizes), num_classes))
        self._stage_names = ["embedding", "convs", "head"]
