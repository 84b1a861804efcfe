"""Measure real PyTorch latencies: one row per (model, phase, batch) and the raw samples.

``profile(models, device, batches, threads, phases, min_run_time)`` returns two DataFrames:

* ``table``: the columns of a bundle's ``latency.csv`` (:data:`COLUMNS`) followed by the extra
  column ``kernels`` (:data:`EXTRA_COLUMNS`: compute kernels one forward pass launches, from
  ``zoo.describe``; the predictor's roofline transfer uses it for its per-kernel overhead term),
  in the order the models were given, phases in the order given, batches ascending;
* ``samples``: ``model, phase, batch, sample_ms``, every timed sample in the order it was taken.

How a cell is timed
-------------------
``infer`` runs the model under ``torch.inference_mode()`` (the model is in eval mode); ``train`` is
one SGD step: ``zero_grad``, forward in train mode, a loss against fixed random targets
(cross-entropy on random class labels for 2-D logits, mean squared error otherwise), ``backward``,
``optimizer.step``. The same input tensor is reused; weights come from ``torch.manual_seed(0)``.

* CPU: after a warm-up (at least 3 calls and ``warmup_fraction * min_run_time`` seconds),
  ``torch.utils.benchmark.Timer(...).blocked_autorange(min_run_time=...)``; each sample is one
  block's time divided by its number of calls (seconds per call). blocked_autorange makes blocks
  long enough that the timer's overhead is below 0.01 %, which for a call of a few ms means blocks
  of 10 calls: their average hides the call-to-call spread that a queue sees. So when the warm-up
  shows a call takes at least ``per_call_min_ms`` (1 ms; the timer overhead, ~1 us, is then below
  0.1 %), the same Timer is run one call per sample (``Timer.timeit(1)``) until ``min_run_time``
  has passed; ``per_call_min_ms=None`` always uses blocked_autorange.
* CUDA: CUDA events around each call, synchronised after each call (the latency one request
  sees), after the same warm-up, until ``min_run_time`` has passed and at least ``min_samples``
  calls were timed.

Statistics per cell: ``n`` samples, their median, 10th/90th/99th percentiles (linear
interpolation), mean and standard deviation (ddof=1; 0 for a single sample).

CPU allocator (``malloc="stable"``)
-----------------------------------
glibc's malloc maps allocations above a moving threshold with a fresh ``mmap`` and unmaps them on
free, so a large activation is page-faulted in again on every call, and whether it is depends on
the allocation history: on the reference machine MobileNetV2-0.5 at batch 4 to 16 took twice as
long and varied 2x between runs. By default the profiler therefore calls ``mallopt`` so that
memory comes from the heap and is kept (:func:`configure_malloc`), which gives times linear in
the batch and repeatable; ``malloc="default"`` measures glibc's behaviour as it is. The mode is
recorded in the bundle, and ``edgesim testbed`` applies the same mode in its workers.

Memory (``peak_mem_mb``)
------------------------
* CUDA: ``torch.cuda.max_memory_allocated()`` after ``reset_peak_memory_stats()``: weights,
  activations, gradients and optimiser state that the caching allocator handed out.
* CPU: there is no allocator counter, so the process's resident set size is used. After the
  cell's first call (lazy initialisation, not counted), freed heap memory is returned to the OS
  (``malloc_trim``), the RSS is read and the kernel's high-water mark (``VmHWM`` in
  ``/proc/self/status``) is reset by writing ``5`` to ``/proc/self/clear_refs``; after the timed
  calls ``peak_mem_mb = state + (VmHWM - that RSS)``, where ``state`` is the bytes of the weights,
  buffers and, for ``train``, gradients and momentum (resident before the reset, so counted
  exactly). The RSS growth covers activations and library scratch memory. It is an estimate, good
  to a few MB (a library's one-off allocations can land in the first cell of a process). Where the
  high-water mark cannot be reset (not Linux, or a kernel before 4.0) the column is NaN.

Nothing here is imported by a plain simulation; torch is imported when ``profile`` runs.
"""
from __future__ import annotations

import gc
import math
import time
import warnings
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "EXTRA_COLUMNS", "SAMPLE_COLUMNS", "PHASES", "profile", "resolve_device",
           "ProfileError", "canonical_names", "configure_malloc", "MALLOC_MODES"]

COLUMNS = ["model", "phase", "batch", "input_shape", "threads", "n", "median_ms", "p10_ms", "p90_ms",
           "p99_ms", "mean_ms", "std_ms", "flops", "params", "out_bytes", "peak_mem_mb", "provenance"]
# written after ``provenance`` (a bundle keeps extra trailing columns as text)
EXTRA_COLUMNS = ["kernels"]
SAMPLE_COLUMNS = ["model", "phase", "batch", "sample_ms"]
PHASES = ("infer", "train")

Progress = Callable[[int, int, str], None]


class ProfileError(ValueError):
    """A bad argument to profile() (unknown model, phase or device)."""


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; 'cuda' without a GPU is an error."""
    import torch
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ProfileError("device 'cuda' asked for, but torch sees no CUDA device "
                           f"(torch {torch.__version__})")
    if device not in ("cpu", "cuda"):
        raise ProfileError(f"unknown device {device!r}; use cpu, cuda or auto")
    return device


# --------------------------------------------------------------------------------------------
# memory


def _status_kib(key: str) -> Optional[int]:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_hwm() -> bool:
    """Reset the peak-RSS high-water mark (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


MALLOC_MODES = ("stable", "default")


def configure_malloc(mode: str = "stable") -> str:
    """Make CPU timings independent of glibc malloc's history; returns what was applied.

    glibc serves an allocation above its (dynamic) mmap threshold with a fresh ``mmap`` and
    returns it on free, so an activation of tens of MB is page-faulted in again on every call;
    whether a given size crosses the threshold depends on what was freed before. For
    MobileNetV2-0.5 at 224x224 this doubled the time of batch 4 to 16 and made it vary 2x
    between runs on the reference machine. ``"stable"`` calls ``mallopt(M_MMAP_MAX, 0)`` and
    ``mallopt(M_TRIM_THRESHOLD, 2**31 - 1)``: every allocation comes from the heap and freed
    memory is kept for reuse, as with the jemalloc/tcmalloc setups PyTorch recommends for CPU
    inference. It lasts for the rest of the process. ``"default"`` leaves malloc alone. Where
    mallopt is unavailable (not glibc) nothing changes and the answer says so.
    """
    if mode not in MALLOC_MODES:
        raise ProfileError(f"unknown malloc mode {mode!r}; use {' or '.join(MALLOC_MODES)}")
    if mode == "default":
        return "default"
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-4, 0) == 1 and libc.mallopt(-1, 2 ** 31 - 1) == 1  # M_MMAP_MAX, M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        ok = False
    return ("stable (glibc mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=2^31-1)" if ok else
            "default (mallopt unavailable)")


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS (glibc), so a cell's RSS growth is its own."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _CpuMemory:
    """Peak memory of a cell = model state bytes + RSS growth during the cell (see module doc)."""

    def __init__(self) -> None:
        self.start_kib: Optional[int] = None
        self.reset_ok = False

    def start(self) -> None:
        gc.collect()
        _malloc_trim()
        self.start_kib = _status_kib("VmRSS")
        self.reset_ok = _reset_hwm()

    def peak_mb(self, state_bytes: int) -> float:
        hwm = _status_kib("VmHWM")
        if not self.reset_ok or hwm is None or self.start_kib is None:
            return math.nan
        return state_bytes / 2 ** 20 + max(hwm - self.start_kib, 0) / 1024.0


def _state_bytes(model, optimizer=None) -> int:
    """Bytes already resident when a cell's measurement starts: weights, buffers and, after a
    training step, gradients and the optimiser's state (momentum)."""
    import torch
    ts = [*model.parameters(), *model.buffers()]
    ts += [p.grad for p in model.parameters() if p.grad is not None]
    if optimizer is not None:
        ts += [v for st in optimizer.state.values() for v in st.values() if isinstance(v, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in ts)


# --------------------------------------------------------------------------------------------
# one cell


def _shape(x) -> str:
    """The per-input shape (no batch dimension), as the bundle contract writes it: 3x224x224."""
    return "x".join(str(int(d)) for d in x.shape[1:]) or "1"


def _tensors(out) -> list:
    import torch
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _tensors(o)]
    return []


def _make_loss(out, device: str):
    """A loss function of the model's output against fixed random targets."""
    import torch
    import torch.nn.functional as F
    parts = []
    g = torch.Generator().manual_seed(1)
    for t in _tensors(out):
        if not t.is_floating_point():
            continue
        if t.dim() == 2 and t.shape[1] > 1:
            target = torch.randint(0, t.shape[1], (t.shape[0],), generator=g).to(device)
            parts.append(lambda o, tgt=target: F.cross_entropy(o, tgt))
        else:
            target = torch.randn(t.shape, generator=g).to(device=device, dtype=t.dtype)
            parts.append(lambda o, tgt=target: F.mse_loss(o, tgt))
    if not parts:
        raise ProfileError("the model's output has no floating-point tensor to train against")

    def loss(output):
        outs = [t for t in _tensors(output) if t.is_floating_point()]
        return sum(fn(o) for fn, o in zip(parts, outs))
    return loss


def _step_fn(model, x, phase: str, device: str):
    """The callable that is timed: one inference, or one training step."""
    import torch
    if phase == "infer":
        model.eval()

        def infer():
            with torch.inference_mode():
                return model(x)
        return infer
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    with torch.no_grad():
        loss_fn = _make_loss(model(x), device)

    def train():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x))
        loss.backward()
        opt.step()
        return loss
    train.optimizer = opt
    return train


def _warm_up(fn, device: str, seconds: float, calls: int = 3) -> float:
    """Run fn until both `calls` calls and `seconds` have passed; the median seconds per call."""
    import torch
    times = []
    t_end = time.perf_counter() + seconds
    while len(times) < calls or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        if len(times) >= 1000:
            break
    return float(np.median(times))


def _time_cpu(fn, threads: int, min_run_time: float, per_call_s: float,
              per_call_min_ms: Optional[float], min_samples: int, label: str) -> list:
    from torch.utils import benchmark
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads, label=label)
    if per_call_min_ms is not None and per_call_s * 1e3 >= per_call_min_ms:
        # One call per sample through the Timer's own timing loop (Timer.timeit(1) would add two
        # warm-up calls to every sample); perf_counter where a torch lacks that private method.
        once = getattr(timer, "_timeit", None)
        out = []
        t_end = time.perf_counter() + min_run_time
        while len(out) < min_samples or time.perf_counter() < t_end:
            if once is not None:
                out.append(float(once(1)))
            else:
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
        return out
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return [float(t) for t in m.times]


def _time_cuda(fn, min_run_time: float, min_samples: int) -> list:
    import torch
    out = []
    t_end = time.perf_counter() + min_run_time
    while len(out) < min_samples or time.perf_counter() < t_end:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        out.append(start.elapsed_time(end) / 1e3)
        if len(out) >= 100_000:
            break
    return out


def _stats(samples_s: Sequence[float]) -> dict:
    a = np.asarray(samples_s, dtype=float) * 1e3
    p10, p50, p90, p99 = np.quantile(a, [0.10, 0.50, 0.90, 0.99])
    return {"n": int(a.size), "median_ms": float(p50), "p10_ms": float(p10), "p90_ms": float(p90),
            "p99_ms": float(p99), "mean_ms": float(a.mean()),
            "std_ms": float(a.std(ddof=1)) if a.size > 1 else 0.0}


def _describe(zoo, name: str, batch: int) -> dict:
    try:
        d = zoo.describe(name, batch)
        out = {k: d.get(k) for k in ("flops", "params", "out_bytes")}
        k = d.get("kernels")
        out["kernels"] = int(k) if k is not None else None    # a zoo without kernel counts: empty
        return out
    except Exception as exc:  # a FLOP counter that cannot follow a model must not stop a run
        warnings.warn(f"zoo.describe({name!r}, {batch}) failed: {exc}", RuntimeWarning, stacklevel=3)
        return {"flops": math.nan, "params": math.nan, "out_bytes": math.nan, "kernels": None}


# --------------------------------------------------------------------------------------------
# the public entry point


def _zoo():
    from edgesim.calibration import zoo
    return zoo


def canonical_names(models: Sequence[str], zoo=None) -> tuple[list, list]:
    """(canonical names of the known models, [(name, message)] for the unknown ones).

    A zoo with ``spec(name)`` accepts parameterised names (``mobilenet_v2_x0.75@160``) and gives
    their canonical spelling; otherwise a name must be in ``zoo.available()``.
    """
    zoo = zoo or _zoo()
    known, bad = [], []
    names = set(zoo.available())
    for m in models:
        if hasattr(zoo, "spec"):
            try:
                known.append(zoo.spec(m).name)
            except (KeyError, ValueError) as exc:
                bad.append((m, str(exc.args[0]) if exc.args else str(exc)))
        elif m in names:
            known.append(m)
        else:
            bad.append((m, f"unknown model {m!r}"))
    return list(dict.fromkeys(known)), bad


def profile(models: Sequence[str], device: str = "cpu",
            batches: Sequence[int] = (1, 2, 4, 8, 16, 32), threads: Optional[int] = None,
            phases: Sequence[str] = PHASES, min_run_time: float = 0.2,
            progress: Optional[Progress] = None, *, warmup_fraction: float = 0.25,
            per_call_min_ms: Optional[float] = 1.0, min_samples: int = 5,
            malloc: str = "stable", zoo=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Time ``models`` (zoo names) at each batch size and phase; see the module docstring.

    ``threads``: torch intra-op threads (``torch.set_num_threads``), default: torch's current
    setting; restored afterwards. ``progress(done, total, label)`` is called before each cell and
    once at the end. ``zoo``: a module-like object with ``available``, ``build``,
    ``example_input`` and ``describe`` (default: :mod:`edgesim.calibration.zoo`).

    ``malloc``: see :func:`configure_malloc` (CPU only; what was applied is in
    ``table.attrs["malloc"]``).

    A cell that raises (e.g. a batch-norm layer training on a batch of one) is skipped with a
    RuntimeWarning; the skipped cells are listed in ``table.attrs["skipped"]``.
    """
    import torch
    zoo = zoo or _zoo()
    models, unknown = canonical_names(models, zoo)
    if unknown:
        raise ProfileError("; ".join(msg for _, msg in unknown))
    bad = [p for p in phases if p not in PHASES]
    if bad:
        raise ProfileError(f"unknown phase(s) {', '.join(bad)}; use {', '.join(PHASES)}")
    phases = list(dict.fromkeys(phases))
    batches = sorted({int(b) for b in batches})
    if not batches or batches[0] < 1:
        raise ProfileError("batch sizes must be integers >= 1")
    if min_run_time <= 0:
        raise ProfileError("min_run_time must be > 0")
    device = resolve_device(device)
    malloc_applied = configure_malloc(malloc) if device == "cpu" else "n/a (cuda)"

    old_threads = torch.get_num_threads()
    threads = int(threads) if threads else old_threads
    torch.set_num_threads(threads)
    rows, samples, skipped = [], [], []
    total = len(models) * len(phases) * len(batches)
    done = 0
    mem = _CpuMemory()
    try:
        for name in models:
            for phase in phases:
                torch.manual_seed(0)
                model = zoo.build(name).to(device)
                for batch in batches:
                    label = f"{name} {phase} b{batch}"
                    if progress:
                        progress(done, total, label)
                    done += 1
                    try:
                        x = zoo.example_input(name, batch).to(device)
                        fn = _step_fn(model, x, phase, device)
                        if device == "cuda":
                            torch.cuda.synchronize()
                            torch.cuda.reset_peak_memory_stats()
                        fn()                      # first call: lazy initialisation, not counted
                        if device == "cpu":
                            mem.start()
                        per_call = _warm_up(fn, device, warmup_fraction * min_run_time)
                        if device == "cuda":
                            times = _time_cuda(fn, min_run_time, min_samples)
                            peak = torch.cuda.max_memory_allocated() / 2 ** 20
                        else:
                            times = _time_cpu(fn, threads, min_run_time, per_call, per_call_min_ms,
                                              min_samples, label)
                            peak = mem.peak_mb(_state_bytes(model, getattr(fn, "optimizer", None)))
                    except ProfileError:
                        raise
                    except Exception as exc:
                        msg = f"{label}: {type(exc).__name__}: {exc}".splitlines()[0]
                        warnings.warn(f"skipped {msg}", RuntimeWarning, stacklevel=2)
                        skipped.append(msg)
                        continue
                    finally:
                        if phase == "train":
                            model.zero_grad(set_to_none=True)
                    row = {"model": name, "phase": phase, "batch": batch, "input_shape": _shape(x),
                           "threads": threads, **_stats(times), **_describe(zoo, name, batch),
                           "peak_mem_mb": peak, "provenance": "measured"}
                    rows.append(row)
                    samples.extend((name, phase, batch, t * 1e3) for t in times)
                del model
                if device == "cuda":
                    torch.cuda.empty_cache()
    finally:
        torch.set_num_threads(old_threads)
    if progress:
        progress(done, total, "done")
    table = pd.DataFrame(rows, columns=COLUMNS + EXTRA_COLUMNS)
    for col in ("batch", "threads", "n"):
        table[col] = table[col].astype("int64")
    table["kernels"] = table["kernels"].astype(object)    # ints, None where unknown
    table.attrs["skipped"] = skipped
    table.attrs["device"] = device
    table.attrs["malloc"] = malloc_applied
    sample_df = pd.DataFrame(samples, columns=SAMPLE_COLUMNS)
    sample_df["batch"] = sample_df["batch"].astype("int64")
    return table, sample_df
