"""Size and cost of a forward pass and its candidate split points, counted on the ``meta`` device."""
from __future__ import annotations

import functools
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from edgesim.calibration.zoo.registry import build, example_input, resolve

__all__ = ["describe", "split_points", "KernelCounter", "count_kernels"]

# aten ops that allocate memory without computing anything (no kernel is launched for them)
_ALLOCATION_OPS = frozenset({"empty", "empty_like", "empty_strided", "new_empty",
                             "new_empty_strided", "empty_permuted"})


class KernelCounter(TorchDispatchMode):
    """Counts the compute kernels a forward pass launches: aten ops seen at the dispatcher.

    Every aten op that reaches the dispatcher (below autograd) and computes something counts
    once; two kinds are left out because no kernel runs for them: *views* (``view``, ``t``,
    ``slice``, ``expand``, ``permute`` ... - ``OpOverload.is_view``: they only make a new tensor
    header over the same storage) and pure *allocations* (``empty``, ``empty_like`` ...). In-place
    ops (``relu_``) count: they launch a kernel. ``ops`` maps each counted op to its count.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.ops: dict[str, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view and func._schema.name.split("::")[-1] not in _ALLOCATION_OPS:
            name = func.overloadpacket.__name__
            self.ops[name] = self.ops.get(name, 0) + 1
            self.total += 1
        return out


def count_kernels(module: torch.nn.Module, *inputs: Any) -> int:
    """Compute kernels one call ``module(*inputs)`` launches (see :class:`KernelCounter`).

    Run it on the ``meta`` device to count at no cost; the module runs under ``no_grad``.
    """
    with torch.no_grad(), KernelCounter() as counter:
        module(*inputs)
    return counter.total


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
    kernels = KernelCounter()
    with torch.no_grad():
        for i, (stage_name, module) in enumerate(model.stages()):
            with FlopCounterMode(display=False) as counter, kernels:
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
        "kernels": kernels.total,
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
    and ``output_shape`` (with the batch dimension), ``kernels`` (compute kernels one forward
    pass launches, see below) and the resolved ``name``.

    ``kernels`` counts the aten ops that reach the dispatcher below autograd, minus views and pure
    allocations (:class:`KernelCounter`), on the meta device, in eval mode. It is the per-call
    launch count behind the ``K * tau`` overhead term of the predictor's roofline transfer, so it
    should count what PyTorch eager launches one by one: convolutions, matmuls (``addmm`` for a
    linear layer), batch norms, activations, pooling, and also the functional ops between
    modules that a count of ``nn.Module`` layers would miss (residual ``add``, ``pad`` of an
    option-A shortcut, ``cat``, the ``max`` of a global max pool). Layers that do nothing in eval
    mode (``Dropout``) and reshapes (``Flatten`` is a ``view``) do not count. It does not depend on
    the batch. Backends that fuse (cuDNN conv+bias, TensorRT) launch fewer; the predictor's
    fitted per-kernel time absorbs a constant ratio. ``aten::lstm`` decomposes on the meta device
    into per-step ops (hundreds of kernels for ``lstm2``) where cuDNN runs one fused kernel.

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
