"""What a learning-in-the-loop training system learns: a real data set, its split among the
nodes, a small PyTorch model and the local optimiser (:mod:`edgesim.learning` runs them).

Shared by every system that trains for real on edgesim's simulated clock (FedAvg and FedAce
today), so that a data set, a partition and a model are written the same way in each.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from edgesim.scenario.strict import Strict
from edgesim.scenario.types import Fraction


class DatasetSpec(Strict):
    """The examples and labels. `digits` is scikit-learn's bundled handwritten digits (1,797
    8x8 images, 10 classes; no download); `file` reads your own arrays."""

    name: Literal["digits", "file"] = Field("digits", description="'digits' or 'file'")
    file: Optional[str] = Field(None, description="name: file: a .npz with arrays 'x' (examples,"
                                                  " any shape after the first axis) and 'y' "
                                                  "(integer labels 0..classes-1), or a .pt "
                                                  "holding a dict with tensors 'x' and 'y'; "
                                                  "relative to the scenario file")
    holdout: Fraction = Field(0.2, description="share of the examples held out (stratified by "
                                               "label) to measure accuracy and loss each round")
    limit: Optional[int] = Field(None, ge=10, description="use only the first this many "
                                                           "examples (after a seeded shuffle)")

    @model_validator(mode="after")
    def _file(self) -> "DatasetSpec":
        if (self.name == "file") != (self.file is not None):
            raise ValueError("give 'file' exactly when name is 'file'")
        if not 0 < self.holdout < 1:
            raise ValueError(f"holdout must be strictly between 0 and 1, got {self.holdout}")
        return self


class PartitionSpec(Strict):
    """How the training examples are split among the clients (their private shards)."""

    kind: Literal["dirichlet", "iid"] = Field(
        "dirichlet", description="'dirichlet': label skew, each class spread over the clients "
                                 "with proportions ~ Dir(alpha), as FL papers partition CIFAR "
                                 "and speech commands (LDA); 'iid': a seeded even split")
    alpha: float = Field(0.5, gt=0, le=1e6, description="Dirichlet concentration: small is "
                                                        "skewed (0.1), large is near iid (100)")
    min_samples: int = Field(2, ge=1, description="redraw until every client holds at least "
                                                  "this many examples")


class ModelSpec(Strict):
    """A small classifier; pick a bigger one with `hidden` or `channels`."""

    name: Literal["logreg", "mlp", "cnn"] = Field(
        "mlp", description="'logreg': one linear layer; 'mlp': ReLU layers of `hidden` units; "
                           "'cnn': 3x3 conv + ReLU + 2x2 max-pool per entry of `channels`, "
                           "then a linear layer (image data: x of shape (n, H, W) or "
                           "(n, C, H, W))")
    hidden: list[int] = Field(default_factory=lambda: [64], description="mlp: units per layer")
    channels: list[int] = Field(default_factory=lambda: [8, 16], description="cnn: channels "
                                                                              "per conv layer")

    @model_validator(mode="after")
    def _sizes(self) -> "ModelSpec":
        if any(h < 1 for h in self.hidden + self.channels):
            raise ValueError("every entry of hidden and channels must be >= 1")
        return self


class LocalSpec(Strict):
    """Local SGD on a client (the FedAce paper's setup by default: batch 20, lr 0.01, cosine
    decay, one epoch)."""

    epochs: int = Field(1, ge=1, le=1000, description="E: passes over the local data per round")
    batch: int = Field(20, ge=1, description="examples per SGD step")
    lr: float = Field(0.01, gt=0, le=100, description="SGD learning rate")
    decay: Literal["cosine", "none"] = Field(
        "cosine", description="'cosine': lr x (1 + cos(pi r / R)) / 2 in round r of R "
                              "(annealed over the rounds, not within one)")
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)


class LearningSpec(Strict):
    """The real learning inside a training system."""

    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    partition: PartitionSpec = Field(default_factory=PartitionSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    local: LocalSpec = Field(default_factory=LocalSpec)
    eval_every: int = Field(1, ge=1, description="measure held-out accuracy every this many "
                                                 "rounds (and after the last)")


__all__ = ["LearningSpec", "DatasetSpec", "PartitionSpec", "ModelSpec", "LocalSpec"]
