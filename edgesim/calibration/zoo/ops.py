"""Per-kernel costs of a forward pass, for the device predictor's per-kernel roofline.

:func:`op_profile` runs one forward pass on the ``meta`` device (no compute) under a dispatch mode
that sees every aten op below autograd, as :class:`~edgesim.calibration.zoo.analysis.KernelCounter`
does, and records for each compute kernel its kind, FLOPs, activation bytes and weight bytes:

* ``kind``: ``mm`` (dense convolution, ``mm``/``addmm``/``bmm``: what tensor cores and BLAS run;
  ``w3`` for dense 3x3 stride-1 convolutions, which engines may run as Winograd transforms),
  ``ew`` (element-wise work a fusing engine folds into the kernel that produced its input) or
  ``ewk`` (element-wise work that stays a kernel of its own: pooling, DenseNet's pre-activation
  batch norm ...),
  ``dw`` (grouped or depthwise convolution: vector units only, little reuse); element-wise
  kinds are memory-bound and no FLOPs are counted for them;
* ``flops``: 2 per multiply-accumulate (the convention of FlopCounterMode, so sums agree with
  :func:`describe`);
* ``act_bytes``: bytes of the activations the kernel reads and writes (inputs produced by earlier
  kernels or the model input, plus its outputs), fp32;
* ``weight_bytes``: bytes of parameters and buffers it reads (they do not grow with the batch).

The figures are per input (batch 1), rows with identical costs merged with a ``count``.
:func:`export` writes them, with describe()'s totals, for every zoo model into the JSON file the
torch-free predictor reads (``calibration/predictor/zoo_ops.json``)::

    python -m edgesim.calibration.zoo.ops        # regenerates the file (needs PyTorch)
"""
from __future__ import annotations

# argparse, not click: a `python -m` maintainer's tool (it regenerates a shipped file), not a
# user command; the layering keeps click in edgesim.cli, which nothing below it imports.
import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from edgesim.calibration.zoo.analysis import _ALLOCATION_OPS, describe
from edgesim.calibration.zoo.registry import available, build, example_input, resolve

__all__ = ["op_profile", "export", "DEFAULT_OUT"]

DEFAULT_OUT = Path(__file__).resolve().parents[3] / "calibration" / "predictor" / "zoo_ops.json"
_MM = frozenset({"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "_scaled_mm"})
_POOL = frozenset({"max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d",
                   "_adaptive_avg_pool2d", "adaptive_max_pool2d", "mean"})
_CONV = frozenset({"convolution", "conv2d", "conv1d", "_convolution", "cudnn_convolution"})


def _bytes(t: torch.Tensor) -> int:
    return int(t.numel() * t.element_size())


class _OpRecorder(TorchDispatchMode):
    def __init__(self, weights: set[int], model_input: torch.Tensor) -> None:
        super().__init__()
        self.weights = set(weights)      # ids of parameters, buffers and views of them
        self.keep: list[Any] = [model_input]   # keeps ids unique while the trace runs
        self.ops: list[tuple[str, float, int, int]] = []
        self.chain: set[int] = set()     # ids of tensors a fusing engine keeps in registers

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        ins = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        outs = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
        self.keep.extend(outs)
        name = func.overloadpacket.__name__
        if func.is_view or func._schema.name.split("::")[-1] in _ALLOCATION_OPS:
            if any(id(a) in self.weights for a in ins):   # weight.t() is still a weight
                self.weights.update(id(o) for o in outs)
            if any(id(a) in self.chain for a in ins):     # and a view of a fresh output is fresh
                self.chain.update(id(o) for o in outs)
            return out
        w = sum(_bytes(a) for a in ins if id(a) in self.weights)
        act = sum(_bytes(a) for a in ins if id(a) not in self.weights) + sum(_bytes(o) for o in outs)
        kind, flops = "ew", 0.0
        if name in _CONV:
            x, wt = args[0], args[1]
            groups = int(args[8]) if len(args) > 8 else int(kwargs.get("groups", 1))
            per_out = wt.shape[1] * math.prod(wt.shape[2:])     # (Cin / groups) x kernel area
            flops = 2.0 * outs[0].numel() * per_out
            kind = "dw" if groups > 1 else "mm"
            stride = args[3] if len(args) > 3 else kwargs.get("stride", (1,))
            if kind == "mm" and tuple(wt.shape[2:]) == (3, 3) and all(int(v) == 1 for v in stride):
                kind = "w3"     # 3x3 stride 1: what Winograd kernels speed up
        elif name in _MM:
            a, b = (args[1], args[2]) if name in ("addmm", "baddbmm") else (args[0], args[1])
            flops = 2.0 * a.numel() * b.shape[-1]
            kind = "mm"
        acts_in = [a for a in ins if id(a) not in self.weights]
        if kind == "ew":
            # a fusing engine (TensorRT, ncnn ...) folds an element-wise op into the kernel that
            # produced one of its inputs (conv + BN + ReLU, matmul + bias + GELU, the residual
            # add, the softmax after a matmul) and writes concatenations in place; pooling and
            # ops on inputs no kernel just produced (DenseNet's pre-activation BN) stay kernels
            fusable = name == "cat" or (name not in _POOL and any(id(a) in self.chain
                                                                  for a in acts_in))
            if not fusable:
                kind = "ewk"
        # outputs a following element-wise op can fuse into: those of compute kernels, of ops
        # fused into them and of element-wise kernels (BN + ReLU run as one kernel); not those
        # of pooling or of a concatenation (written in place by the kernels before it)
        if name not in _POOL and name != "cat":
            self.chain.update(id(o) for o in outs)
        self.ops.append((kind, flops, act, w))
        return out


def op_profile(name: str, **overrides: Any) -> list[dict]:
    """The compute kernels of one batch-1 forward pass of ``name``: merged rows of ``kind``,
    ``flops``, ``act_bytes``, ``weight_bytes`` and ``count`` (see the module docstring)."""
    model = build(name, device="meta", **overrides)
    x = example_input(name, 1, device="meta", **overrides)
    weights = {id(p) for p in model.parameters()} | {id(b) for b in model.buffers()}
    rec = _OpRecorder(weights, x)
    with torch.no_grad(), rec:
        model(x)
    merged: dict[tuple, int] = {}
    for op in rec.ops:
        merged[op] = merged.get(op, 0) + 1
    return [{"kind": k, "flops": f, "act_bytes": a, "weight_bytes": w, "count": n}
            for (k, f, a, w), n in merged.items()]


def model_record(name: str) -> dict:
    """describe()'s totals and the merged op rows of one model (one entry of the JSON file)."""
    d = describe(name)
    ops = op_profile(name)
    return {"description": resolve(name).description, "params": d["params"],
            "param_bytes": d["param_bytes"], "flops": d["flops"], "kernels": d["kernels"],
            "input_bytes": d["input_bytes"], "out_bytes": d["out_bytes"],
            "input_shape": list(d["input_shape"][1:]),
            "weighted_ops": sum(o["count"] for o in ops if o["kind"] != "ew" and o["weight_bytes"]),
            "ops": [[o["kind"], o["flops"], o["act_bytes"], o["weight_bytes"], o["count"]]
                    for o in ops]}


def export(path: str | Path = DEFAULT_OUT, names: Optional[Sequence[str]] = None) -> dict:
    """Write the op table of ``names`` (default: every zoo model) to ``path``; returns it."""
    names = list(names or available())
    table = {"schema": 1, "generated_by": "python -m edgesim.calibration.zoo.ops",
             "torch": torch.__version__.split("+")[0],
             "columns": ["kind", "flops", "act_bytes", "weight_bytes", "count"],
             "models": {n: model_record(n) for n in names}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n")
    return table


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgesim.calibration.zoo.ops",
                                 description="Write the per-kernel cost table of the zoo models.")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    t = export(args.out)
    print(f"{args.out}: {len(t['models'])} models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
