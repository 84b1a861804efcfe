"""Names shared by :mod:`edgesim.hardware.profiles.predictor` and its transfer half
(:mod:`edgesim.hardware.profiles.predictor_transfer`): the errors, :class:`Prediction`, the runtime
variant suffix and small helpers. Split out so that neither module imports the other at import
time; everything here is re-exported by ``predictor``. Torch-free.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import pandas as pd

PROVENANCES = ("measured", "interpolated", "extrapolated", "transferred", "literature")
BYTES_PER_INPUT_ELEMENT = 4
_RANK = {"measured": 0, "literature": 1, "transferred": 2}


class PredictionError(LookupError):
    """The predictor cannot answer (unknown model or device, nothing to transfer from)."""


class ExtrapolationError(PredictionError, ValueError):
    """The batch lies outside the measured range and extrapolation was not allowed."""


class TransferError(PredictionError):
    """A roofline transfer is impossible (no anchors, no FLOPs, no catalogue peaks)."""


@dataclass(frozen=True)
class Prediction:
    """A predicted batch service time (seconds) and where it came from."""

    median_s: float
    p10_s: Optional[float]
    p90_s: Optional[float]
    p99_s: Optional[float]
    provenance: str          # measured | interpolated | extrapolated | transferred | literature
    source: str              # bundle path + how
    warning: Optional[str] = None


VARIANT_SEP = "+"   # "resnet18+trt": resnet18 run by TensorRT ("@" is the zoo's input-size mark)


def _variant(model: str) -> str:
    return model.split(VARIANT_SEP, 1)[1] if VARIANT_SEP in model else ""


def _base(model: str) -> str:
    return model.split(VARIANT_SEP, 1)[0]


def _nan(v: float) -> bool:
    return v != v


def _suggest(name: str, have: Iterable[str]) -> str:
    have = sorted(set(have))
    close = difflib.get_close_matches(name, have, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; have: {', '.join(have) if have else '(none)'}"



def _kernels_cell(v: Any) -> Optional[float]:
    """A ``kernels`` cell (text in an extra column) as a number; None when empty or not a count."""
    if v is None or v is pd.NA:
        return None
    try:
        k = float(v)
    except (TypeError, ValueError):
        return None
    return k if math.isfinite(k) and k >= 0 else None
