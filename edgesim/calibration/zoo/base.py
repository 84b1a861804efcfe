"""The stage contract every zoo model follows: ``forward`` applies ``stages()`` in order.

Kept apart from the families so that each of them (and the split-point analysis) can rely on it
without importing one another.
"""
from __future__ import annotations

import torch
from torch import nn

class _Staged(nn.Module):
    """A model whose forward pass is its stages applied in order (``self._stage_names``)."""

    _stage_names: list[str]

    def stages(self) -> list[tuple[str, nn.Module]]:
        """The top-level stages, ``(dotted name, module)``, in execution order."""
        return [(n, self.get_submodule(n)) for n in self._stage_names]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self._stage_names:
            x = self.get_submodule(name)(x)
        return x
