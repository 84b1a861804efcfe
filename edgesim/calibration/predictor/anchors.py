"""Published anchors: measured latencies of (device, model, runtime, precision, batch, threads).

Two sources, both under ``calibration/literature/``:

* ``anchors/*.csv``: small cited tables transcribed from public benchmark pages (columns
  :data:`CSV_COLUMNS`; ``#`` lines are comments). ``latency_ms`` is the time of one batch;
  ``published`` keeps the figure as printed and ``kind`` says how one became the other (e.g.
  batch / throughput). Every row names its ``source`` (repo/path@commit or document);
* the literature *bundles* (``jetson-nano/``, ``jetson-agx-xavier/``, ``galaxy-tab-a/``), whose
  rows carry ``runtime`` (and ``precision``) in extra columns; a ``+trt`` suffix on a model key is
  the runtime, never part of the model.

Runtime and precision are first-class keys, normalised by :func:`runtime_key` and
:func:`precision_key` (``"TensorRT (torch2trt)"`` -> ``tensorrt``, ``AMP`` -> ``fp16``).
Torch-free.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

from edgesim.hardware.profiles.bundle import BundleError, load_bundles

__all__ = ["Anchor", "load_anchors", "load_anchor_csv", "load_anchor_dir", "anchors_from_bundles",
           "runtime_key", "precision_key", "MODEL_ALIASES", "RUNTIMES", "FUSED_RUNTIMES",
           "CSV_COLUMNS", "DEFAULT_LITERATURE"]

def _literature() -> Path:
    from edgesim.bundled import data_dir
    root = data_dir("calibration") or REPO_ROOT / "calibration"
    return root / "literature"


REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_LITERATURE = _literature()
CSV_COLUMNS = ("device", "model", "runtime", "precision", "batch", "threads", "latency_ms",
               "published", "kind", "source", "note")
# eager: one framework dispatch per kernel (host overhead); fused: a compiled graph whose
# element-wise kernels are folded into the convolutions and matmuls around them
RUNTIMES = {"pytorch": "eager", "tensorrt": "fused", "tensorrt-graphs": "fused",
            "onnxruntime": "fused", "ncnn": "fused",
            "tflite": "fused", "torch-compile": "fused", "openvino": "fused"}
FUSED_RUNTIMES = frozenset(k for k, v in RUNTIMES.items() if v == "fused")
_RUNTIME_ALIASES = {"torch": "pytorch", "pytorch eager": "pytorch", "eager": "pytorch",
                    "trt": "tensorrt", "torch2trt": "tensorrt", "tensorrt (torch2trt)": "tensorrt",
                    "onnx": "onnxruntime", "ort": "onnxruntime", "tensorflow lite": "tflite",
                    "tf-lite": "tflite", "inductor": "torch-compile", "dynamo": "torch-compile",
                    "torch.compile": "torch-compile"}
_PRECISION_ALIASES = {"float32": "fp32", "fp32": "fp32", "float16": "fp16", "half": "fp16",
                      "fp16": "fp16", "amp": "fp16", "mixed": "fp16", "tf32": "tf32",
                      "int8": "int8", "qint8": "int8"}
_SUFFIX = {"trt": "tensorrt"}
# torchvision spellings of published tables -> the zoo's canonical names (where they differ)
MODEL_ALIASES = {"shufflenet_v2_x0_5": "shufflenet_v2_x0.5", "shufflenet_v2_x1_0": "shufflenet_v2",
                 "shufflenet_v2_x1_5": "shufflenet_v2_x1.5", "shufflenet_v2_x2_0": "shufflenet_v2_x2",
                 "mnasnet0_5": "mnasnet_x0.5", "mnasnet0_75": "mnasnet_x0.75", "mnasnet1_0": "mnasnet",
                 "mnasnet1_3": "mnasnet_x1.3", "mobilenetv2": "mobilenet_v2"}


def runtime_key(text: str) -> str:
    """The runtime's key (``pytorch``, ``tensorrt``, ...); ValueError for an unknown one."""
    low = (text or "").strip().lower()
    key = _RUNTIME_ALIASES.get(low, low)
    if key not in RUNTIMES:
        key = next((k for k in sorted(RUNTIMES, key=len, reverse=True) if low.startswith(k)), key)
    if key not in RUNTIMES:
        raise ValueError(f"unknown runtime {text!r}; supported: {', '.join(RUNTIMES)}")
    return key


def precision_key(text: str) -> str:
    low = (text or "").strip().lower()
    if low not in _PRECISION_ALIASES:
        raise ValueError(f"unknown precision {text!r}; supported: fp32, tf32, fp16, int8")
    return _PRECISION_ALIASES[low]


@dataclass(frozen=True)
class Anchor:
    """One published batch time (``latency_ms`` is per batch of ``batch`` inputs)."""

    device: str
    model: str
    runtime: str
    precision: str
    batch: int
    latency_ms: float
    threads: Optional[int] = None
    source: str = ""
    note: str = ""

    @property
    def key(self) -> tuple:
        return (self.device, self.model, self.runtime, self.precision, self.batch, self.threads)


def _int(v: str) -> Optional[int]:
    v = (v or "").strip()
    return int(v) if v else None


def load_anchor_dir(folder: str | Path) -> list[Anchor]:
    """Every ``*.csv`` of ``folder`` (in name order), in the anchor CSV format; none if absent."""
    out: list[Anchor] = []
    for f in sorted(Path(folder).glob("*.csv")):
        out.extend(load_anchor_csv(f))
    return out


def load_anchor_csv(path: str | Path) -> list[Anchor]:
    path = Path(path)
    text = "".join(line for line in path.read_text().splitlines(keepends=True)
                   if not line.lstrip().startswith("#"))
    rows = list(csv.DictReader(io.StringIO(text)))
    out = []
    for i, r in enumerate(rows, start=1):
        missing = [c for c in ("device", "model", "runtime", "precision", "batch", "latency_ms")
                   if not (r.get(c) or "").strip()]
        if missing:
            raise ValueError(f"{path}: data row {i}: empty {', '.join(missing)}")
        model = MODEL_ALIASES.get(r["model"].strip(), r["model"].strip())
        out.append(Anchor(r["device"].strip(), model, runtime_key(r["runtime"]),
                          precision_key(r["precision"]), int(r["batch"]), float(r["latency_ms"]),
                          _int(r.get("threads", "")), (r.get("source") or "").strip(),
                          (r.get("note") or "").strip()))
    return out


# what the literature bundles do not state (precision of the TFLite tablet rows, threads)
_BUNDLE_DEFAULTS = {"tflite": ("fp32", 1)}


def anchors_from_bundles(paths: Iterable[str | Path]) -> list[Anchor]:
    """Anchors from literature bundles whose rows carry a ``runtime`` column."""
    out = []
    for dev, bundles in load_bundles(list(paths)).items():
        for b in bundles:
            if b.provenance != "literature" or "runtime" not in b.table.columns:
                continue
            for r in b.table.itertuples(index=False):
                if r.phase != "infer":
                    continue
                model, _, suffix = str(r.model).partition("+")
                rt = runtime_key(_SUFFIX.get(suffix, suffix) or str(r.runtime))
                prec_txt = str(getattr(r, "precision", "") or "")
                prec, threads = _BUNDLE_DEFAULTS.get(rt, ("fp32", None))
                if prec_txt and prec_txt.lower() not in ("nan", "none"):
                    prec = precision_key(prec_txt)
                src = str(getattr(r, "source", "") or b.meta.get("notes", "")[:80])
                model = MODEL_ALIASES.get(model, model)
                out.append(Anchor(dev, model, rt, prec, int(r.batch), float(r.median_ms), threads,
                                  f"{b.path.name}: {src}"))
    return out


def load_anchors(literature: str | Path = DEFAULT_LITERATURE,
                 exclude_devices: Sequence[str] = ()) -> list[Anchor]:
    """Every shipped anchor: the CSV tables under ``literature/anchors`` and the literature
    bundles under ``literature``, duplicates (same key) kept once (the first)."""
    lit = Path(literature)
    rows = load_anchor_dir(lit / "anchors")
    try:
        rows.extend(anchors_from_bundles([lit]))
    except BundleError:
        pass   # a folder of CSV tables only
    seen, out = set(), []
    for a in rows:
        if a.key in seen or a.device in exclude_devices:
            continue
        seen.add(a.key)
        out.append(a)
    return out
