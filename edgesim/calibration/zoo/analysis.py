"""Size and cost of a forward pass and its candidate split points, counted on the ``meta`` device."""
from __future__ import annotations

import functools
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from .registry import build, example_input, resolve

__all__ = ["describe", "split_points"]


def _nbytes(t: torch.Tensor) -> int:
    return int(t.numel() * t.element_size())


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(e) for e in v)
    hash(v)
    return v


@functools.lru_cache(maxsize=512)
def _profile_cached(name: str, batch: int, overrides: tuple) -> tuple[dict, tuple]:
    return _profile(name, batch, dict(overrides))


def _profile(name: str, batch: int, overrides: dict) -> tuple[dict, tuple]:
    """One stage-by-stage forward pass on the ``meta`` device: (describe dict, split point tuple)."""
    if int(batch) < 1:
        raise ValueError(f"batch must be >= 1, not {batch}")
    s = resolve(name, **overrides)
    model = build(name, device="meta", **overrides)
    x = example_input(name, batch, device="meta", **overrides)
    input_bytes, input_shape = _nbytes(x), tuple(x.shape)
    points = []
    total = 0
    with torch.no_grad():
        for i, (stage_name, module) in enumerate(model.stages()):
            with FlopCounterMode(display=False) as counter:
                x = module(x)
            f = int(counter.get_total_flops())
            total += f
            points.append({"index": i, "after": stage_name, "act_bytes": _nbytes(x), "flops_before": total,
                           "flops": f, "shape": tuple(x.shape)})
    info = {
        "name": s.name,
        "flops": total,
        "macs": total // 2,
        "params": sum(p.numel() for p in model.parameters()),
        "param_bytes": sum(_nbytes(p) for p in model.parameters()),
        "buffer_bytes": sum(_nbytes(b) for b in model.buffers()),
        "input_bytes": input_bytes,
        "out_bytes": _nbytes(x),
        "input_shape": input_shape,
        "output_shape": tuple(x.shape),
    }
    return info, tuple(points)


def _profiled(name: str, batch: int, overrides: dict) -> tuple[dict, tuple]:
    try:
        key = tuple(sorted((k, _hashable(v)) for k, v in overrides.items()))
    except TypeError:                                  # an unhashable override: no caching
        return _profile(name, batch, overrides)
    return _profile_cached(name, int(batch), key)


def describe(name: str, batch: int = 1, **overrides: Any) -> dict:
    """Size and cost of one forward pass at ``batch``, computed on the ``meta`` device (cached).

    Returns ``flops`` (FlopCounterMode: 2 per multiply-accumulate of convs and matmuls, LSTM gates
    included), ``macs`` (= flops // 2), ``params``, ``param_bytes``, ``buffer_bytes`` (BN running
    statistics), ``input_bytes``, ``out_bytes`` (the output tensor for this batch), ``input_shape``
    and ``output_shape`` (with the batch dimension), and the resolved ``name``.

    (On the meta device ``aten::lstm`` decomposes into matmuls that the counter sees; on a real CPU
    it runs as one fused kernel that FlopCounterMode would count as 0 FLOPs.)
    """
    return dict(_profiled(name, batch, overrides)[0])


def split_points(name: str, batch: int = 1, **overrides: Any) -> list[dict]:
    """Candidate split points: the activation after each top-level stage of the model.

    One entry per stage, in execution order: ``index`` (0-based), ``after`` (the stage's dotted
    name), ``act_bytes`` (bytes of the activation leaving that stage for this batch: what a
    model-parallel split there must transmit), ``flops_before`` (forward FLOPs of all stages up to
    and including this one, i.e. computed before the cut), ``flops`` (this stage alone) and
    ``shape``. The last entry is the model output (``act_bytes == out_bytes``, ``flops_before ==``
    the total). Computed on the ``meta`` device (cached).
    """
    return [dict(p) for p in _profiled(name, batch, overrides)[1]]
