"""Built-in device catalogue: what a scenario can name without defining it.

Peak figures are the vendors' published numbers (FP32 unless noted); the calibration issue
uses them to transfer measured profiles between devices by a roofline model.
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
    peak_flops: Optional[float] = None       # FLOP/s
    mem_bandwidth: Optional[float] = None    # bytes/s
    source: str = ""

    def with_overrides(self, **kw) -> "DeviceInfo":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


_T, _G = 1e12, 1e9
CATALOGUE: dict[str, DeviceInfo] = {d.name: d for d in [
    DeviceInfo("cpu", "cpu", 1, "a generic single-executor CPU server"),
    DeviceInfo("jetson-tx1", "accelerator", 1, "NVIDIA Jetson TX1 (Maxwell, 256 CUDA cores)",
               0.512 * _T, 25.6 * _G, "NVIDIA Jetson TX1 module data sheet (FP16 1 TFLOPS)"),
    DeviceInfo("jetson-tx2", "accelerator", 1, "NVIDIA Jetson TX2 (Pascal, 256 CUDA cores)",
               0.665 * _T, 59.7 * _G, "NVIDIA Jetson TX2 module data sheet"),
    DeviceInfo("jetson-nano", "accelerator", 1, "NVIDIA Jetson Nano (Maxwell, 128 CUDA cores)",
               0.236 * _T, 25.6 * _G, "NVIDIA Jetson Nano data sheet (FP16 472 GFLOPS)"),
    DeviceInfo("jetson-xavier-nx", "accelerator", 1, "NVIDIA Jetson Xavier NX (Volta, 384 cores)",
               0.845 * _T, 59.7 * _G, "NVIDIA Jetson Xavier NX data sheet"),
    DeviceInfo("jetson-agx-xavier", "accelerator", 1, "NVIDIA Jetson AGX Xavier (Volta, 512 cores)",
               1.41 * _T, 136.5 * _G, "NVIDIA Jetson AGX Xavier data sheet"),
    DeviceInfo("jetson-agx-orin", "accelerator", 1, "NVIDIA Jetson AGX Orin 64GB (Ampere)",
               5.32 * _T, 204.8 * _G, "NVIDIA Jetson AGX Orin data sheet"),
    DeviceInfo("titan-x", "gpu", 1, "NVIDIA Titan X (Pascal)", 10.97 * _T, 480 * _G,
               "NVIDIA TITAN X (Pascal) specifications"),
    DeviceInfo("v100", "gpu", 1, "NVIDIA V100 SXM2 16GB", 15.7 * _T, 900 * _G,
               "NVIDIA V100 data sheet"),
    DeviceInfo("t4", "gpu", 1, "NVIDIA T4", 8.1 * _T, 320 * _G, "NVIDIA T4 data sheet"),
    DeviceInfo("a100", "gpu", 1, "NVIDIA A100 SXM4 40GB", 19.5 * _T, 1555 * _G,
               "NVIDIA A100 data sheet"),
    DeviceInfo("h100", "gpu", 1, "NVIDIA H100 SXM5", 66.9 * _T, 3350 * _G,
               "NVIDIA H100 data sheet"),
    DeviceInfo("galaxy-tab-a", "phone", 1, "Samsung Galaxy Tab A (Snapdragon 429 class CPU)",
               None, None, "VP paper Table VII device"),
]}
