"""Variant parallelism's part of a scenario: the `ensemble` shape of a job (members, the
master's window and quorum, the answers' bytes by Eq. 3, accuracy by answering set). The
core's job model gets this shape from :mod:`edgesim.registry`."""
from __future__ import annotations

from typing import ClassVar, Literal, Optional, Union

from pydantic import Field, model_validator

from edgesim.scenario.strict import Strict
from edgesim.scenario.types import Duration, Fraction, Size


class AnswerSpec(Strict):
    """What one ensemble member sends back: its top-k classes (the VP paper's Eq. 3) or raw
    scores for the classes it predicts (class parallelism)."""

    encoding: Literal["topk", "scores"] = Field(
        "topk", description="'topk': h(k) = 1 byte for k = 1, else min(k (fp + 1), fp C) "
                            "(Eq. 3); 'scores': one float per class in 'classes'")
    k: int = Field(2, ge=1, description="classes kept by 'topk' (the paper uses 2)")
    classes: int = Field(ge=1, le=1_000_000, description="'topk': C, the task's classes; "
                                                         "'scores': classes this member scores")
    float_bytes: int = Field(4, ge=1, le=16, description="size(fp): bytes of one score")

    @model_validator(mode="after")
    def _k(self) -> "AnswerSpec":
        if self.encoding == "topk" and self.k > self.classes:
            raise ValueError(f"k = {self.k} is more than the {self.classes} classes")
        return self


class AccuracySpec(Strict):
    """Expected accuracy of an ensemble's answer, by the set of members that answered: computed
    from the variants' real predictions (``file``), or from the VP paper's Table VI and a rule
    (``source: literature``)."""

    #: Keys that only the literature source reads.
    literature_keys: ClassVar[tuple[str, ...]] = ("dataset", "metric", "rule", "gain")

    source: Optional[Literal["predictions", "literature"]] = Field(
        None, description="'predictions': the paper's aggregation (top-k, softmax, Eq. 1 "
                          "scaling, sum) applied to each variant's class probabilities in "
                          "'file'; 'literature': Table VI and 'rule'. Default: 'predictions' "
                          "when 'file' is given, else 'literature'")
    file: Optional[str] = Field(None, description="predictions file (.npz: variants, probs, "
                                "labels, optional resolution and width; see the VP guide), "
                                "relative to the scenario; members' models name its variants")
    top: int = Field(1, ge=1, description="'predictions': right when the true class is among "
                     "the aggregate's 'top' classes (1: top-1; the paper also reports top-2 "
                     "for C < 100, top-5 otherwise)")
    alpha: float = Field(1.0, ge=0, description="'predictions': Eq. 1's exponent on the width "
                         "ratio d_i / min(D) (the paper gives no value)")
    dataset: Literal["food-101", "cifar-10", "cifar-100", "mnist", "svhn", "fashion-mnist",
                     "imagenet"] = Field("food-101", description="'literature': whose "
                                         "single-model accuracies (VP paper Table VI) are used")
    metric: Literal["top-1", "top-m"] = Field("top-1", description="'literature': 'top-m' is "
                                              "Table VI's second row (top-5, or top-2 for "
                                              "MNIST, SVHN, F-MNIST)")
    table: dict[str, Fraction] = Field(default_factory=dict, description="accuracy of a model, "
                                       "or of a set of models joined by '+' (any order); "
                                       "overrides what the source gives")
    rule: Literal["error-reduction", "best"] = Field(
        "error-reduction", description="'literature', sets not in 'table': 'error-reduction': "
                                       "1 - (1 - a_best) (1 - gain)^(n - 1) for n members; "
                                       "'best': a_best")
    gain: Fraction = Field(0.0433, description="'literature', 'error-reduction': share of the "
                           "best member's errors each further member removes (fitted to one "
                           "sentence of the paper, see the VP guide)")
    value: Optional[Fraction] = Field(None, description="every answer has this accuracy, "
                                      "whichever members answered (e.g. class parallelism)")

    def _given(self, keys) -> list[str]:
        """Keys written with a value other than their default. A key at its default is not a
        choice: scenario.resolved.yaml writes every default, and must read back as valid."""
        fields = type(self).model_fields
        return [k for k in keys
                if k in self.model_fields_set and getattr(self, k) != fields[k].get_default(
                    call_default_factory=True)]

    @model_validator(mode="after")
    def _source(self) -> "AccuracySpec":
        if self.source is None:
            self.source = "predictions" if self.file is not None else "literature"
        if self.source == "predictions":
            if self.file is None:
                raise ValueError("source 'predictions' needs 'file' (a predictions .npz)")
            if self.value is not None:
                raise ValueError("'value' fixes every answer's accuracy; it cannot go with "
                                 "predictions ('file')")
            given = self._given(self.literature_keys)
            if given:
                raise ValueError(f"{', '.join(repr(k) for k in given)} only apply to source "
                                 "'literature'; predictions ('file') compute the accuracy")
        elif self.file is not None:
            raise ValueError("source 'literature' does not read 'file'; drop one of them")
        else:
            given = self._given(("top", "alpha"))
            if given:
                raise ValueError(f"{', '.join(repr(k) for k in given)} only apply to "
                                 "predictions ('file'); the literature source uses 'metric'")
        return self


class EnsembleMember(Strict):
    model: str
    node: Optional[Union[str, list[str]]] = Field(
        None, description="node, group, or list of them; '@origin': the master itself; "
                          "omitted: any node serving the model")


class EnsembleSpec(Strict):
    """Fan-out and fan-in: the master (the query's origin) sends the input to every member,
    each runs its model and answers, and the master combines what arrived in its window."""

    #: Keys of the job that do not apply to this shape, with why (checked by the job).
    job_conflicts: ClassVar[dict] = {
        "result_bytes": "an ensemble's members send 'answer' bytes; 'result_bytes' does not "
                        "apply",
        "accuracy": "an ensemble's accuracy goes under 'ensemble.accuracy'"}

    members: list[EnsembleMember] = Field(min_length=1)
    input_bytes: Size = Field(0.0, ge=0, description="bytes the master sends each member")
    answer: AnswerSpec
    deadline: Optional[Duration] = Field(None, gt=0, description="the master's window after "
                                         "sending; default: wait for every member")
    quorum: Union[int, Literal["all"]] = Field(1, description="answers needed for the query to "
                                               "be answered (VP: 1; class parallelism: 'all')")
    detect_failures: bool = Field(False, description="the master learns of a member's failure "
                                  "when it happens (and stops waiting for it); default: only "
                                  "answers are heard, a failed member is noticed by its absence "
                                  "at the deadline")
    aggregate: Optional[str] = Field(None, description="model the master runs on the answers "
                                     "before replying (its service time on the master's device)")
    accuracy: Optional[AccuracySpec] = Field(None, description="accuracy accounting by answering "
                                             "set; omitted: none")

    @model_validator(mode="after")
    def _quorum(self) -> "EnsembleSpec":
        if isinstance(self.quorum, int) and not 1 <= self.quorum <= len(self.members):
            raise ValueError(f"quorum must be between 1 and the {len(self.members)} members, "
                             f"or 'all'")
        return self
