"""The predictor's device catalogue: spec-sheet figures of the devices users own.

Read from ``calibration/predictor/devices.yaml`` (beside the package in a checkout, under
``<prefix>/share/edgesim`` after a wheel install: :func:`edgesim.bundled.data_dir`) (each entry cites its data sheet in
``source``; the file's header explains the fields). A :class:`DeviceSpec` gives the peak rate a
kernel can reach for a precision and a kind of kernel (:meth:`DeviceSpec.peak`), the memory
bandwidth and, for GPUs, the host CPU that dispatches the kernels. :func:`get_device` raises
:class:`UnknownDeviceError`, listing the nearest known ids, for a name it does not know: the
predictor never guesses a device.

This module does not import torch.
"""
from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import yaml

__all__ = ["DeviceSpec", "UnknownDeviceError", "UnsupportedPrecisionError", "load_catalogue",
           "get_device", "suggest", "CATALOGUE_PATH", "PRECISIONS", "predictor_data"]

def predictor_data(name: str) -> Path:
    """A file of ``calibration/predictor/`` (the catalogue, the zoo's kernel table)."""
    from edgesim.bundled import data_dir
    root = data_dir("calibration") or Path(__file__).resolve().parents[3] / "calibration"
    return root / "predictor" / name


CATALOGUE_PATH = predictor_data("devices.yaml")
PRECISIONS = ("fp32", "tf32", "fp16", "int8")
_T = 1e12


class UnknownDeviceError(LookupError):
    """A device id the catalogue does not have (the message lists the nearest ones)."""


class UnsupportedPrecisionError(ValueError):
    """The device has no published rate for that precision."""


def suggest(name: str, have: list[str], what: str, n: int = 4) -> str:
    """"unknown <what> 'x'; nearest: a, b, c (all: ...)": the message of every lookup error."""
    close = difflib.get_close_matches(name, have, n=n, cutoff=0.3)
    if not close:   # fall back to a shared prefix ("jetson-" for "jetson-orin-agx")
        head = name.split("-")[0].split("_")[0]
        close = [h for h in have if h.startswith(head)][:n]
    return (f"unknown {what} {name!r}; nearest supported: {', '.join(close) or '(none close)'} "
            f"(all {len(have)}: {', '.join(sorted(have))})")


@dataclass(frozen=True)
class DeviceSpec:
    """One catalogue entry; rates in FLOP/s, bandwidth in bytes/s."""

    id: str
    name: str
    kind: str                                   # jetson | gpu | cpu
    bandwidth: float
    source: str
    vector: Mapping[str, float] = field(default_factory=dict)   # FLOP/s per precision (GPU)
    tensor: Mapping[str, float] = field(default_factory=dict)
    tdp_w: Optional[float] = None
    host_family: Optional[str] = None           # arm | x86 (GPUs)
    host_clock_ghz: Optional[float] = None
    host_cpu: str = ""
    cores: Optional[int] = None                 # CPUs
    flop_per_cycle: Optional[float] = None
    clock_ghz: Optional[float] = None
    fp16_simd: bool = False                     # CPUs: FP16 vector arithmetic (ARMv8.2-A FP16)

    @property
    def is_cpu(self) -> bool:
        return self.kind == "cpu"

    def precisions(self) -> list[str]:
        if self.is_cpu:
            return ["fp32", "fp16"] if self.fp16_simd else ["fp32"]
        have = set(self.vector) | set(self.tensor)
        return [p for p in PRECISIONS if p in have]

    def cpu_peak(self, threads: Optional[int]) -> float:
        used = self.cores if threads is None else max(1, min(int(threads), int(self.cores)))
        return float(used * self.flop_per_cycle * self.clock_ghz * 1e9)

    def peak(self, precision: str, unit: str, threads: Optional[int] = None) -> tuple[float, str]:
        """(FLOP/s, where) for ``unit`` 'mm' (dense: tensor cores where the precision has them)
        or 'dw' (vector units: grouped convolutions cannot use tensor cores). 'where' is
        'tensor', 'vector' or 'cpu'."""
        if precision not in PRECISIONS:
            raise UnsupportedPrecisionError(f"precision must be one of {', '.join(PRECISIONS)}, "
                                            f"not {precision!r}")
        if self.is_cpu:
            if precision == "fp16" and self.fp16_simd:    # twice the lanes per vector
                return 2.0 * self.cpu_peak(threads), "cpu"
            if precision != "fp32":
                raise UnsupportedPrecisionError(
                    f"{self.id}: no {precision} rate for this CPU in the catalogue; supported: "
                    f"{', '.join(self.precisions())}")
            return self.cpu_peak(threads), "cpu"
        p = "fp32" if precision == "tf32" and "tf32" not in self.tensor else precision
        if unit == "mm" and p in self.tensor:
            return self.tensor[p], "tensor"
        if p in self.vector:
            return self.vector[p], "vector"
        if unit == "dw" and p in self.tensor and "fp16" in self.vector:
            return self.vector["fp16"], "vector"    # int8 depthwise runs on the fp16 path
        raise UnsupportedPrecisionError(
            f"{self.id} has no published {precision} rate (supported: "
            f"{', '.join(self.precisions())})")


def _entry(key: str, e: Mapping) -> DeviceSpec:
    host = e.get("host") or {}
    return DeviceSpec(
        id=key, name=e["name"], kind=e["kind"], bandwidth=float(e["bandwidth"]) * 1e9,
        source=e["source"], vector={k: float(v) * _T for k, v in (e.get("vector") or {}).items()},
        tensor={k: float(v) * _T for k, v in (e.get("tensor") or {}).items()},
        tdp_w=e.get("tdp_w"), host_family=host.get("family"), host_clock_ghz=host.get("clock_ghz"),
        host_cpu=host.get("cpu", ""), cores=e.get("cores"), flop_per_cycle=e.get("flop_per_cycle"),
        clock_ghz=e.get("clock_ghz"), fp16_simd=bool(e.get("fp16_simd", False)))


@functools.lru_cache(maxsize=4)
def load_catalogue(path: Optional[str] = None) -> dict[str, DeviceSpec]:
    """Every entry of the catalogue file (default: the shipped one), by id."""
    raw = yaml.safe_load(Path(path or CATALOGUE_PATH).read_text())
    out = {}
    for key, e in raw["devices"].items():
        spec = _entry(key, e)
        if spec.kind not in ("jetson", "gpu", "cpu"):
            raise ValueError(f"{path or CATALOGUE_PATH}: {key}: kind must be jetson, gpu or cpu")
        out[key] = spec
    return out


def get_device(name: str, catalogue: Optional[Mapping[str, DeviceSpec]] = None) -> DeviceSpec:
    cat = load_catalogue() if catalogue is None else catalogue
    if name not in cat:
        raise UnknownDeviceError(suggest(name, list(cat), "device"))
    return cat[name]
