"""Built-in device catalogue: what a scenario can name without defining it.

Every entry carries the vendor's published peak arithmetic rate and memory bandwidth, with the
data sheet it comes from in ``source``:

* ``peak_flops`` is the **FP32** peak (FLOP/s, one fused multiply-add = 2 FLOP) of the device's
  general-purpose units (CUDA cores, CPU SIMD units). It is the figure the calibration predictor
  uses for roofline transfer, on every device alike, so fitted efficiencies are comparable; a
  device that runs FP16 (TensorRT on a Jetson) then simply shows an efficiency above what FP32
  would allow (possibly > 1).
* ``peak_flops_fp16`` is the best published dense **FP16** figure (tensor cores where the device
  has them, CUDA cores at twice the FP32 rate otherwise), for information; None where unknown.
* ``mem_bandwidth`` is the peak DRAM bandwidth in **bytes/s**.

Figures marked "estimated" in ``source`` are not on a data sheet but derived (cores x FLOP per
cycle x clock); treat them as order-of-magnitude.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    kind: str
    executors: int = 1
    description: str = ""
    peak_flops: Optional[float] = None       # FLOP/s, FP32 (the figure used for transfer)
    mem_bandwidth: Optional[float] = None    # bytes/s
    source: str = ""
    peak_flops_fp16: Optional[float] = None  # FLOP/s, FP16 (dense; tensor cores where present)

    def with_overrides(self, **kw) -> "DeviceInfo":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


_T, _G = 1e12, 1e9

# The reference CPU the profiler measures on is described at profile time (its /proc/cpuinfo model
# name goes into the bundle's fingerprint); this entry is a generic stand-in: 2 x86-64 cores with
# AVX2, each retiring 2 FMA per cycle on 8 FP32 lanes (2 x 8 x 2 = 32 FLOP/cycle), at 2.5 GHz.
_CPU_REF_CORES, _CPU_REF_FLOP_PER_CYCLE, _CPU_REF_CLOCK = 2, 32, 2.5e9

CATALOGUE: dict[str, DeviceInfo] = {d.name: d for d in [
    DeviceInfo("cpu", "cpu", 1, "a generic single-executor CPU server"),
    DeviceInfo("cpu-reference", "cpu", 1,
               "generic 2-core x86-64 AVX2 CPU (stand-in for the profiler's reference machine)",
               _CPU_REF_CORES * _CPU_REF_FLOP_PER_CYCLE * _CPU_REF_CLOCK, 25.6 * _G,
               "estimated: 2 cores x 32 FP32 FLOP/cycle (2 AVX2 FMA units x 8 lanes x 2) x 2.5 GHz "
               "= 160 GFLOP/s; memory one DDR4-3200 channel (25.6 GB/s); the measured machine is "
               "named in the bundle fingerprint; no native FP16 arithmetic", None),
    DeviceInfo("jetson-tx1", "accelerator", 1, "NVIDIA Jetson TX1 (Maxwell, 256 CUDA cores)",
               0.512 * _T, 25.6 * _G,
               "NVIDIA Jetson TX1 module data sheet: 256 CUDA cores at 998 MHz, FP32 0.51 TFLOPS, "
               "FP16 1 TFLOPS, 64-bit LPDDR4 25.6 GB/s", 1.024 * _T),
    DeviceInfo("jetson-tx2", "accelerator", 1, "NVIDIA Jetson TX2 (Pascal, 256 CUDA cores)",
               0.665 * _T, 59.7 * _G,
               "NVIDIA Jetson TX2 module data sheet: 256 CUDA cores at 1.3 GHz, FP32 0.67 TFLOPS, "
               "FP16 1.33 TFLOPS, 128-bit LPDDR4 59.7 GB/s", 1.33 * _T),
    DeviceInfo("jetson-nano", "accelerator", 1, "NVIDIA Jetson Nano (Maxwell, 128 CUDA cores)",
               0.236 * _T, 25.6 * _G,
               "NVIDIA Jetson Nano module data sheet: 128 CUDA cores at 921.6 MHz, FP16 472 GFLOPS "
               "(FP32 236 GFLOPS), 64-bit LPDDR4 25.6 GB/s", 0.472 * _T),
    DeviceInfo("jetson-xavier-nx", "accelerator", 1, "NVIDIA Jetson Xavier NX (Volta, 384 cores)",
               0.845 * _T, 59.7 * _G,
               "NVIDIA Jetson Xavier NX module data sheet: 384 CUDA cores + 48 tensor cores at "
               "1.1 GHz (FP32 0.85 TFLOPS, FP16 CUDA-core 1.69 TFLOPS), 128-bit LPDDR4x 59.7 GB/s",
               1.69 * _T),
    DeviceInfo("jetson-agx-xavier", "accelerator", 1, "NVIDIA Jetson AGX Xavier (Volta, 512 cores)",
               1.41 * _T, 136.5 * _G,
               "NVIDIA Jetson AGX Xavier module data sheet: 512 CUDA cores + 64 tensor cores at "
               "1.377 GHz (FP32 1.41 TFLOPS, FP16 tensor 11 TFLOPS), 256-bit LPDDR4x 136.5 GB/s",
               11.0 * _T),
    DeviceInfo("jetson-agx-orin", "accelerator", 1, "NVIDIA Jetson AGX Orin 64GB (Ampere)",
               5.32 * _T, 204.8 * _G,
               "NVIDIA Jetson AGX Orin series data sheet: 2048 CUDA cores at 1.3 GHz (FP32 5.32 "
               "TFLOPS, FP16 CUDA-core 10.6 TFLOPS), 256-bit LPDDR5 204.8 GB/s", 10.6 * _T),
    DeviceInfo("titan-x", "gpu", 1, "NVIDIA Titan X (Pascal)", 10.97 * _T, 480 * _G,
               "NVIDIA TITAN X (Pascal) specifications: 3584 CUDA cores at 1.531 GHz boost, FP32 "
               "10.97 TFLOPS (FP16 runs at 1/64 rate on GP102), 480 GB/s GDDR5X", 0.171 * _T),
    DeviceInfo("v100", "gpu", 1, "NVIDIA V100 SXM2 16GB", 15.7 * _T, 900 * _G,
               "NVIDIA Tesla V100 data sheet (SXM2): FP32 15.7 TFLOPS, FP16 tensor 125 TFLOPS, "
               "HBM2 900 GB/s", 125.0 * _T),
    DeviceInfo("t4", "gpu", 1, "NVIDIA T4", 8.1 * _T, 320 * _G,
               "NVIDIA T4 data sheet: FP32 8.1 TFLOPS, FP16 tensor (mixed) 65 TFLOPS, GDDR6 "
               "320 GB/s", 65.0 * _T),
    DeviceInfo("a100", "gpu", 1, "NVIDIA A100 SXM4 40GB", 19.5 * _T, 1555 * _G,
               "NVIDIA A100 data sheet (SXM4 40GB): FP32 19.5 TFLOPS, FP16 tensor 312 TFLOPS "
               "(dense), HBM2 1555 GB/s", 312.0 * _T),
    DeviceInfo("h100", "gpu", 1, "NVIDIA H100 SXM5", 66.9 * _T, 3350 * _G,
               "NVIDIA H100 data sheet (SXM5): FP32 67 TFLOPS, FP16 tensor 989 TFLOPS (dense; "
               "1979 with sparsity), HBM3 3.35 TB/s", 989.4 * _T),
    DeviceInfo("galaxy-tab-a", "phone", 1, "Samsung Galaxy Tab A (Snapdragon 429 class CPU)",
               62.4 * _G, 7.46 * _G,
               "VP paper Table VII device; estimated from the Qualcomm Snapdragon 429 "
               "specification: 4 Cortex-A53 cores at 1.95 GHz x 8 FP32 FLOP/cycle (NEON FMA) = "
               "62.4 GFLOP/s, single-channel 32-bit LPDDR3-1866 = 7.46 GB/s", None),
]}
