"""DEEPCON's section of a scenario, `training.deepcon`: multi-model training (DMML,
DMML-SP, DMML-Par) and its over-the-air loop with ASRS sampling.

Compute times reuse the service-time models of `service:` (constant, lognormal, calibrated
with `phase: train`, ...). Without learning, the OTA loop's gap over time is an input (the
paper's Table 4 figures in the bundled ota.yaml: a literature option); with `learning` (DMML)
or `ota.learning` it is measured from real models' predictions."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from edgesim.scenario.learning_schema import DatasetSpec, LocalSpec, ModelSpec
from edgesim.scenario.schema_service import ServiceSpec
from edgesim.scenario.strict import Strict
from edgesim.scenario.types import Duration, Fraction, Rate, Size


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
                          "other model; omitted: `labels.forward_share` of its step")


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
        "sample-mean", description="how the cloud estimates the gap from an ASRS sample: "
                                   "'sample-mean' (Alg. 3 as written): Eq. 5 on the collected "
                                   "sample as it is (Alg. 3 returns the union of the strata's "
                                   "reservoirs and getValid evaluates it unweighted); "
                                   "'stratified': each stratum's sample mean weighted by the "
                                   "stratum's share of the window (unbiased, not the paper's). "
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


class TargetSpec(Strict):
    """A consistency target (§2.2) the learned models must reach: exactly one key. Time to
    target is the simulated time of the first held-out measurement that meets it."""

    consistency: Optional[Fraction] = Field(None, description="C (Eq. 2) at least this")
    cc: Optional[Fraction] = Field(None, description="CC (Eq. 3) at least this")
    gap: Optional[Fraction] = Field(None, description="<Acc-CC> (Eq. 5) at most this")

    @model_validator(mode="after")
    def _one(self) -> "TargetSpec":
        given = [k for k in ("consistency", "cc", "gap") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of consistency, cc, gap"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self


class DmmlLearningSpec(Strict):
    """The N models are real, heterogeneous small classifiers trained with Deep Mixup Mutual
    Learning (Alg. 1, Eq. 10-11) on a real data set, on the schedule's clock: a dmml-par task
    trains against the replicas it pulled (possibly stale), a dmml-sp task against its round's
    snapshot, serial dmml against the freshest models, batch by batch. Acc, C, CC and
    <Acc-CC> (§2.2) are measured on the held-out split whenever the models change. The times
    and bytes stay those of `models` (the real models stand in for what they learn)."""

    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    models: dict[str, ModelSpec] = Field(
        min_length=2, description="architecture of each model, keyed by the names of "
                                  "`training.deepcon.models` (every one, same order), each from "
                                  "its own seeded initialisation")
    alpha: Fraction = Field(0.7, description="mixup ratio of Eq. 10: a label is alpha x the "
                                             "other model's softmax output + (1 - alpha) x the "
                                             "one-hot truth (Fig. 9 peaks around 0.7-0.8)")
    pretrain: Optional[int] = Field(None, ge=10, description="training examples (a seeded "
                                                             "uniform draw) each model is "
                                                             "pre-trained on alone, by cross-"
                                                             "entropy; omitted: the whole "
                                                             "training split")
    pretrain_epochs: int = Field(10, ge=1, le=10_000, description="passes over the pre-training "
                                                                  "examples")
    pretrain_lr: float = Field(0.1, gt=0, le=100, description="SGD rate of pre-training")
    local: LocalSpec = Field(default_factory=lambda: LocalSpec(lr=0.01, decay="none"),
                             description="SGD of one DMML round of one model: `epochs` passes "
                                         "over the training split (Alg. 2 line 32). Omitted: "
                                         "lr 0.01 (the paper's re-training rate), decay 'none'")
    target: Optional[TargetSpec] = Field(None, description="report the time to reach it")


class LabelCostSpec(Strict):
    """Alg. 2 lines 34-37: every dmml-sp / dmml-par task of model n runs, per step, a forward
    pass of every other model to make its mixup labels. Charged by default, as written."""

    charge: bool = Field(True, description="false: label passes cost nothing (the reading "
                                           "under which the paper's 1739 s / 725 s ratio of "
                                           "2.4 fits; see the DEEPCON guide)")
    forward_share: float = Field(1 / 3, gt=0, le=1, description="a model without `label` "
                                 "makes its labels in this share of its training step's time "
                                 "(a forward pass of a step that is forward + a backward of "
                                 "about twice the forward)")


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
    labels: LabelCostSpec = Field(default_factory=LabelCostSpec,
                                  description="what the mixup label forward passes cost")
    ota: Optional[OTASpec] = Field(None, description="run the over-the-air loop for `duration`, "
                                                     "training `ota.rounds` rounds per trigger")
    learning: Optional[DmmlLearningSpec] = Field(
        None, description="train the N models for real with DMML (needs the 'learn' extra): "
                          "Acc, C, CC and <Acc-CC> emerge per round/task, and the time to a "
                          "`target`; not with `ota` (its loop has `ota.learning`)")

    @model_validator(mode="after")
    def _learning(self) -> "DeepconSpec":
        if self.learning is not None and self.ota is not None:
            raise ValueError("`learning` trains one DMML run; the over-the-air loop has its "
                             "own `ota.learning`: remove one")
        return self
