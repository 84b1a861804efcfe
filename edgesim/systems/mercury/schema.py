"""Mercury's section of a scenario, `training.mercury`: data-parallel SGD with importance
sampling (sequential pipeline, BACC) and the TicTac and AdaComm baselines.

Compute times reuse the service-time models of `service:`; without `learning`, E and
E_is / E (`convergence`) are inputs, never results."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from edgesim.scenario.learning_schema import (DatasetSpec, LearningDevice, ModelSpec, PartitionSpec,
                                              device_field)
from edgesim.scenario.schema_service import ServiceSpec
from edgesim.scenario.strict import Strict
from edgesim.scenario.types import Duration, Fraction, Size


class GroupSpec(Strict):
    """Group-wise importance computation (§2.4.1)."""

    groups: int = Field(10, ge=1, description="D: a device's data is split into D groups of "
                                              "equal size (§2.4.1); one group's importance is "
                                              "recomputed per iteration")
    mode: Literal["adaptive", "fixed"] = Field(
        "adaptive", description="bacc: 'adaptive' sizes each group to as many importance "
                                "batches as fit in the device's last aggregation time "
                                "(§2.4.3); 'fixed' keeps the D equal groups. The sequential "
                                "pipeline always uses the D groups")
    initial: int = Field(0, ge=0, description="'adaptive': samples in the first iteration's "
                                              "group, before any aggregation time has been "
                                              "measured")
    batch: int = Field(ge=1, description="samples per importance forward batch")
    forward: ServiceSpec = Field(description="an importance forward pass, asked for a batch of "
                                             "`batch` (a batch-1 time scaled by batch_cost)")


class ReshardSpec(Strict):
    """Importance-aware data resharding (§2.4.2): every `every` iterations each device sends
    `samples` of its samples to its partner of the round and puts the ones it receives in
    their places (docs/guides/mercury.md#resharding-and-breakpoint-resume)."""

    samples: int = Field(ge=0, description="N_o: samples each device sends per resharding "
                                           "round (and receives)")
    every: int = Field(1, ge=1, description="reshard every this many iterations")
    sample_bytes: Size = Field(gt=0, description="bytes of one sample with its label")
    select: Literal["importance", "random"] = Field(
        "importance", description="which samples leave (with `learning`): 'importance' "
                                  "(§2.4.2) N_o M_i / sum M_j from each group i, drawn with "
                                  "probability proportional to importance (Eq. 2.5); 'random' "
                                  "uniformly (importance-agnostic resharding, Fig. 2.16)")
    importance: Literal["carry", "reset"] = Field(
        "carry", description="a received sample's importance (with `learning`): 'carry' the "
                             "sender's value and step (every device holds the same model); "
                             "'reset' the receiving group's mean, as never computed")
    breakpoint: Literal["byte", "message"] = Field(
        "byte", description="bacc with `pause`: 'byte' stops the transfer where it is when "
                            "aggregation begins at either end and resumes from that byte "
                            "when it ends (§2.4.3); 'message' pauses only between `chunk`-byte "
                            "messages (one in flight delays aggregation)")
    pause_at: Literal["ends", "sender"] = Field(
        "ends", description="bacc, `breakpoint: byte`: a transfer pauses while either of its "
                            "two devices aggregates ('ends': it never shares a link with "
                            "their aggregation) or only while its sender does ('sender': the "
                            "chapter's per-device thread read literally)")
    chunk: Size = Field(65536.0, gt=0, description="bacc, `breakpoint: message` or no "
                                                   "`pause`: bytes per message")
    pause: bool = Field(True, description="bacc: resharding pauses while gradients are "
                                          "aggregated and resumes after (breakpoint-resume); "
                                          "false: it runs regardless, sharing the network "
                                          "(bandwidth-agnostic)")


class ConvergenceSpec(Strict):
    """Iterations to the target accuracy: inputs from experiments, never computed here."""

    iterations: float = Field(gt=0, description="E: iterations standard SGD needs")
    ratio: dict[Literal["sequential", "bacc", "tictac", "adacomm"], float] = Field(
        description="E_is / E of each importance-sampling schedule (tictac's is 1 unless "
                    "given: it computes what SGD computes; adacomm's counts rounds)")

    @model_validator(mode="after")
    def _positive(self) -> "ConvergenceSpec":
        bad = {k: v for k, v in self.ratio.items() if not v > 0}
        if bad:
            raise ValueError(f"every ratio must be > 0, got {bad}")
        return self


class MercuryLearningSpec(Strict):
    """Learning in the loop for Mercury: the K devices really train a small model on a real
    data set by the schedule's sampling, so iterations to a target accuracy (E, and E_is for
    the importance-sampling schedules) come out of the run instead of `convergence`."""

    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    partition: PartitionSpec = Field(default_factory=lambda: PartitionSpec(kind="iid"),
                                     description="how the training examples are split among "
                                                 "the devices (data-parallel: iid by default)")
    model: ModelSpec = Field(default_factory=ModelSpec)
    lr: float = Field(0.1, gt=0, le=100, description="SGD learning rate of the averaged "
                                                     "gradient")
    target_accuracy: Fraction = Field(description="held-out accuracy whose first crossing "
                                                  "gives E (iterations) and the time to it")
    stop_at_target: bool = Field(True, description="end the run at the target")
    eval_every: int = Field(10, ge=1, description="iterations between held-out evaluations")
    select: int = Field(5, ge=1, description="d: groups picked per mini-batch (§2.4.1 Step 2; "
                                             "at most D)")
    beta: float = Field(0.5, gt=0, le=100, description="beta of Eq. 2.4: larger favours "
                                                       "groups whose importance is fresher")
    device: LearningDevice = device_field()


class LayerSpec(Strict):
    """One layer of the model, in forward order (TicTac transfers layer by layer)."""

    params: float = Field(gt=0, description="parameters of the layer")
    compute: float = Field(gt=0, description="the layer's share of a step's compute, relative "
                                             "to the others (FLOPs, say)")


class TicTacSpec(Strict):
    """TicTac (Hashemi et al., SysML 2019): gradients leave layer by layer as back-propagation
    produces them, and transfers are ordered so that the parameters the next forward pass needs
    first arrive first; the forward pass of a layer starts once its parameters are in."""

    layers: Optional[list[LayerSpec]] = Field(
        None, description="the model's layers in forward order; their params must sum to "
                          "`params`. With `learning` they default to the trained model's "
                          "(params, and compute in proportion to FLOPs)")
    forward_share: Fraction = Field(1 / 3, description="share of a step that is the forward "
                                                       "pass, the rest back-propagation (a "
                                                       "rule of thumb: backward ~ 2x forward)")

    @model_validator(mode="after")
    def _some_layer(self) -> "TicTacSpec":
        if self.layers is not None and not self.layers:
            raise ValueError("layers must list at least one layer")
        if not 0 < self.forward_share < 1:
            raise ValueError(f"forward_share must be strictly between 0 and 1, "
                             f"got {self.forward_share}")
        return self


class AdaCommSpec(Strict):
    """AdaComm (Wang and Joshi, SysML 2019): local-update SGD, every device takes tau local
    steps on its own model, then the models are averaged; every `interval` of wall-clock time
    tau is set to ceil(sqrt(F(x_now) / F(x_0)) tau0), F the training loss (needs `learning`)."""

    tau0: int = Field(10, ge=1, le=10_000, description="local steps per round at the start "
                                                       "(AdaComm chooses it by grid search; "
                                                       "this default is ours)")
    interval: Duration = Field(gt=0, description="T0: wall-clock time between changes of tau")
    adapt: bool = Field(True, description="false: tau stays tau0 (periodic averaging)")


class MercurySpec(Strict):
    """K devices train one model by synchronous data-parallel SGD, every device a parameter
    server for 1/K of the parameters (Fig. 2.1)."""

    schedule: Literal["sgd", "sequential", "bacc", "tictac", "adacomm"] = Field(
        "bacc", description="'sgd': random sampling; 'sequential': resharding and importance "
                            "computation in line (Fig. 2.9a); 'bacc': overlapped (Fig. 2.9b); "
                            "the dissertation's baselines 'tictac' (layer-wise ordered "
                            "transfers overlapping computation, see `tictac`) and 'adacomm' "
                            "(adaptive local-update SGD, see `adacomm`; needs `learning`)")
    devices: str = Field(description="node group of the training devices (K = its count)")
    model: str = Field("model", description="the model's name: in the schedule table, and the "
                                            "model looked up by `dist: calibrated` entries")
    params: Optional[float] = Field(
        None, gt=0, description="parameter count of the model on the wire (the timed model: "
                                "its gradient is what the all-reduce moves); default: the zoo "
                                "model `model`'s, or with `learning` the learned model's")
    dtype_bytes: int = Field(4, ge=1, le=8, description="bytes per gradient value")
    step: ServiceSpec = Field(description="one gradient computation (T_cp), asked for a batch "
                                          "of `batch` (a batch-1 time scaled by batch_cost)")
    batch: int = Field(1, ge=1, description="samples per gradient computation")
    samples: int = Field(ge=1, description="training samples in all; each device holds "
                                           "samples / K")
    iterations: int = Field(ge=1, le=1_000_000, description="iterations to simulate; totals "
                                                            "are extrapolated to E")
    aggregate_time: Duration = Field(0.0, ge=0, description="compute time of a parameter server "
                                                            "to sum its shard per iteration")
    group: GroupSpec
    reshard: ReshardSpec
    convergence: Optional[ConvergenceSpec] = Field(
        None, description="E and E_is / E as inputs; needed without `learning` (for the "
                          "importance-sampling schedules); with `learning` an explicit "
                          "override of what the run measured")
    learning: Optional[MercuryLearningSpec] = Field(
        None, description="train a real model by the schedule's sampling (needs the 'learn' "
                          "extra): iterations to `target_accuracy` are measured")
    tictac: TicTacSpec = Field(default_factory=TicTacSpec,
                               description="the 'tictac' schedule's layers")
    adacomm: Optional[AdaCommSpec] = Field(None, description="the 'adacomm' schedule's "
                                                             "local steps (needed by it)")
