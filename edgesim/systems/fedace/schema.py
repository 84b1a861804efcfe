"""The `training.federated` section: FedAvg and FedAce (dissertation ch. 3) with real learning
on the simulated clock.

FedAvg is the section with every FedAce mechanism off (uniform client selection, uniform
mini-batches, no compression); FedAce switches on client importance sampling (Eq. 3.3-3.5),
data importance sampling (Eq. 3.2) and federated model compression (Eq. 3.6-3.8). Each
mechanism is its own key so that an ablation is one `--set` away.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from edgesim.scenario.learning_schema import LearningSpec
from edgesim.scenario.schema_service import ServiceSpec
from edgesim.scenario.strict import Strict
from edgesim.scenario.timed_schema import TimedModelSpec
from edgesim.scenario.types import Bandwidth, Duration, Fraction, Size


class ClientBandwidthSpec(Strict):
    """Each client's own access speed, a cap on its transfers on top of the shared network
    (links and cells still share their capacity among every transfer through them)."""

    dist: Literal["constant", "lognormal", "flash"] = Field(
        description="'constant': `up` and `down` for every client; 'lognormal': drawn with mean "
                    "`up`/`down` and coefficient of variation `cv`; 'flash': a per-device speed "
                    "distribution in the FLASH format (a JSON object of devices, each with "
                    "down_u, down_sigma, up_u, up_sigma in KB/s): each client is given one "
                    "device, drawn uniformly, and its speed is normal(u, sigma), floored at "
                    "`floor`")
    up: Optional[Bandwidth] = Field(None, gt=0, description="constant, lognormal: upload speed")
    down: Optional[Bandwidth] = Field(None, gt=0, description="constant, lognormal: download "
                                                              "speed")
    cv: float = Field(0.5, gt=0, le=10, description="lognormal: coefficient of variation")
    file: Optional[str] = Field(None, description="flash: the JSON file, relative to the "
                                                  "scenario file")
    floor: Bandwidth = Field(8000.0, gt=0, description="flash: lowest speed a draw may give "
                                                       "(normal draws can be negative)")
    per: Literal["round", "client"] = Field(
        "round", description="'round': drawn again for every round (wireless speed varies); "
                             "'client': drawn once per client")

    @model_validator(mode="after")
    def _keys(self) -> "ClientBandwidthSpec":
        if self.dist == "flash":
            if self.file is None:
                raise ValueError("dist 'flash' needs 'file'")
            if self.up is not None or self.down is not None:
                raise ValueError("dist 'flash' takes its speeds from 'file'; remove up/down")
        else:
            if self.up is None or self.down is None:
                raise ValueError(f"dist {self.dist!r} needs 'up' and 'down'")
            if self.file is not None:
                raise ValueError(f"'file' is for dist 'flash', not {self.dist!r}")
        return self


class ClientGroupSpec(Strict):
    """A group of clients of one kind: their compute and their access speed."""

    nodes: str = Field(description="node or group of clients")
    step: ServiceSpec = Field(description="one local SGD step, asked for a batch of "
                                          "learning.local.batch (a constant's time is a batch "
                                          "of one, scaled by its batch_cost, as everywhere)")
    forward: Optional[ServiceSpec] = Field(
        None, description="one loss forward pass over a batch of learning.local.batch: the "
                          "cost of computing importance (needed by importance sampling)")
    bandwidth: Optional[ClientBandwidthSpec] = Field(
        None, description="per-client access speed; omitted: only the scenario's network "
                          "limits the transfers")
    availability: Fraction = Field(1.0, description="chance that a client is online when a "
                                                    "round picks its clients (drawn per client "
                                                    "and round); crashes in `failures:` come "
                                                    "on top")


class SelectionSpec(Strict):
    """Which clients train in a round (FedAce §3.4.2.2)."""

    scheme: Literal["uniform", "importance"] = Field(
        "uniform", description="'uniform': C of the online clients, equally likely (FedAvg); "
                               "'importance': drawn without replacement with p_k ~ I_k "
                               "(Eq. 3.4), I_k the cached importance re-weighted for "
                               "staleness (Eq. 3.5)")
    beta: float = Field(1.0, ge=0, le=1000, description="staleness scale beta of Eq. 3.5")
    refresh: int = Field(0, ge=0, description="importance: the least recently updated clients "
                                              "(not selected this round) that download the "
                                              "model and report their loss while the round "
                                              "trains (the paper's second technique)")
    loss_bytes: Size = Field(16.0, ge=0, description="bytes a client sends with its loss and "
                                                      "sample count")


class DataSamplingSpec(Strict):
    """How a client builds its mini-batches (FedAce §3.4.2.1)."""

    scheme: Literal["uniform", "importance"] = Field(
        "uniform", description="'uniform': a shuffled pass; 'importance': examples drawn "
                               "without replacement with p_i = l_i / sum l (Eq. 3.2), the "
                               "losses computed on the downloaded model")
    fraction: Fraction = Field(1.0, description="share of the local data one epoch draws (1: "
                                                "all of it, in the sampled order)")

    @model_validator(mode="after")
    def _fraction(self) -> "DataSamplingSpec":
        if not self.fraction > 0:
            raise ValueError("fraction must be > 0")
        return self


class CompressionSpec(Strict):
    """Federated model compression (FedAce §3.4.3)."""

    sparsity: Fraction = Field(description="final share of prunable weights set to zero")
    schedule: Literal["constant", "warmup", "exponential"] = Field(
        "exponential", description="'constant': the final sparsity from round 0; 'warmup': "
                                   "none for `warmup` rounds, then the final sparsity; "
                                   "'exponential': none for `warmup` rounds, then "
                                   "s (1 - exp(-(r - warmup) / ramp)) (Tables 3.3, 3.4)")
    warmup: int = Field(10, ge=0, description="rounds without compression")
    ramp: float = Field(10.0, gt=0, description="'exponential': rounds for the sparsity to "
                                                "reach 63 % of its final value")
    vote: Fraction = Field(0.5, description="majority-vote threshold s of Eq. 3.7 as a share of "
                                            "the cached local masks: a weight is kept when at "
                                            "least this share of them keep it")
    cache: int = Field(1, ge=1, description="rounds of local masks cached before the global "
                                            "mask is voted (1: every round)")
    scope: Literal["layer", "model"] = Field(
        "layer", description="local masks keep the largest magnitudes per layer or over the "
                             "whole model (weights only; biases are never pruned)")
    mask_encoding: Literal["last-bit", "bitmap"] = Field(
        "last-bit", description="how a client's local mask travels: 'last-bit' in the lowest "
                                "mantissa bit of the weights it sends (the paper's bit trick; "
                                "no extra bytes), 'bitmap' as one bit per weight")


class CompletionSpec(Strict):
    """When a round stops waiting for its clients (stragglers are left out)."""

    rule: Literal["all", "first-k", "deadline"] = Field(
        "all", description="'all': every selected client that stays up; 'first-k': the first "
                           "`k` updates to arrive; 'deadline': whatever arrived within "
                           "`deadline` of the round's start")
    k: Optional[int] = Field(None, ge=1, description="first-k: updates to wait for")
    deadline: Optional[Duration] = Field(None, gt=0, description="deadline: seconds a round "
                                                                 "waits")

    @model_validator(mode="after")
    def _keys(self) -> "CompletionSpec":
        if (self.rule == "first-k") != (self.k is not None):
            raise ValueError("give 'k' exactly when rule is 'first-k'")
        if (self.rule == "deadline") != (self.deadline is not None):
            raise ValueError("give 'deadline' exactly when rule is 'deadline'")
        return self


class ServerOptSpec(Strict):
    """How the server turns the averaged update into the next global model."""

    optimizer: Literal["adam", "sgd", "average"] = Field(
        "adam", description="'adam' (the paper's setup) or 'sgd' step on the pseudo-gradient "
                            "W - avg(W_k) (FedOpt); 'average': the weighted average itself "
                            "(McMahan's FedAvg)")
    lr: float = Field(0.001, gt=0, le=100, description="server learning rate")
    betas: tuple[float, float] = Field((0.9, 0.999), description="adam: beta1, beta2")
    eps: float = Field(1e-8, gt=0, description="adam: epsilon")
    aggregate_time: Duration = Field(0.0, ge=0, description="server compute time per round "
                                                            "to aggregate and evaluate")


class FederatedSpec(Strict):
    """N clients, C per round, one server; real local training on each client's shard."""

    server: str = Field(description="the node that aggregates")
    clients: list[ClientGroupSpec] = Field(min_length=1, description="every client group")
    per_round: int = Field(ge=1, description="C: clients selected per round")
    rounds: int = Field(ge=1, le=100_000, description="rounds to run (at most)")
    target_accuracy: Optional[Fraction] = Field(
        None, description="held-out accuracy whose first crossing gives time- and "
                          "rounds-to-target")
    stop_at_target: bool = Field(False, description="end the run at the target")
    learning: LearningSpec = Field(default_factory=LearningSpec)
    server_optimizer: ServerOptSpec = Field(default_factory=ServerOptSpec)
    selection: SelectionSpec = Field(default_factory=SelectionSpec)
    data_sampling: DataSamplingSpec = Field(default_factory=DataSamplingSpec)
    compression: Optional[CompressionSpec] = Field(None, description="omitted: dense models")
    completion: CompletionSpec = Field(default_factory=CompletionSpec)
    dtype_bytes: int = Field(4, ge=1, le=8, description="bytes per weight on the wire")
    timed: Optional[TimedModelSpec] = Field(
        None, description="the model the deployment runs (e.g. FedAce's resnet18_cifar): its "
                          "parameters set the bytes on the wire and its name the calibrated step "
                          "times; `learning.model` still decides the learning. Omitted: the "
                          "learned model is timed")
    retry: Duration = Field(10.0, gt=0, description="when no client is online, the server "
                                                    "waits this long before the next round")

    @model_validator(mode="after")
    def _target(self) -> "FederatedSpec":
        if self.stop_at_target and self.target_accuracy is None:
            raise ValueError("stop_at_target needs target_accuracy")
        if self.completion.k is not None and self.completion.k > self.per_round:
            raise ValueError(f"completion.k ({self.completion.k}) is more than per_round "
                             f"({self.per_round})")
        return self


__all__ = ["FederatedSpec", "ClientGroupSpec", "ClientBandwidthSpec", "SelectionSpec",
           "DataSamplingSpec", "CompressionSpec", "CompletionSpec", "ServerOptSpec"]
