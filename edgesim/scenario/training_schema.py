"""The `training:` section of a scenario: DEEPCON's multi-model training (DMML, DMML-SP,
DMML-Par) with its over-the-air loop, and Mercury's data-parallel training (SGD, sequential
importance sampling, BACC).

Kept apart from :mod:`edgesim.scenario.schema` so that the training models stay together and
the main schema only gains one optional key. Compute times reuse the service-time models of
`service:` (constant, lognormal, calibrated with `phase: train`, ...); convergence figures
(iterations to a target, E_is / E) are inputs, never results.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

# schema.py imports this module just before it defines Scenario, when Strict and ServiceSpec
# exist; importing edgesim imports schema.py first, so this import never comes first.
from edgesim.scenario.schema import ServiceSpec, Strict
from edgesim.scenario.types import Duration, Fraction, Rate, Size
from edgesim.scenario.federated_schema import FederatedSpec
from edgesim.scenario.learning_schema import DatasetSpec, LocalSpec, ModelSpec, PartitionSpec
from edgesim.scenario.clue_schema import ClueSpec
from edgesim.scenario.decentral_schema import DecentralizedSpec


# --------------------------------------------------------------------------- DEEPCON

class TrainModelSpec(Strict):
    """One model trained by DEEPCON: its size (for the bytes it moves) and its compute time."""

    params: float = Field(gt=0, description="parameter count; a replica moves params x "
                                            "dtype_bytes bytes")
    dtype_bytes: int = Field(4, ge=1, le=8, description="bytes per parameter (4: float32)")
    step: ServiceSpec = Field(description="one training step (forward, backward, update), "
                                          "asked for a batch of `batch`: as everywhere, a "
                                          "constant's or lognormal's time is that of a batch of "
                                          "one, scaled by its batch_cost")
    batch: int = Field(1, ge=1, description="samples per step (1: `step` already gives the "
                                            "whole step's time)")
    steps: int = Field(1, ge=1, description="steps in one round (one pass over the data); "
                                            "1 when `step` is already a whole round")
    label: Optional[ServiceSpec] = Field(
        None, description="time of one forward step of this model that produces the mixup "
                          "labels the *other* models learn from (Alg. 2 lines 34-37): a "
                          "dmml-sp or dmml-par task of model n adds the label steps of every "
                          "other model; omitted: label computation is not charged")


class GapSpec(Strict):
    """The true <Acc-CC> gap of the deployed models over time: an input, not a result."""

    start: Fraction = Field(description="gap when the models are deployed")
    drift: float = Field(0.0, ge=0, description="growth of the gap per second of deployment "
                                                "(data drift)")
    after_update: Fraction = Field(description="gap right after an update is deployed")
    spread: float = Field(0.5, ge=0, lt=1, description="per-class spread: the rarest class's "
                                                        "gap is (1 + spread) times the "
                                                        "commonest's (1 - spread), before "
                                                        "normalising to the mean")


class OTALearningSpec(Strict):
    """Learning in the loop for the over-the-air loop: the N models are real small classifiers
    on a real data set. Every item an edge sees is a real example, its ASRS strata are its
    model's real predictions, Validate's <Acc-CC> gap (Eq. 5) comes from the models' real
    predictions on the uploaded sample, and every Update fine-tunes the models on the samples
    the edges actually uploaded; the held-out accuracy after each update is measured. The
    times and bytes stay those of `models` (the real models stand in for their accuracy)."""

    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    model: ModelSpec = Field(default_factory=ModelSpec,
                             description="architecture of every one of the N models, each "
                                         "from its own seeded initialisation")
    pretrain: int = Field(100, ge=1, description="examples of the training split (a seeded "
                                                "uniform draw, kept out of the stream) the "
                                                "models are pre-trained on before Deploy")
    pretrain_epochs: int = Field(50, ge=1, le=10_000, description="passes over the pre-training "
                                                                  "examples, at `local.lr`")
    local: LocalSpec = Field(default_factory=lambda: LocalSpec(lr=0.1, decay="none"),
                             description="SGD of one model: one DMML round of an update is "
                                         "`epochs` passes over the training examples; "
                                         "'cosine' anneals the rate over an update's rounds. "
                                         "Omitted: lr 0.1, decay 'none', the rest as listed")
    compare: bool = Field(True, description="also run the same scenario and seed with the other "
                                            "sampler (asrs <-> random) and report both and "
                                            "their difference")


class OTASpec(Strict):
    """DEEPCON's over-the-air loop (§4): Deploy -> Validate -> Train -> Update."""

    edges: str = Field(description="node group of edge nodes; edge i runs model i mod N")
    window: Duration = Field(gt=0, description="model-update window T: each edge uploads a "
                                               "sample of its stream every T")
    rate: Rate = Field(gt=0, description="items per second arriving at each edge")
    arrivals: Literal["poisson", "deterministic"] = Field(
        "poisson", description="items per window: Poisson with mean rate x window, or exactly")
    item_bytes: Size = Field(gt=0, description="bytes of one item (an image)")
    result_bytes: Size = Field(0.0, ge=0, description="bytes of one inference result "
                                                       "uploaded with its item")
    classes: int = Field(ge=2, le=100_000, description="classes the models predict: the strata")
    skew: float = Field(1.0, ge=0, description="Zipf exponent of the class frequencies "
                                               "(0: uniform)")
    sampler: Literal["asrs", "random"] = Field(
        "asrs", description="adaptive stratified reservoir sampling (Alg. 3, strata = predicted "
                            "class) or one reservoir over the whole stream")
    sample_fraction: Fraction = Field(gt=0, description="sample size as a fraction of the "
                                                        "previous window's items")
    min_per_stratum: int = Field(1, ge=0, description="ASRS: every stratum seen gets at least "
                                                      "this many places")
    estimator: Literal["stratified", "sample-mean"] = Field(
        "stratified", description="how the cloud estimates the gap from an ASRS sample: "
                                  "'stratified': each stratum's sample mean weighted by the "
                                  "stratum's share of the window; 'sample-mean': Eq. 5 on the "
                                  "collected sample as it is (Alg. 3 returns the union of the "
                                  "strata's reservoirs and getValid evaluates it unweighted). "
                                  "One reservoir always uses the sample mean")
    class_shift: int = Field(0, ge=0, description="non-stationary stream: every window the "
                                                  "classes' popularity ranks move by this many "
                                                  "places (class c has Zipf rank (c - w x "
                                                  "class_shift) mod classes in window w); a "
                                                  "class's consistency stays with the class. "
                                                  "0: stationary")
    gap: Optional[GapSpec] = Field(
        None, description="the true gap over time, an input; required without `learning`, "
                          "and not given with it (the gap is then measured from the models' "
                          "predictions; `gap: null` when extending a scenario that has one)")
    threshold: Fraction = Field(description="train when the estimated gap exceeds this")
    validate_time: Duration = Field(0.0, ge=0, description="cloud inference time per sampled "
                                                           "item and model")
    full_upload: bool = Field(True, description="on a trigger, edges upload the window's full "
                                                "data for training")
    rounds: int = Field(1, ge=1, description="training rounds per update")
    learning: Optional[OTALearningSpec] = Field(
        None, description="the models are real classifiers on a real data set (needs the "
                          "'learn' extra): strata, the gap and the accuracy after every update "
                          "are measured, and updates train on the samples the edges uploaded")

    @model_validator(mode="after")
    def _items(self) -> "OTASpec":
        # Items are drawn one by one every window: keep a window within what a run can hold.
        if self.rate * self.window > 1e7:
            raise ValueError(f"rate x window is {self.rate * self.window:.3g} items per edge "
                             "and window; at most 10,000,000")
        # The gap is either an input or measured: never both, so no input is silently unused.
        if self.learning is None and self.gap is None:
            raise ValueError("give `gap` (the true gap over time), or `learning` to measure it")
        if self.learning is not None and self.gap is not None:
            raise ValueError("with `learning` the gap is measured from the models' predictions: "
                             "remove `gap` (`gap: null` when extending a scenario)")
        return self


class DeepconSpec(Strict):
    """N models trained on W GPU workers against a server that holds their replicas."""

    schedule: Literal["dmml", "dmml-sp", "dmml-par"] = Field(
        "dmml-par", description="'dmml': Alg. 1 on one worker; 'dmml-sp': synchronous rounds; "
                                "'dmml-par': Alg. 2, asynchronous")
    rounds: int = Field(ge=1, description="rounds every model is trained (R)")
    server: str = Field(description="node holding the model replicas (the master)")
    workers: str = Field(description="node group of GPU workers (its count is W)")
    models: dict[str, TrainModelSpec] = Field(min_length=2, description="in order: M1, M2, ...")
    affinity: bool = Field(True, description="dmml-par: a worker that just trained a model keeps "
                                             "it when it is among the models due (Fig. 5)")
    round_count: Literal["all-models", "tasks", "mean-model"] = Field(
        "all-models", description="what a round is. 'all-models': round r is done when every "
                                  "model has r rounds, each model trained R times (the paper's "
                                  "'all models get the same rounds of training'); 'tasks': a "
                                  "round is N training tasks done, whatever the models (Alg. 2 "
                                  "has no per-model target): training stops after N x R tasks "
                                  "and fast models run ahead (dmml-sp and dmml unchanged); "
                                  "'mean-model': every model R rounds, round r's time the mean "
                                  "over models of when each finished its r-th")
    ota: Optional[OTASpec] = Field(None, description="run the over-the-air loop for `duration`, "
                                                     "training `ota.rounds` rounds per trigger")


# --------------------------------------------------------------------------- Mercury

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
    """Importance-aware data resharding (§2.4.2): samples each device sends to the others."""

    samples: int = Field(ge=0, description="samples each device sends per resharding")
    every: int = Field(1, ge=1, description="reshard every this many iterations")
    sample_bytes: Size = Field(gt=0, description="bytes of one sample with its label")
    chunk: Size = Field(65536.0, gt=0, description="bacc: bytes per message; resharding can "
                                                   "pause only between messages")
    pause: bool = Field(True, description="bacc: resharding pauses while the device aggregates "
                                          "gradients and resumes after (breakpoint-resume); "
                                          "false: it runs regardless, sharing the network")


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
    params: float = Field(gt=0, description="parameter count of the model")
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


class TrainingSpec(Strict):
    """Give exactly one system."""

    deepcon: Optional[DeepconSpec] = None
    mercury: Optional[MercurySpec] = None
    federated: Optional[FederatedSpec] = Field(
        None, description="FedAvg / FedAce with real learning (needs the 'learn' extra)")
    clue: Optional[ClueSpec] = Field(
        None, description="CLUE's pull-based knowledge transfer, or its baselines (isolated "
                          "learning, FedAvg push), on drifting request streams, with real "
                          "learning (needs the 'learn' extra)")
    decentralized: Optional[DecentralizedSpec] = Field(
        None, description="decentralized sub-model training over a ring, mesh or any "
                          "connected graph, or its centralized baseline, with real learning "
                          "(needs the 'learn' extra)")

    @model_validator(mode="after")
    def _one_system(self) -> "TrainingSpec":
        given = [k for k in SYSTEMS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of " + ", ".join(repr(k) for k in SYSTEMS)
                             + (f"; got {', '.join(given)}" if given else ""))
        return self

    @property
    def system(self) -> str:
        """The name of the one system given."""
        return next(k for k in SYSTEMS if getattr(self, k) is not None)


SYSTEMS = ("deepcon", "mercury", "federated", "clue", "decentralized")


__all__ = ["TrainingSpec", "DeepconSpec", "TrainModelSpec", "OTASpec", "OTALearningSpec",
           "GapSpec", "MercurySpec",
           "GroupSpec", "ReshardSpec", "ConvergenceSpec", "FederatedSpec", "ClueSpec",
           "DecentralizedSpec"]
