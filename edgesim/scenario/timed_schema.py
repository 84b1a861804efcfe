"""`timed:` in a learning system's section: the model the deployment runs, as opposed to the
model that learns on edgesim's clock.

A learning system trains a real model (`learning.model`) to decide its dynamics (rounds,
accuracy, losses, importance, masks); the timed model, when given, sets what the network and
the devices see: bytes on the wire (after the system's own compression and masks, as the
learned model's kept fraction of the timed model's parameters) and, with `dist: calibrated`
step times, the profile looked up on every device. Omitted: the learned model is also the
timed one.
"""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from edgesim.scenario.strict import Strict

__all__ = ["TimedModelSpec"]


class TimedModelSpec(Strict):
    """The deployed model: a zoo name, its size from the zoo (or given)."""

    model: str = Field(description="a zoo model (`edgesim calibrate --models list`), e.g. "
                                   "resnet18_cifar, femnist_cnn, vgg13_cifar; with `params` "
                                   "given, any name (a label)")
    params: Optional[int] = Field(None, ge=1, le=10**12, description="parameter count; "
                                  "default: the zoo model's")
