"""The per-kernel roofline with host overhead behind :mod:`edgesim.calibration.predictor.device_predictor`.

For a model M (its compute kernels from ``calibration/predictor/zoo_ops.json``: kind, FLOPs, activation and weight
bytes per input, see :mod:`edgesim.calibration.zoo.ops`) on a device D (spec sheet figures from
:mod:`edgesim.calibration.predictor.devices`) with runtime r, precision p, batch b and T threads::

    kernel i:  t_i = smax( t0,  b F_i / (eta_i P_i),  s_p (b A_i + W_i) / (mu B) )
    device:    G   = sum_i t_i                      (kernels run one after another)
    host:      H   = K_r tau_f / clock_host        (PyTorch eager on a GPU: one dispatch per kernel)
    call:      t   = smax(G, H) + c0                (the host runs ahead of the GPU, asynchronously)

* ``P_i`` is the peak for the precision and the kind of kernel: tensor cores for dense convs and
  matmuls where the device has them for p, the vector (CUDA-core / SIMD) rate otherwise and for
  depthwise / grouped convolutions (which tensor cores cannot run); on a CPU cores x FLOP per
  cycle x clock for min(T, cores) cores. ``B`` is the DRAM bandwidth; ``s_p`` the bytes per
  element relative to fp32 (tf32 1, fp16 1/2, int8 1/4).
* Fused runtimes (TensorRT, ncnn, TFLite, torch.compile ...) fold an element-wise kernel into the
  kernel that produced its input (conv + BN + ReLU, the residual add, matmul + GELU): what remains
  are the dense and depthwise kernels and the element-wise ones that cannot fold (pooling,
  DenseNet's pre-activation BN on a concatenation), and there is no per-kernel framework dispatch
  (``H = 0``). On a CPU the activations are taken as cache-resident (``A_i`` counts 0; the CPU
  anchors are batch 1) and T threads run a layer ``T^g`` times as fast as one. PyTorch eager runs every kernel and pays ``tau`` on the host per
  kernel; under AMP the autocast casts of the weights add one kernel per weighted layer (why AMP
  is *slower* than FP32 at batch 1 on a V100: 12.8 against 10.4 ms for ResNet-50).
* ``smax`` is a smooth maximum (``(x^4 + y^4 + z^4)^(1/4)``): a kernel is bound by its launch
  floor, its compute or its memory traffic, with a soft knee; so time(b) is flat at small batches
  (floor- and host-bound), then linear in b once the kernels saturate the device. Where the knee
  falls is per device: it follows from the device's own peaks.

The free parameters are few and *global* (:data:`PARAMS`: efficiencies per unit, depthwise factors,
bandwidth efficiencies, the kernel floors, tau per host family, the per-call constant, the
fused-runtime, int8 and pseudo-half fp16 gains, Winograd gains (on CUDA cores, not tensor cores;
on CPUs for ncnn only, the engine here that uses Winograd), the CPU thread exponent g and the
per-thread synchronisation cost s of a CPU layer's floor, ``t0 (1 + s (T - 1))``, and the floor
fraction of TensorRT launched as one CUDA graph, runtime ``tensorrt-graphs``; torch.compile's own
kernel floor on CPUs; the weights ``w_half`` at which a dense CPU layer runs at half the
efficiency of a large one, ``eta w / (w + w_half)``), fitted on the
anchors of every device in the training set by Levenberg-Marquardt on log errors, with a weak
prior that keeps parameters no anchor identifies near physically plausible values. A device with
anchors of its own can then be *personalised* (:func:`personalise`: three per-device factors on
compute, host overhead and the kernel floor, shrunk towards 1); a held-out device never is.
Torch-free, numpy only.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgesim.calibration.predictor.anchors import FUSED_RUNTIMES
from edgesim.calibration.predictor.devices import DeviceSpec, predictor_data

__all__ = ["PARAMS", "ModelCost", "load_costs", "Features", "build_features", "Fit", "fit",
           "personalise", "BYTES_SCALE", "ZOO_OPS_PATH"]

ZOO_OPS_PATH = predictor_data("zoo_ops.json")
BYTES_SCALE = {"fp32": 1.0, "tf32": 1.0, "fp16": 0.5, "int8": 0.25}
Q = 4.0                     # the smooth maximum's exponent
WINOGRAD_CPU_RUNTIMES = frozenset({"ncnn"})
_W_REF = 1e6                # weights of the "large" dense layer eta_cpu refers to
_KIND = {"mm": 0, "dw": 1, "ew": 2, "w3": 3, "ewk": 4}

# name, initial value (the prior's centre), prior sigma in log units, why that centre
PARAMS: tuple[tuple[str, float, float, str], ...] = (
    ("eta_tensor", 0.4, 1.5, "fraction of the tensor-core peak a dense conv/matmul reaches"),
    ("eta_vector", 0.5, 1.5, "fraction of the CUDA-core peak"),
    ("eta_cpu", 0.3, 1.5, "fraction of the CPU SIMD peak (im2col/GEMM or Winograd kernels)"),
    ("dw_factor", 0.2, 1.5, "depthwise efficiency relative to the GPU vector units' (no reuse)"),
    ("dw_cpu", 0.3, 1.5, "the same on CPUs (SIMD over channels, activations in cache)"),
    ("mu_gpu", 0.6, 1.0, "fraction of DRAM bandwidth streamed by GPU kernels"),
    ("mu_cpu", 0.5, 1.0, "fraction of DRAM bandwidth on CPUs (caches help small activations)"),
    ("t0_gpu", 5e-6, 1.5, "seconds: shortest GPU kernel (launch latency, one wave)"),
    ("t0_cpu", 5e-6, 1.5, "seconds: per-layer overhead of a CPU inference engine"),
    ("tau_arm", 1.5e-4, 1.5, "seconds x GHz: PyTorch dispatch of one kernel on an ARM host"),
    ("tau_x86", 1.0e-4, 1.5, "seconds x GHz: the same on an x86 host"),
    ("c0_gpu", 5e-5, 1.5, "seconds per call on a GPU (launch, synchronisation)"),
    ("fused_gain", 1.0, 1.0, "dense-kernel efficiency of fused GPU runtimes relative to eager"),
    ("int8_gain", 0.7, 1.0, "fraction of the int8 peak reached relative to fp16's fraction"),
    ("half2_gain", 0.5, 1.0, "eager fp16 on CUDA cores without tensor cores (Maxwell, Pascal): "
                             "the fraction of the 2x fp16 rate reached relative to fp32's"),
    ("t0_jetson", 2e-5, 1.5, "seconds: shortest kernel on an integrated (Jetson) GPU"),
    ("wino_cpu", 1.5, 0.7, "speed-up of 3x3 stride-1 convolutions on CPU engines (Winograd: "
                           "fewer multiplies than the direct FLOP count)"),
    ("wino_gpu", 1.0, 0.7, "the same on GPUs (cuDNN and TensorRT pick Winograd at times)"),
    ("core_scaling", 0.7, 0.5, "exponent g: n CPU threads run a batch-1 layer g-th-power as fast "
                               "as one (layers too small to split evenly over many cores)"),
    ("graph_gain", 0.5, 1.0, "kernel floor of an engine launched as one CUDA graph (TensorRT with "
                             "CUDA graphs) relative to kernel-by-kernel launches"),
    ("compile_t0", 1.0, 1.5, "torch.compile's per-kernel CPU floor relative to ncnn's (each "
                             "generated kernel is called from the Python wrapper)"),
    ("wsat_cpu", 1e4, 2.0, "weights of a dense CPU layer at which it runs at half the efficiency "
                           "of a large one: eta w / (w + w_half) (a small GEMM cannot fill the "
                           "SIMD register blocking nor amortise its packing)"),
    ("sync_cpu", 0.1, 1.5, "per-layer cost of synchronising n CPU threads, as a fraction of the "
                           "one-thread floor per extra thread: floor x (1 + s (n - 1)) (each "
                           "layer ends at a barrier of all its threads)"),
)
NAMES = [p[0] for p in PARAMS]
IDX = {n: i for i, n in enumerate(NAMES)}
# efficiencies may not exceed 1: a steep penalty past it (fused_gain and int8_gain are ratios)
_CAPPED = [IDX[n] for n in ("eta_tensor", "eta_vector", "eta_cpu", "mu_gpu", "mu_cpu")]


@dataclass(frozen=True)
class ModelCost:
    """A zoo model's kernels at batch 1 (per input) and its totals."""

    name: str
    kind: np.ndarray          # 0 mm, 1 dw, 2 ew
    flops: np.ndarray
    act_bytes: np.ndarray
    weight_bytes: np.ndarray
    count: np.ndarray
    kernels: int              # every kernel eager PyTorch launches
    weighted: int             # kernels with weights (AMP casts one weight each)
    flops_total: float
    params: int
    description: str = ""


@functools.lru_cache(maxsize=2)
def load_costs(path: Optional[str] = None) -> dict[str, ModelCost]:
    raw = json.loads(Path(path or ZOO_OPS_PATH).read_text())
    out = {}
    for name, m in raw["models"].items():
        ops = np.array([[_KIND[o[0]], o[1], o[2], o[3], o[4]] for o in m["ops"]], dtype=float)
        out[name] = ModelCost(name, ops[:, 0].astype(int), ops[:, 1], ops[:, 2], ops[:, 3],
                              ops[:, 4], int(m["kernels"]), int(m["weighted_ops"]),
                              float(m["flops"]), int(m["params"]), m.get("description", ""))
    return out


@dataclass
class Features:
    """Everything about a set of queries that does not depend on the parameters."""

    row: np.ndarray           # op -> query index
    f: np.ndarray             # FLOPs of the op for the whole batch
    peak: np.ndarray          # FLOP/s of the unit it runs on
    unit: np.ndarray          # 0 tensor, 1 vector (GPU), 2 cpu
    dw: np.ndarray            # bool: depthwise
    nbytes: np.ndarray        # bytes moved for the whole batch
    bw: np.ndarray            # bytes/s of its device
    cpu: np.ndarray           # bool per op
    fused: np.ndarray         # bool per op (GPU fused runtime)
    int8: np.ndarray          # bool per op
    half2: np.ndarray         # bool per op: fp16 on vector units
    jetson: np.ndarray        # bool per op
    n: int                    # queries
    host_k: np.ndarray        # per query: host-dispatched kernels (0 if none)
    host_clock: np.ndarray
    host_arm: np.ndarray      # bool
    gpu: np.ndarray           # bool per query
    count: np.ndarray         # per op: identical kernels merged into the row
    cores: np.ndarray         # per op: CPU cores used (1 on GPUs)
    w3: np.ndarray            # per op: 3x3 stride-1 dense convolution
    graphs: np.ndarray = None  # per op: launched as a CUDA graph
    compiled: np.ndarray = None  # per op: torch.compile on a CPU (its own kernel floor)
    wts: np.ndarray = None    # per op: weight elements of one kernel
    device: list = field(default_factory=list)


def build_features(queries: Sequence[tuple[ModelCost, DeviceSpec, str, str, int, Optional[int]]]
                   ) -> Features:
    """Features of (cost, device, runtime, precision, batch, threads) queries."""
    cols: dict[str, list] = {k: [] for k in ("row", "f", "peak", "unit", "dw", "nbytes", "bw",
                                             "cpu", "fused", "int8", "count", "half2",
                                             "jetson", "cores", "w3", "graphs", "compiled", "wts")}
    host_k, host_clock, host_arm, gpu, devs = [], [], [], [], []
    for j, (mc, dev, rt, prec, b, threads) in enumerate(queries):
        fused = rt in FUSED_RUNTIMES
        keep = mc.kind != _KIND["ew"] if fused else np.ones(len(mc.kind), dtype=bool)
        kind, cnt = mc.kind[keep], mc.count[keep]
        s = BYTES_SCALE[prec]
        p_mm, u_mm = dev.peak(prec, "mm", 1 if dev.is_cpu else threads)
        p_dw, _ = dev.peak(prec, "dw", 1 if dev.is_cpu else threads)
        used = (dev.cores if threads is None else min(int(threads), dev.cores)) if dev.is_cpu else 1
        unit_mm = {"tensor": 0, "vector": 1, "cpu": 2}[u_mm]
        is_dw = kind == 1
        # Winograd: ncnn turns it on (benchncnn: use_winograd_convolution); the other CPU
        # engines here (torch.compile's oneDNN/GEMM kernels, TFLite's XNNPACK) run 3x3 convs
        # as GEMMs, so on a CPU the gain applies to ncnn only. On a GPU cuDNN and TensorRT pick
        # Winograd kernels on the CUDA cores; on tensor cores a convolution is an implicit GEMM
        cols["w3"].append((kind == 3) & ((unit_mm == 1) if not dev.is_cpu
                                         else rt in WINOGRAD_CPU_RUNTIMES))
        cols["graphs"].append(np.full(int(keep.sum()), rt == "tensorrt-graphs"))
        cols["wts"].append(mc.weight_bytes[keep] / 4.0)
        cols["compiled"].append(np.full(int(keep.sum()), dev.is_cpu and rt == "torch-compile"))
        n_ops = int(keep.sum())
        cols["row"].append(np.full(n_ops, j))
        cols["f"].append(mc.flops[keep] * b)
        cols["peak"].append(np.where(is_dw, p_dw, p_mm))
        cols["unit"].append(np.where(is_dw, 2 if dev.is_cpu else 1, unit_mm))
        cols["dw"].append(is_dw)
        # on a CPU a layer's activations mostly stay in the caches (the CPU anchors are batch
        # 1): only the weights stream from DRAM; on a GPU both do. A limitation for CPU batches
        # whose activations outgrow the last-level cache (no cache size in the catalogue)
        acts = 0.0 if dev.is_cpu else mc.act_bytes[keep] * b
        cols["nbytes"].append(s * (acts + mc.weight_bytes[keep]))
        cols["bw"].append(np.full(n_ops, dev.bandwidth))
        cols["cpu"].append(np.full(n_ops, dev.is_cpu))
        cols["fused"].append(np.full(n_ops, fused and not dev.is_cpu))
        cols["int8"].append(np.full(n_ops, prec == "int8"))
        cols["count"].append(cnt)
        # cuDNN under eager PyTorch runs fp16 on Maxwell/Pascal CUDA cores mostly at the fp32
        # rate ("pseudo-half"); fused engines (TensorRT) use the packed half2 path
        cols["half2"].append((prec == "fp16") & (np.where(is_dw, 1, unit_mm) == 1) & (not fused))
        cols["jetson"].append(np.full(n_ops, dev.kind == "jetson"))
        cols["cores"].append(np.full(n_ops, float(used)))
        eager_gpu = (not fused) and not dev.is_cpu
        k = mc.kernels + (mc.weighted if prec == "fp16" and eager_gpu else 0)
        host_k.append(k if eager_gpu else 0)
        host_clock.append(dev.host_clock_ghz or 3.0)
        host_arm.append(dev.host_family == "arm")
        gpu.append(not dev.is_cpu)
        devs.append(dev.id)
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    feats = Features(cat["row"].astype(int), cat["f"], cat["peak"], cat["unit"].astype(int),
                     cat["dw"].astype(bool), cat["nbytes"], cat["bw"], cat["cpu"].astype(bool),
                     cat["fused"].astype(bool), cat["int8"].astype(bool),
                     cat["half2"].astype(bool), cat["jetson"].astype(bool), len(queries),
                     np.array(host_k, float), np.array(host_clock, float),
                     np.array(host_arm, bool), np.array(gpu, bool), cat["count"], cat["cores"],
                     cat["w3"].astype(bool), cat["graphs"].astype(bool),
                     cat["compiled"].astype(bool), cat["wts"], devs)
    return feats


def _smax(*xs: np.ndarray) -> np.ndarray:
    return np.power(sum(np.power(x, Q) for x in xs), 1.0 / Q)


def evaluate(theta: np.ndarray, F: Features, offsets: Optional[np.ndarray] = None
             ) -> dict[str, np.ndarray]:
    """Predicted seconds per query and their parts, for log-parameters ``theta``.

    ``offsets`` (n queries x 3): per-query log factors on compute, host and the kernel floor
    (a personalised device's)."""
    p = np.exp(theta)
    off = np.zeros((F.n, 3)) if offsets is None else offsets
    oc, oh, of = (np.exp(off[:, i]) for i in range(3))
    eta = np.choose(F.unit, [np.full(F.unit.shape, p[IDX["eta_tensor"]]),
                             np.full(F.unit.shape, p[IDX["eta_vector"]]),
                             np.full(F.unit.shape, p[IDX["eta_cpu"]])])
    eta = eta * np.where(F.dw, np.where(F.cpu, p[IDX["dw_cpu"]], p[IDX["dw_factor"]]), 1.0)
    eta = eta * np.where(F.fused & ~F.dw, p[IDX["fused_gain"]], 1.0)
    eta = eta * np.where(F.int8, p[IDX["int8_gain"]], 1.0)
    eta = eta * np.where(F.half2, p[IDX["half2_gain"]], 1.0)
    eta = eta * np.where(F.w3, np.where(F.cpu, p[IDX["wino_cpu"]], p[IDX["wino_gpu"]]), 1.0)
    # normalised at a 1M-weight layer, so eta_cpu stays the efficiency of a large layer
    dense_cpu = F.cpu & ~F.dw & (F.wts > 0)
    wsat = p[IDX["wsat_cpu"]]
    eta = eta * np.where(dense_cpu, F.wts / (F.wts + wsat) * (1.0 + wsat / _W_REF), 1.0)
    eta = eta * oc[F.row]
    compute = F.f / (eta * F.peak * np.power(F.cores, p[IDX["core_scaling"]]))
    mu = np.where(F.cpu, p[IDX["mu_cpu"]], p[IDX["mu_gpu"]])
    memory = F.nbytes / (mu * F.bw)
    floor = np.where(F.cpu, p[IDX["t0_cpu"]] * (1.0 + p[IDX["sync_cpu"]] * (F.cores - 1.0))
                     * np.where(F.compiled, p[IDX["compile_t0"]], 1.0),
                     np.where(F.jetson, p[IDX["t0_jetson"]], p[IDX["t0_gpu"]])
                     * np.where(F.graphs, p[IDX["graph_gain"]], 1.0)) * of[F.row]
    # a merged row is `count` identical kernels, each bound by its floor, compute or memory
    t = F.count * _smax(floor, compute, memory)
    dev = np.bincount(F.row, weights=t, minlength=F.n)
    tau = np.where(F.host_arm, p[IDX["tau_arm"]], p[IDX["tau_x86"]]) / F.host_clock
    host = F.host_k * tau * oh
    c0 = np.where(F.gpu, p[IDX["c0_gpu"]], 0.0) * oh
    total = np.where(host > 0, _smax(dev, host), dev) + c0
    return {"total": total, "device": dev, "host": host, "c0": c0,
            "compute": np.bincount(F.row, weights=F.count * compute, minlength=F.n),
            "memory": np.bincount(F.row, weights=F.count * memory, minlength=F.n),
            "floor": np.bincount(F.row, weights=F.count * floor, minlength=F.n)}


@dataclass
class Fit:
    theta: np.ndarray
    rms_log: float
    n: int
    iterations: int

    def params(self) -> dict[str, float]:
        return {n: float(math.exp(v)) for n, v in zip(NAMES, self.theta)}


def _lm(resid, x0: np.ndarray, iters: int = 60) -> tuple[np.ndarray, int]:
    """Levenberg-Marquardt with a forward-difference Jacobian (few parameters, smooth model)."""
    x, lam = x0.copy(), 1e-2
    r = resid(x)
    cost = float(r @ r)
    it = 0
    for it in range(1, iters + 1):
        h = 1e-5
        J = np.empty((r.size, x.size))
        for k in range(x.size):
            dx = x.copy()
            dx[k] += h
            J[:, k] = (resid(dx) - r) / h
        A, g = J.T @ J, J.T @ r
        improved = False
        for _ in range(10):
            step = np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-12), -g)
            x2 = x + step
            r2 = resid(x2)
            c2 = float(r2 @ r2)
            if c2 < cost:
                x, r, lam, improved = x2, r2, max(lam / 3, 1e-7), True
                done = cost - c2 < 1e-10 * max(cost, 1e-12)
                cost = c2
                break
            lam *= 4
        if not improved or done:
            break
    return x, it


def _prior() -> tuple[np.ndarray, np.ndarray]:
    return (np.log([p[1] for p in PARAMS]), np.array([p[2] for p in PARAMS]))


def fit(F: Features, observed_s: np.ndarray, weights: Optional[np.ndarray] = None,
        theta0: Optional[np.ndarray] = None) -> Fit:
    """Global parameters minimising the weighted squared log error on ``F`` (plus the prior)."""
    centre, sigma = _prior()
    w = np.ones(F.n) if weights is None else np.asarray(weights, float)
    lo = np.log(observed_s)

    def resid(th: np.ndarray) -> np.ndarray:
        r = w * (np.log(evaluate(th, F)["total"]) - lo)
        prior = (th - centre) / sigma
        cap = 10.0 * np.maximum(th[_CAPPED], 0.0)
        return np.concatenate([r, 0.3 * prior, cap])

    th, it = _lm(resid, centre.copy() if theta0 is None else theta0)
    err = np.log(evaluate(th, F)["total"]) - lo
    return Fit(th, float(np.sqrt(np.mean(err ** 2))), F.n, it)


def personalise(theta: np.ndarray, F: Features, observed_s: np.ndarray,
                sigma: float = 0.7) -> np.ndarray:
    """Per-device log factors (compute, host, floor) fitted on that device's own anchors, with
    the global ``theta`` fixed and a prior of ``sigma`` (log units) pulling them towards 0."""
    lo = np.log(observed_s)

    def resid(o: np.ndarray) -> np.ndarray:
        off = np.tile(o, (F.n, 1))
        return np.concatenate([np.log(evaluate(theta, F, off)["total"]) - lo, o / sigma])

    o, _ = _lm(resid, np.zeros(3), iters=40)
    return o
