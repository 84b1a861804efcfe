"""Fit the synthetic camera traces' cross-camera skew and day shape to real road counts.

The file is Telraam's hourly counts of road users per road segment (Châteaubourg, 2022; see
``telraamStats_data-details_origin.Rmd`` beside it). Each segment stands for one camera: a
Telraam sensor is a camera counting the road users it sees, the quantity a Distream camera's
ROI count follows.

The model fitted is the generator's (``edgesim.video.synthetic.generate``): camera s's mean at
hour h is ``m_s * d_h``, one day shape ``d`` shared by every camera, and the skew is the
standard deviation of ``log m_s`` over cameras. :func:`fit` takes the mean count of every
(segment, hour of day) over the hours the sensor counted for at least ``min_uptime`` of the
hour (Telraam's sensors count only in daylight: night hours are missing, not zero), keeps the
hours of day observed at least ``min_hours`` times on every segment, and fits ``log T[s, h] =
a_s + c_h`` by least squares (with one row per segment and one column per hour this is the
row and column means of ``log T``). Then

* ``skew`` is the sample standard deviation of ``a_s`` (ddof = 1: an estimate of the
  population's, from few segments), with a 95% interval from the chi-square law of the
  sample variance of normal values (``n - 1`` degrees of freedom);
* ``hourly`` is ``exp(c_h)`` scaled to a maximum of 1, for the observed hours (None for the
  others);
* the goodness of fit: the share of the variance of ``log T`` that the additive model explains
  (``r2``), the standard deviation of its residuals (``resid_sd``, in log units), and the
  correlation of the segments' day shapes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Union

import numpy as np

__all__ = ["MODES", "load", "fit"]

MODES = ("car", "heavy", "bike", "pedestrian")   # every road user a camera would see


def load(path: Union[str, Path], min_uptime: float = 0.5):
    """The counted hours: a DataFrame ``segment, hour, count`` (count: all modes together)."""
    import pandas as pd

    df = pd.read_csv(path)
    missing = [c for c in ("segment_id", "date", "uptime", *MODES) if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not a Telraam hourly-counts file (no column {missing[0]!r})")
    df = df[df["uptime"] >= min_uptime]
    # "2022-01-01 01:00:00 CET": the local hour is the text's, whatever the zone.
    hour = df["date"].str.slice(11, 13).astype(int)
    return pd.DataFrame({"segment": df["segment_id"].astype(str).to_numpy(),
                         "hour": hour.to_numpy(),
                         "count": df[list(MODES)].sum(axis=1).to_numpy(dtype=float)})


def fit(path: Union[str, Path], min_uptime: float = 0.5, min_hours: int = 100) -> dict:
    """The fitted skew, day shape and goodness of fit (see the module docstring)."""
    from scipy import stats

    rows = load(path, min_uptime)
    table = rows.groupby(["segment", "hour"])["count"].agg(["mean", "size"])
    means = table["mean"].unstack("hour")
    sizes = table["size"].unstack("hour").fillna(0)
    hours = [h for h in means.columns if (sizes[h] >= min_hours).all() and (means[h] > 0).all()]
    segments = list(means.index)
    if len(segments) < 2 or len(hours) < 2:
        raise ValueError(f"{path}: need 2+ segments and 2+ hours of day counted on each")
    logt = np.log(means[hours].to_numpy(dtype=float))          # segments x hours
    a = logt.mean(axis=1) - logt.mean()
    c = logt.mean(axis=0)
    resid = logt - a[:, None] - c[None, :]
    total = float(((logt - logt.mean()) ** 2).sum())
    n = len(segments)
    skew = float(np.std(a, ddof=1))
    lo = skew * math.sqrt((n - 1) / stats.chi2.ppf(0.975, n - 1))
    hi = skew * math.sqrt((n - 1) / stats.chi2.ppf(0.025, n - 1))
    shape = np.exp(c - c.max())
    hourly = [None] * 24
    for h, v in zip(hours, shape):
        hourly[int(h)] = round(float(v), 4)
    profiles = logt - logt.mean(axis=1, keepdims=True)
    corr = np.corrcoef(profiles) if n > 1 else np.ones((1, 1))
    level = np.exp(a + logt.mean())
    return {
        "segments": segments,
        "segment_level": [round(float(x), 2) for x in level],   # road users per hour (geo. mean over hours)
        "hours": [int(h) for h in hours],
        "counted_hours": int(len(rows)),
        "skew": skew, "skew_ci95": (float(lo), float(hi)),
        "cv": float(math.sqrt(math.expm1(skew ** 2))),
        "hourly": hourly,
        "r2": 1.0 - float((resid ** 2).sum()) / total if total > 0 else 1.0,
        "resid_sd": float(resid.std()),
        "shape_corr_min": float(corr[np.triu_indices(n, 1)].min()),
    }
