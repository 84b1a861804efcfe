"""Service-time specifications of the scenario file (the ``dist:`` of a service), and the
calibration bundles they read: part of :mod:`edgesim.scenario.schema`, which re-exports them."""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, model_validator

from edgesim.scenario.strict import Strict
from edgesim.scenario.types import Duration

__all__ = ["Constant", "Exponential", "Lognormal", "Empirical", "Profile", "Calibrated",
           "ServiceSpec", "CalibrationSpec"]


class _Batching(Strict):
    batch_cost: float = Field(1.0, ge=0, description="time at batch b = time(1) * "
                                                     "(1 + batch_cost * (b - 1))")


class Constant(_Batching):
    dist: Literal["constant"]
    time: Duration = Field(gt=0)


class Exponential(_Batching):
    dist: Literal["exponential"]
    mean: Duration = Field(gt=0)


class Lognormal(_Batching):
    dist: Literal["lognormal"]
    mean: Duration = Field(gt=0)
    # Past cv 1e154 log(1 + cv^2) overflows and every draw is NaN; past 100 a lognormal is a
    # point mass near 0 with rare astronomic draws, which no measured service time resembles.
    cv: float = Field(gt=0, le=100, description="coefficient of variation, std / mean (at most 100)")


class Empirical(_Batching):
    dist: Literal["empirical"]
    samples: Optional[list[Duration]] = Field(None, min_length=1)
    file: Optional[str] = Field(None, description="CSV of samples, relative to the scenario")
    column: Optional[Union[str, int]] = None
    unit: Literal["s", "ms", "us"] = "s"

    @model_validator(mode="after")
    def _one_source(self) -> "Empirical":
        if (self.samples is None) == (self.file is None):
            raise ValueError("give exactly one of 'samples' or 'file'")
        return self


class Profile(Strict):
    dist: Literal["profile"]
    file: str = Field(description="CSV with model, batch, median_ms[, p90_ms, ...]")
    model: Optional[str] = Field(None, description="row filter; default: the model's name")
    spread: Literal["lognormal", "none"] = Field(
        "lognormal", description="lognormal through median and p90, or the median exactly")


class Calibrated(Strict):
    """Service times predicted from calibration bundles (profiles of real PyTorch kernels)."""

    dist: Literal["calibrated"]
    bundle: Optional[Union[str, list[str]]] = Field(
        None, description="bundle folder(s); default: calibration.bundles")
    device: Optional[str] = Field(None, description="device id in the bundles; default: the "
                                                    "node's device")
    model: Optional[str] = Field(None, description="model name in the bundles; default: the "
                                                   "service key")
    phase: Literal["infer", "train"] = "infer"
    spread: Literal["quantiles", "lognormal", "none"] = Field(
        "quantiles", description="inverse CDF through the measured quantiles, a lognormal "
                                 "through median and p90, or the median exactly")
    extrapolate: bool = Field(False, description="allow batches beyond the measured range "
                                                 "(with a warning)")
    mode: Literal["backtoback", "served"] = Field(
        "backtoback", description="backtoback: the profile's quantiles (calls timed back to "
        "back); served: the bundle's served-mode calls (`edgesim calibrate served`): slower "
        "after idle gaps, correlated in time")
    order: Literal["replay", "ar1", "iid"] = Field(
        "replay", description="served mode: how successive calls' residuals follow each other "
        "(replay the measured series, a Gaussian AR(1) copula, or independent)")


ServiceSpec = Annotated[Union[Constant, Exponential, Lognormal, Empirical, Profile, Calibrated],
                        Field(discriminator="dist")]


class CalibrationSpec(Strict):
    bundles: list[str] = Field(default_factory=list, description="bundle folders (or parents "
                               "of bundle folders) relative to the scenario file, or names of "
                               "bundled ones such as 'literature' or 'cpu-reference'")


