"""The `training.decentralized` section: decentralized sub-model training (Chen and Qin,
"Exploring Decentralized Collaboration in Heterogeneous Edge Training") with real learning on
the simulated clock, or its centralized baseline.

The original (dense) network is shared layers, a dense deep layer and every class's logit; it
is pre-trained and decoupled into one branch per class (the class's most important deep units
and its logit). Each node trains the shared layers and the branches of its tasks on its
examples of those classes, then averages the structures it has in common with its neighbours
in the collaboration graph (`topology`). The centralized baseline trains the dense network
(`baseline: dense`, the paper's) or every branch at once (`baseline: branched`).
"""
from __future__ import annotations

import math
from typing import Literal, Optional, Union

from pydantic import Field, model_validator

from edgesim.scenario.learning_schema import DatasetSpec, LocalSpec, Width
from edgesim.scenario.schema_service import ServiceSpec
from edgesim.scenario.strict import Strict
from edgesim.scenario.types import Fraction


class WorkerGroupSpec(Strict):
    """A group of training nodes of one kind and the time of their training steps."""

    nodes: str = Field(description="node or group of training nodes")
    step: ServiceSpec = Field(description="one SGD step of the central baseline's model (the "
                                          "dense network; with baseline branched, every "
                                          "branch) over a batch of learning.local.batch on "
                                          "these devices; a sub-model's step is this time x "
                                          "its forward FLOPs / the baseline model's (of the "
                                          "timed model when `timed` is given), and averaging "
                                          "costs its FLOPs at the same time per FLOP")


class BranchedModelSpec(Strict):
    """Shared layers (an MLP or CNN feature extractor) and one branch per class."""

    name: Literal["mlp", "cnn"] = Field(
        "mlp", description="shared layers: 'mlp' ReLU layers of `hidden` units, or 'cnn' 3x3 "
                           "conv + ReLU + 2x2 max-pool per entry of `channels`")
    hidden: list[Width] = Field(default_factory=lambda: [64], description="mlp: units per "
                                                                        "shared layer")
    channels: list[Width] = Field(default_factory=lambda: [8], description="cnn: channels per "
                                                                         "conv layer")
    deep: int = Field(320, ge=1, description="ReLU units of the dense network's deep layer "
                                             "(after the shared layers, before the logits): "
                                             "the layer that is decoupled into branches")
    keep: Fraction = Field(0.1, gt=0, description="fraction of the deep layer's units each "
                                                  "class keeps (the paper's 10 %)")
    branch_width: Optional[int] = Field(
        None, ge=1, description="ReLU units of each class's branch (the functionality "
                                "structure), which feeds that class's single logit; default: "
                                "keep x deep, rounded up")

    @model_validator(mode="after")
    def _sizes(self) -> "BranchedModelSpec":
        if any(h < 1 for h in self.hidden + self.channels):
            raise ValueError("every entry of hidden and channels must be >= 1")
        if self.branch_width is None:
            self.branch_width = max(1, math.ceil(self.keep * self.deep - 1e-9))
        return self


class DecentralTimedSpec(Strict):
    """The model the deployment runs (the paper's VGG-16 or AlexNet on CIFAR), decoupled as
    the paper does: its sizes, in closed form from its layer shapes, set every node's bytes
    on the wire and FLOPs (and so its step time); `learning.model` still decides the
    learning."""

    model: Literal["vgg16_cifar", "alexnet_cifar"] = Field(
        description="'vgg16_cifar' (13 convs, last 6 decoupled) or 'alexnet_cifar' (5 convs, "
                    "last 3 decoupled), 32x32 input")
    keep: Fraction = Field(0.1, gt=0, description="fraction of each decoupled layer's filters "
                                                  "a task keeps (the paper's 10 %: 52 of 512)")
    decoupled: Optional[int] = Field(None, ge=1, description="conv layers decoupled, counted "
                                                             "from the last; default the "
                                                             "paper's (6 VGG-16, 3 AlexNet)")


class DecentralPretrainSpec(Strict):
    """The paper decouples a *pre-trained* model: before round 0 the baseline's model (the
    dense network, or every branch) is trained on examples set aside for it, and every node (and the centralized
    baseline) starts from it. Not charged to the simulated clock nor to the nodes'
    computation; the examples are removed from the nodes' data."""

    examples: int = Field(ge=1, description="training examples set aside (stratified) to "
                                            "pre-train the full model")
    epochs: int = Field(20, ge=1, le=1000)


class DecentralLearningSpec(Strict):
    """The real learning: data set, branched model and the local optimiser."""

    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    model: BranchedModelSpec = Field(default_factory=BranchedModelSpec)
    local: LocalSpec = Field(default_factory=lambda: LocalSpec(lr=0.1),
                             description="local SGD per round (epochs = the configured "
                                         "amount of local training before an exchange)")
    data: Literal["split", "duplicate"] = Field(
        "split", description="a class's training examples are 'split' evenly among the "
                             "nodes that train it (no example on two nodes), or each of "
                             "them holds all of them ('duplicate')")
    eval_every: int = Field(1, ge=1, description="measure local and global accuracy every "
                                                 "this many rounds (and after the last)")
    pretrain: Optional[DecentralPretrainSpec] = Field(
        None, description="start from a pre-trained full model, as the paper does; omitted: "
                          "every node starts from one seeded random initialisation")


class EdgesSpec(Strict):
    """An explicit collaboration graph."""

    edges: list[tuple[str, str]] = Field(min_length=1, description="pairs of training node "
                                                                   "names that exchange")


class DecentralizedSpec(Strict):
    """Sub-models on a collaboration graph, or one node training the full model."""

    mode: Literal["decentralized", "centralized"] = Field(
        "decentralized", description="'decentralized': every node trains its sub-model and "
                                     "averages with its neighbours; 'centralized': the node "
                                     "`central` trains the full model on all the training "
                                     "data (the paper's baseline)")
    workers: list[WorkerGroupSpec] = Field(min_length=1, description="every group of "
                                                                     "training nodes")
    central: Optional[str] = Field(None, description="centralized: the node that trains "
                                                     "(default: the first training node)")
    rounds: int = Field(ge=1, le=100_000, description="rounds (centralized: epochs) to run")
    topology: Union[Literal["ring", "mesh"], EdgesSpec] = Field(
        "ring", description="collaboration graph over the training nodes in their order: "
                            "'ring' (each node with the next, the last with the first), "
                            "'mesh' (every pair) or {edges: [[a, b], ...]}; it must be "
                            "connected")
    tasks_per_node: Optional[int] = Field(None, ge=1, description="m: classes per node "
                                                                  "(ring allocation)")
    overlap: int = Field(0, ge=0, description="n: classes a node shares with either ring "
                                              "neighbour; node k trains classes (k (m - n) "
                                              "+ j) mod C, j < m, and classes left over "
                                              "(the residue) go to the last node")
    tasks: Optional[dict[str, list[int]]] = Field(
        None, description="explicit classes per training node (name -> list), instead of "
                          "tasks_per_node and overlap")
    target_accuracy: Optional[Fraction] = Field(
        None, description="global accuracy whose first crossing gives the computation and "
                          "time to target; omitted with compare_central: the central "
                          "model's best accuracy")
    compare_central: bool = Field(
        False, description="also run the centralized baseline (same scenario and seed, mode "
                           "centralized) and report the computation reductions")
    baseline: Literal["dense", "branched"] = Field(
        "dense", description="the central baseline and the model decoupled: 'dense' (the "
                             "paper's: the original network, shared layers + a dense deep "
                             "layer + every logit, pre-trained, then each class keeps its "
                             "most important deep units as its branch) or 'branched' (the "
                             "central node trains every branch at once; nodes start from the "
                             "pre-trained branched model)")
    timed: Optional[DecentralTimedSpec] = Field(
        None, description="the model the deployment runs; omitted: the learned model is timed")
    dtype_bytes: int = Field(4, ge=1, le=8, description="bytes per parameter on the wire")
    learning: DecentralLearningSpec = Field(default_factory=DecentralLearningSpec)

    @model_validator(mode="after")
    def _alloc(self) -> "DecentralizedSpec":
        if self.mode == "decentralized":
            if (self.tasks_per_node is None) == (self.tasks is None):
                raise ValueError("give exactly one of tasks_per_node (with overlap) or tasks")
            if self.tasks is not None and self.overlap:
                raise ValueError("overlap goes with tasks_per_node, not with explicit tasks")
        elif self.compare_central:
            raise ValueError("compare_central is for mode 'decentralized'")
        return self


__all__ = ["DecentralizedSpec", "WorkerGroupSpec", "BranchedModelSpec",
           "DecentralLearningSpec", "EdgesSpec", "DecentralTimedSpec"]
