"""The `training.clue` section: CLUE's collaborative learning (Daga et al., §3-§7) on drifting
request streams, with real learning on the simulated clock, and its two baselines.

Every edge node serves a stream of request batches whose classes change on a schedule (the
paper's synthetic *introduction* and *fluctuation* patterns), predicts each batch, then retrains
its own model on it. What differs is how nodes help each other:

* ``clue``: on drift (rolling error over W batches above a threshold) the node *pulls* help:
  the metadata service (MdS) ranks the other nodes by cosine similarity of their class priors,
  each helper sends the top-Z % significant parameters of its model for the requested classes,
  and the target boosts its model with a frozen helper model (averaged outputs) until it has
  recovered;
* ``isolated``: nobody helps (the paper's second baseline);
* ``federated``: FedAvg with periodic *push*: every ``f_update`` batches n' of the n nodes send
  their model update and every node receives the average (the paper's first baseline).
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from edgesim.scenario.learning_schema import (DatasetSpec, LearningDevice, LocalSpec, ModelSpec,
                                              device_field)
from edgesim.scenario.schema_service import ServiceSpec
from edgesim.scenario.strict import Strict
from edgesim.scenario.timed_schema import TimedModelSpec
from edgesim.scenario.types import Duration, Fraction, Size


class PhaseSpec(Strict):
    """From batch `start` on, a node's requests are drawn from `classes` (uniformly, or with
    `weights`)."""

    start: int = Field(ge=0, description="first request batch of the phase (0-based)")
    classes: list[int] = Field(min_length=1, description="labels the requests are drawn from")
    weights: Optional[list[float]] = Field(None, description="relative frequency of each "
                                                             "class; omitted: equal")

    @model_validator(mode="after")
    def _weights(self) -> "PhaseSpec":
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes repeat: {self.classes}")
        if any(c < 0 for c in self.classes):
            raise ValueError(f"classes are labels >= 0, got {self.classes}")
        if self.weights is not None:
            if len(self.weights) != len(self.classes):
                raise ValueError(f"{len(self.weights)} weights for {len(self.classes)} classes")
            if any(w < 0 for w in self.weights) or not sum(self.weights) > 0:
                raise ValueError(f"weights must be >= 0 with a positive sum, got "
                                 f"{self.weights}")
        return self


class NodeGroupSpec(Strict):
    """Edge nodes of one kind: their compute and their drift schedule."""

    nodes: str = Field(description="node or group of edge nodes")
    infer: ServiceSpec = Field(description="predicting one request batch (asked for a batch "
                                           "of workload.batch)")
    step: ServiceSpec = Field(description="one SGD step of retraining (asked for a batch of "
                                          "local.batch); a significance pass over a stored "
                                          "batch costs one step per requested class")
    phases: list[PhaseSpec] = Field(min_length=1, description="the drift schedule, in order "
                                                              "of `start`; the first starts "
                                                              "at 0")

    @field_validator("phases")
    @classmethod
    def _order(cls, phases: list[PhaseSpec]) -> list[PhaseSpec]:
        starts = [p.start for p in phases]
        if starts[0] != 0:
            raise ValueError(f"the first phase must start at batch 0, not {starts[0]}")
        if any(b <= a for a, b in zip(starts, starts[1:])):
            raise ValueError(f"phase starts must increase, got {starts}")
        return phases


class WorkloadSpec(Strict):
    """The request batches every node serves."""

    batches: int = Field(ge=1, le=100_000, description="request batches per node")
    batch: int = Field(30, ge=1, description="examples per request batch")
    interval: Duration = Field(gt=0, description="a new batch arrives every this many seconds "
                                                 "(a node that falls behind serves its queue "
                                                 "in order)")
    new_weight: float = Field(
        1.0, gt=0, le=1000, description="relative frequency of each class a phase brings that "
                                        "the node's previous phase did not serve, against 1 "
                                        "for the others, in a phase without `weights`. 1 (the "
                                        "paper's reading, §7.1: new classes arrive as the "
                                        "others do); 4: the earlier bundled 4:1 mix")


class AdamSpec(Strict):
    """Adam's constants (Kingma and Ba 2015; torch.optim.Adam); its learning rate is
    `local.lr`."""

    betas: tuple[Fraction, Fraction] = Field((0.9, 0.999), description="beta1, beta2")
    eps: float = Field(1e-8, gt=0, le=1, description="epsilon")

    @field_validator("betas")
    @classmethod
    def _below_one(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(b < 1 for b in betas):
            raise ValueError(f"each beta must be below 1, got {list(betas)}")
        return betas


class PretrainSpec(Strict):
    """Each node's model before t = 0: one common initialisation, fine-tuned on the classes of
    its first phase (the paper fine-tunes on 2k examples for 20 epochs). Not charged to the
    simulated clock."""

    examples: int = Field(300, ge=1, description="examples of the first phase's classes")
    epochs: int = Field(10, ge=1, le=1000)


class DriftSpec(Strict):
    """Threshold drift detection (§5.1): the rolling error over the last W batches."""

    window: int = Field(5, ge=1, description="W: batches in the rolling error")
    threshold: Fraction = Field(0.2, description="drift when the rolling error exceeds this")
    holdoff: Optional[int] = Field(None, ge=0, description="batches after a detection during "
                                                           "which no new drift is declared; "
                                                           "omitted: W")


class HelpSpec(Strict):
    """How a target gets help (§5.1-5.2)."""

    helpers: int = Field(1, ge=1, description="k: the most similar nodes asked for help")
    significant: Fraction = Field(0.3, description="Z: share of the helper's parameters "
                                                   "sent (the most sensitive for the "
                                                   "requested classes)")
    selection: Literal["on-demand", "continuous"] = Field(
        "on-demand", description="'on-demand': sensitivities computed when asked, on the "
                                 "helper's last `reservoir` batches; 'continuous': a "
                                 "sensitivity map kept after every batch for every class "
                                 "(no delay when asked; compute after every batch, memory "
                                 "classes x parameters)")
    reservoir: int = Field(1, ge=1, description="B: request batches a node keeps for "
                                                "on-demand selection")
    encoding: Literal["bitmap", "index"] = Field(
        "bitmap", description="positions of the sent parameters: a bitmap over the model, or "
                              "a 4-byte index each")
    requested: Literal["drifted", "window"] = Field(
        "drifted", description="classes asked for: 'drifted': those of the window whose own "
                               "error exceeds the threshold; 'window': every class of the "
                               "window")
    discard: Literal["dynamic", "static"] = Field(
        "dynamic", description="'dynamic': a helper model is dropped once the target model "
                               "alone is back to its pre-drift rolling error (+ tolerance); "
                               "'static': after `discard_after` batches")
    discard_after: int = Field(20, ge=1, description="static: batches a helper model serves")
    tolerance: Fraction = Field(0.05, description="dynamic discard and recovery: how close to "
                                                  "the pre-drift error counts as recovered")
    pool: int = Field(3, ge=1, description="helper models kept at most; beyond it the one "
                                           "worst on its classes over the last `compare` "
                                           "batches goes")
    compare: int = Field(5, ge=1, description="L: batches compared when the pool is full")
    metadata_every: int = Field(1, ge=1, description="batches between a node's class-prior "
                                                     "reports to the MdS")
    prior_window: int = Field(20, ge=1, description="request batches a report's class prior "
                                                    "summarises (a target's help call sends "
                                                    "the prior of its last W batches)")
    metadata_bytes: Optional[Size] = Field(None, ge=1, description="bytes of one report; "
                                                                   "omitted: 4 per class "
                                                                   "+ 64")
    control_bytes: Size = Field(64.0, ge=0, description="bytes of a help call, the MdS's "
                                                        "answer and the request to a helper "
                                                        "(counted as control, outside Eq. 3b)")


class PushSpec(Strict):
    """The FedAvg baseline's push (§7.2.2): aggregation every `f_update` batches."""

    every: int = Field(5, ge=1, description="batches between aggregations (1/f_update)")
    participants: Optional[int] = Field(None, ge=1, description="n': nodes that send their "
                                                                "update each round, drawn "
                                                                "uniformly; omitted: all n")
    aggregate_time: Duration = Field(0.0, ge=0, description="aggregator compute per round")


class RecoverySpec(Strict):
    """What "recovered" means after a drift (§7.1 Metrics)."""

    against: Literal["federated", "own"] = Field(
        "federated", description="'federated' (the paper's): back within `help.tolerance` of "
                                 "the node's mean error under FedAvg push, from a FedAvg run of "
                                 "the same scenario and seed; 'own': of its own rolling error "
                                 "before the drift")
    aggregator: Optional[str] = Field(None, description="'federated': the node the reference "
                                      "FedAvg run aggregates on; default: `aggregator` or `mds`")


class ClueSpec(Strict):
    """n edge nodes serving drifting request streams, a metadata service and (for the FedAvg
    baseline) an aggregator."""

    mode: Literal["clue", "isolated", "federated"] = Field(
        "clue", description="'clue': pull-based knowledge transfer on drift; 'isolated': no "
                            "collaboration; 'federated': FedAvg with periodic push")
    nodes: list[NodeGroupSpec] = Field(min_length=1, description="every group of edge nodes")
    mds: Optional[str] = Field(None, description="clue: the node that runs the metadata "
                                                 "service")
    aggregator: Optional[str] = Field(None, description="federated: the node that averages")
    workload: WorkloadSpec
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    local: LocalSpec = Field(default_factory=lambda: LocalSpec(batch=30, lr=5e-5,
                                                               decay="none"),
                             description="retraining on each request batch with `optimizer` "
                                         "(default the paper's Adam lr 5e-5, batch 30; decay "
                                         "is ignored: a stream has no last round)")
    optimizer: Literal["adam", "sgd"] = Field(
        "adam", description="each node's local optimiser, for the fine-tuning before t = 0 and "
                            "the retraining on every request batch: 'adam' (the paper's, §7.1: "
                            "Adam, lr 5e-5), its moments kept by the node from batch to batch; "
                            "'sgd': plain SGD with `local.momentum`, stateless")
    adam: AdamSpec = Field(default_factory=AdamSpec)
    device: LearningDevice = device_field()
    pretrain: PretrainSpec = Field(default_factory=PretrainSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    help: HelpSpec = Field(default_factory=HelpSpec)
    push: PushSpec = Field(default_factory=PushSpec)
    recovery: RecoverySpec = Field(default_factory=RecoverySpec)
    eval_every: int = Field(5, ge=1, description="batches between held-out evaluations of a "
                                                 "node on its current classes")
    dtype_bytes: int = Field(4, ge=1, le=8, description="bytes per parameter on the wire")
    timed: Optional[TimedModelSpec] = Field(
        None, description="the model the deployment runs: its parameters set the bytes of "
                          "model uploads, downloads and knowledge transfers (Eq. 3a/3b) while "
                          "`model` learns; omitted: the learned model is timed")

    @model_validator(mode="after")
    def _roles(self) -> "ClueSpec":
        if self.mode == "clue" and self.mds is None:
            raise ValueError("mode 'clue' needs 'mds', the metadata service's node")
        if self.mode == "federated" and self.aggregator is None:
            raise ValueError("mode 'federated' needs 'aggregator'")
        if self.optimizer == "adam" and (self.local.momentum or self.local.weight_decay):
            raise ValueError("local.momentum and local.weight_decay are SGD's: set them to 0 "
                             "or use `optimizer: sgd`")
        return self


__all__ = ["ClueSpec", "NodeGroupSpec", "PhaseSpec", "WorkloadSpec", "PretrainSpec", "AdamSpec",
           "DriftSpec", "HelpSpec", "PushSpec"]
