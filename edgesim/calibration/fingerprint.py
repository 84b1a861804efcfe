"""What machine a calibration was measured on: software versions, CPU, GPU, Jetson power mode and
whether the clocks were locked.

Every probe is optional and failure-tolerant: a file that is missing, a tool that is not installed
or not allowed (``jetson_clocks --show`` wants root), a torch without CUDA, all give ``None`` and
never an exception, so the same code runs on a Jetson with JetPack's torch, on a CUDA server and
on a laptop. The result is plain JSON data (str, int, float, bool, None, lists and dicts).

Clock locking matters because a governor that ramps the frequency up and down makes latencies
depend on what ran just before; ``fingerprint()["clocks"]["locked"]`` is True, False or None
(cannot tell), and ``fingerprint()["warnings"]`` says what to do about it.
"""
from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import subprocess
from typing import Any, Optional

__all__ = ["fingerprint", "device_id", "clock_state", "cpu_model"]

_TIMEOUT_S = 5.0


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace").replace("\x00", "").strip()
    except OSError:
        return None


def _run(argv: list) -> Optional[str]:
    """stdout of a command, or None when it is absent, fails or hangs."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def cpu_model() -> Optional[str]:
    """The CPU's marketing name from /proc/cpuinfo (x86 'model name'; ARM 'Hardware'/'Model')."""
    text = _read("/proc/cpuinfo")
    if text:
        for key in ("model name", "Hardware", "Model", "cpu model", "Processor"):
            m = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
            if m and m.group(1).strip():
                return m.group(1).strip()
    return platform.processor() or None


def _cpu_parts() -> Optional[int]:
    text = _read("/proc/cpuinfo")
    if not text:
        return None
    ids = set(re.findall(r"^physical id\s*:\s*(\d+)", text, re.MULTILINE))
    return len(ids) or None


def _jetson_model() -> Optional[str]:
    model = _read("/proc/device-tree/model")
    return model or None


def _nvpmodel() -> Optional[str]:
    out = _run(["nvpmodel", "-q"])
    if not out:
        return None
    # "NV Power Mode: MAXN\n0" -> "MAXN (0)"
    m = re.search(r"NV Power Mode:\s*(\S+)", out)
    mode = re.findall(r"^\s*(\d+)\s*$", out, re.MULTILINE)
    if m:
        return f"{m.group(1)} ({mode[-1]})" if mode else m.group(1)
    return out.splitlines()[0]


def _jetson_clocks() -> Optional[dict]:
    """jetson_clocks --show: locked when every CPU and the GPU run with MinFreq == MaxFreq."""
    out = _run(["jetson_clocks", "--show"])
    if not out:
        return None
    pairs = re.findall(r"MinFreq=(\d+)\s+MaxFreq=(\d+)", out)
    if not pairs:
        return {"locked": None, "method": "jetson_clocks --show", "detail": "unparsed output"}
    unlocked = sum(1 for lo, hi in pairs if lo != hi)
    return {"locked": unlocked == 0, "method": "jetson_clocks --show",
            "detail": f"{len(pairs) - unlocked}/{len(pairs)} clock domains with MinFreq == MaxFreq"}


def _nvidia_smi_clocks() -> Optional[dict]:
    """Current vs maximum SM clock of GPU 0; locked when the current clock is within 5 % of max."""
    out = _run(["nvidia-smi", "--query-gpu=clocks.sm,clocks.max.sm", "--format=csv,noheader,nounits"])
    if not out:
        return None
    try:
        cur, top = (float(x) for x in out.splitlines()[0].split(","))
    except ValueError:
        return {"locked": None, "method": "nvidia-smi", "detail": f"unparsed output {out!r}"}
    return {"locked": bool(top > 0 and cur >= 0.95 * top), "method": "nvidia-smi",
            "detail": f"SM clock {cur:.0f} MHz of max {top:.0f} MHz", "sm_mhz": cur, "sm_max_mhz": top}


def _cpufreq() -> Optional[dict]:
    """cpufreq governors: locked when every CPU uses 'performance' or has min == max frequency."""
    govs: dict = {}
    fixed = 0
    cpus = sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq"))
    for d in cpus:
        g = _read(os.path.join(d, "scaling_governor"))
        if g:
            govs[g] = govs.get(g, 0) + 1
        lo, hi = _read(os.path.join(d, "scaling_min_freq")), _read(os.path.join(d, "scaling_max_freq"))
        if lo and hi and lo == hi:
            fixed += 1
    if not cpus or not govs:
        return None
    locked = set(govs) == {"performance"} or fixed == len(cpus)
    detail = ", ".join(f"{n} x {g}" for g, n in sorted(govs.items()))
    return {"locked": locked, "method": "cpufreq governor", "detail": detail}


def clock_state(device: str = "cpu") -> dict:
    """{"locked": True/False/None, "method": how it was decided, "detail": what was seen}."""
    probes = [_jetson_clocks]
    probes += [_nvidia_smi_clocks, _cpufreq] if device == "cuda" else [_cpufreq]
    for probe in probes:
        try:
            found = probe()
        except Exception:  # a probe must never break a calibration run
            found = None
        if found is not None:
            return found
    return {"locked": None, "method": None,
            "detail": "no cpufreq, jetson_clocks or nvidia-smi information (a VM or container?)"}


def _torch_part(device: str) -> dict:
    out: dict = {"torch": None, "cuda": None, "cudnn": None, "torch_threads": None,
                 "torch_interop_threads": None, "cuda_available": False, "gpu": None}
    try:
        import torch
    except Exception:
        return out
    out["torch"] = str(torch.__version__)
    out["cuda"] = getattr(torch.version, "cuda", None)
    try:
        out["torch_threads"] = int(torch.get_num_threads())
        out["torch_interop_threads"] = int(torch.get_num_interop_threads())
    except Exception:
        pass
    try:
        out["cuda_available"] = bool(torch.cuda.is_available())
    except Exception:
        out["cuda_available"] = False
    if out["cuda_available"]:
        try:
            v = torch.backends.cudnn.version()
            out["cudnn"] = int(v) if v is not None else None
        except Exception:
            pass
        try:
            idx = torch.cuda.current_device()
            props = torch.cuda.get_device_properties(idx)
            out["gpu"] = {"name": str(props.name), "capability": f"{props.major}.{props.minor}",
                          "memory_gib": round(props.total_memory / 2 ** 30, 2),
                          "multiprocessors": int(props.multi_processor_count),
                          "count": int(torch.cuda.device_count())}
        except Exception:
            pass
    return out


def fingerprint(device: str = "cpu") -> dict:
    """Describe this machine for a calibration bundle's meta.json (JSON-serialisable).

    ``device`` is the device the profile runs on ("cpu" or "cuda"): it chooses which clocks
    matter. Keys: device, platform, machine, python, torch, cuda, cudnn, cuda_available, gpu,
    cpu_model, cpu_sockets, logical_cores, usable_cores, torch_threads, torch_interop_threads,
    jetson_model, nvpmodel, clocks {locked, method, detail}, warnings [str].
    """
    fp: dict[str, Any] = {"device": device, "platform": platform.platform(),
                          "machine": platform.machine(), "python": platform.python_version()}
    fp.update(_torch_part(device))
    fp["cpu_model"] = cpu_model()
    fp["cpu_sockets"] = _cpu_parts()
    fp["logical_cores"] = os.cpu_count()
    try:
        fp["usable_cores"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        fp["usable_cores"] = fp["logical_cores"]
    fp["jetson_model"] = _jetson_model()
    fp["nvpmodel"] = _nvpmodel()
    fp["clocks"] = clock_state(device)
    warnings = []
    locked = fp["clocks"]["locked"]
    if locked is False:
        hint = ("sudo jetson_clocks" if fp["jetson_model"] else
                "nvidia-smi --lock-gpu-clocks=<max>" if device == "cuda" else
                "cpupower frequency-set -g performance")
        warnings.append(f"clocks are not locked ({fp['clocks']['detail']}): latencies will drift "
                        f"with the governor; lock them first ({hint})")
    elif locked is None:
        warnings.append("cannot tell whether clocks are locked "
                        f"({fp['clocks']['detail']}); treat the figures as approximate")
    if device == "cuda" and not fp["cuda_available"]:
        warnings.append("device 'cuda' asked for but torch reports no CUDA device")
    fp["warnings"] = warnings
    return fp


def _slug(text: str) -> str:
    s = re.sub(r"\(r\)|\(tm\)|cpu @.*$|processor", "", text.lower())
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s[:40].strip("-") or "unknown"


def device_id(fp: dict, threads: Optional[int] = None) -> str:
    """A folder name for the bundle: 'jetson-<model>', 'cuda-<gpu>' or 'cpu-<cpu>-t<threads>'."""
    if fp.get("jetson_model"):
        base = _slug(fp["jetson_model"])
        base = base if base.startswith("nvidia-jetson") or base.startswith("jetson") else f"jetson-{base}"
        return base.replace("nvidia-", "", 1) + (f"-{fp['device']}" if fp.get("device") == "cpu" else "")
    if fp.get("device") == "cuda" and fp.get("gpu"):
        return "cuda-" + _slug(fp["gpu"]["name"].replace("NVIDIA ", ""))
    t = threads if threads is not None else fp.get("torch_threads")
    return f"cpu-{_slug(fp.get('cpu_model') or platform.machine() or 'unknown')}" + (f"-t{t}" if t else "")
