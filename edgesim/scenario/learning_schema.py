"""What a learning-in-the-loop training system learns: a real data set, its split among the
nodes, a small PyTorch model and the local optimiser (:mod:`edgesim.learning` runs them).

Shared by every system that trains for real on edgesim's simulated clock (FedAvg and FedAce
today), so that a data set, a partition and a model are written the same way in each.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, get_args

from pydantic import Field, field_validator, model_validator

from edgesim.scenario.strict import Strict
from edgesim.scenario.types import Fraction


#: A data set path that starts with this is relative to the shared data folder, not to the
#: scenario file (edgesim.learning.datasets.paths), so it is never made absolute.
SHARED_PREFIX = "shared:"

DatasetName = Literal["digits", "file", "cifar10", "cifar100", "femnist", "shakespeare",
                      "speech-commands", "synthetic", "difficulty"]
#: The data sets by name. Kept here, not read from edgesim.learning (the scenario layer sits
#: below it); tests/test_datasets.py checks them against the readers.
DATASETS = get_args(DatasetName)
#: Sets read from the file or folder in `path`, and what that path is.
PATH_SETS = {"cifar10": "the folder cifar-10-batches-py (or the .npz extract)",
             "cifar100": "the folder cifar-100-python",
             "femnist": "LEAF's folder with train/ and test/",
             "shakespeare": "LEAF's folder with train/ and test/",
             "speech-commands": "a .npz of features"}
#: Sets that come with their own test split, which replaces `holdout`.
OWN_TEST = ("cifar10", "cifar100", "femnist", "shakespeare")
#: Sets read with their writers (speakers), of which `writers` keeps the first few.
#: (synthetic's devices are writers too, but its `devices` says how many there are.)
WRITER_SETS = ("femnist", "shakespeare", "speech-commands")



#: Units of a layer or channels of a convolution: bounded, since a width of 2**40 once reached
#: torch as a TypeError / MemoryError traceback.
Width = Annotated[int, Field(ge=1, le=65_536)]

#: Where learned models and their data live; every learning system offers the same choice.
LearningDevice = Literal["cpu", "cuda", "auto"]


def device_field() -> Any:
    """The `device` key of a learning block (cpu by default)."""
    return Field("cpu", description="where the learned models and their data live: 'cpu' (one "
                                    "seed, the same weights bit for bit on one machine and "
                                    "PyTorch build), 'cuda' (a GPU: deterministic kernels where "
                                    "CUDA has them, no TF32; agrees with the CPU within float32 "
                                    "rounding, not bit for bit), 'auto' (cuda when PyTorch sees "
                                    "a GPU)")


class DatasetSpec(Strict):
    """The examples and labels. `digits` is scikit-learn's bundled handwritten digits (1,797
    8x8 images, 10 classes; no download); `file` reads your own arrays; `cifar10`, `cifar100`,
    `femnist`, `shakespeare` and `speech-commands` read the public sets from their standard
    files in `path` (edgesim never downloads them); `synthetic` generates FedProx's
    Synthetic(alpha, beta); `difficulty` is a `base` set with known label noise and class
    imbalance (docs/guides/datasets.md)."""

    name: DatasetName = Field(
        "digits", description="'digits', 'file', 'cifar10', 'cifar100', 'femnist', "
                              "'shakespeare', 'speech-commands', 'synthetic' or 'difficulty'")
    file: Optional[str] = Field(None, description="name: file: a .npz with arrays 'x' (examples,"
                                                  " any shape after the first axis) and 'y' "
                                                  "(integer labels 0..classes-1), or a .pt "
                                                  "holding a dict with tensors 'x' and 'y'; "
                                                  "relative to the scenario file")
    path: Optional[str] = Field(
        None, description="the files of cifar10 (folder cifar-10-batches-py, or a .npz with "
                          "x_train, y_train, x_test, y_test as the shared extract), cifar100 "
                          "(folder cifar-100-python), femnist and shakespeare (LEAF's folder "
                          "with train/ and test/) or speech-commands (a .npz of features): "
                          "relative to the scenario file, or 'shared:REST' for REST under the "
                          "shared data folder ($EDGESIM_SHARED, else ../shared beside the "
                          "project)")
    holdout: Fraction = Field(0.2, description="share of the examples held out (stratified by "
                                               "label; per writer for a set of writers) to "
                                               "measure accuracy and loss each round; sets "
                                               "with their own test split use it instead")
    limit: Optional[int] = Field(None, ge=10, description="use only the first this many "
                                                           "examples (after a seeded shuffle)")
    writers: Optional[int] = Field(None, ge=1, description="sets with writers (femnist, "
                                                           "shakespeare, speech-commands with "
                                                           "speakers): keep only the first "
                                                           "this many writers, with their "
                                                           "test examples")
    alpha: float = Field(1.0, ge=0, le=100, description="synthetic: spread of the devices' "
                                                        "models, u_k ~ N(0, alpha)")
    beta: float = Field(1.0, ge=0, le=100, description="synthetic: spread of the devices' "
                                                       "inputs, B_k ~ N(0, beta)")
    devices: int = Field(30, ge=1, le=100000, description="synthetic: number of devices "
                                                          "(FedProx: 30), each a writer")
    base: DatasetName = Field("digits", description="difficulty: the set made harder (its "
                                                    "own keys, e.g. path, apply to it)")
    noise: Fraction = Field(0.0, description="difficulty: probability that a training label "
                                             "is replaced by another class, uniformly")
    imbalance: float = Field(1.0, ge=1, le=1e6, description="difficulty: max/min training "
                                                            "examples per class, counts "
                                                            "decaying exponentially from "
                                                            "class 0")

    @model_validator(mode="after")
    def _file(self) -> "DatasetSpec":
        given = self.model_fields_set
        own = self.base if self.name == "difficulty" else self.name
        if own == "difficulty":
            raise ValueError("base cannot be 'difficulty' itself; name the set to make harder")
        if (own == "file") != (self.file is not None):
            raise ValueError("give 'file' exactly when name is 'file'")
        if not 0 < self.holdout < 1:
            raise ValueError(f"holdout must be strictly between 0 and 1, got {self.holdout}")
        if own in PATH_SETS and self.path is None:
            raise ValueError(f"{own} reads {PATH_SETS[own]}: give its 'path' (relative to the "
                             "scenario file, or shared:...); edgesim never downloads")
        if own == "file" and self.path is not None:
            raise ValueError("name: file reads its arrays from 'file', not 'path'")
        if own not in PATH_SETS and self.path is not None:
            raise ValueError(f"'path' is for {', '.join(PATH_SETS)}; {own} reads no files")
        for key in ("alpha", "beta", "devices"):
            if key in given and own != "synthetic":
                raise ValueError(f"'{key}' is a key of name: synthetic, not of {own}")
        for key in ("base", "noise", "imbalance"):
            if key in given and self.name != "difficulty":
                raise ValueError(f"'{key}' is a key of name: difficulty, not of {self.name}")
        if self.writers is not None and own == "synthetic":
            raise ValueError("synthetic's writers are its devices: give 'devices', not "
                             "'writers'")
        if self.writers is not None and own not in WRITER_SETS:
            raise ValueError(f"'writers' is for sets read with their writers "
                             f"({', '.join(WRITER_SETS)}); {own} has none")
        if "holdout" in given and own in OWN_TEST:
            raise ValueError(f"{own} comes with its own test split, which is the held-out "
                             "set: drop 'holdout'")
        return self


class PartitionSpec(Strict):
    """How the training examples are split among the clients (their private shards)."""

    kind: Literal["dirichlet", "iid", "natural"] = Field(
        "dirichlet", description="'dirichlet': label skew, each class spread over the clients "
                                 "with proportions ~ Dir(alpha), as FL papers partition CIFAR "
                                 "and speech commands (LDA); 'iid': a seeded even split; "
                                 "'natural': the set's own writers (femnist, shakespeare, "
                                 "synthetic's devices, speech-commands' speakers), writer k "
                                 "to client k, as many clients as writers")
    alpha: float = Field(0.5, gt=0, le=1e6, description="Dirichlet concentration: small is "
                                                        "skewed (0.1), large is near iid (100)")
    min_samples: int = Field(2, ge=1, description="redraw until every client holds at least "
                                                  "this many examples ('natural': every "
                                                  "writer must hold them)")

    @model_validator(mode="after")
    def _natural(self) -> "PartitionSpec":
        if self.kind == "natural" and "alpha" in self.model_fields_set:
            raise ValueError("'alpha' is the Dirichlet concentration; kind 'natural' takes "
                             "the writers as they are")
        return self


# Default `hidden` per model: the mlp's layers, the FedAvg CNN's and VGG-11's head, the
# character LSTM's layers (None for a model that has no such layers).
HIDDEN = {"mlp": [64], "fedavg-cnn": [512], "vgg11": [512], "lstm": [256, 256]}


class ModelSpec(Strict):
    """A classifier: the small ones (logreg, mlp, cnn) for the bundled scenarios, or a model
    of the federated-learning papers (fedavg-cnn, resnet18, vgg11, lstm)."""

    name: Literal["logreg", "mlp", "cnn", "fedavg-cnn", "resnet18", "vgg11", "lstm"] = Field(
        "mlp", description="'logreg': one linear layer; 'mlp': ReLU layers of `hidden` units; "
                           "'cnn': 3x3 conv + ReLU + 2x2 max-pool per entry of `channels`, "
                           "then a linear layer (image data: x of shape (n, H, W) or "
                           "(n, C, H, W)); 'fedavg-cnn': FedAvg's CNN (McMahan et al. 2017: "
                           "5x5 convs of 32 and 64 channels, each with 2x2 max-pool, `hidden` "
                           "[512] ReLU units; images of at least 4x4); 'resnet18': CIFAR "
                           "ResNet-18 with GroupNorm of `groups` (Hsieh et al. 2020); 'vgg11': "
                           "CIFAR VGG-11 with a `hidden` [512] head (images of at least "
                           "32x32); 'lstm': LEAF's Shakespeare character LSTM (an `embedding` "
                           "of integer tokens 0..vocab-1 stored as float, x of shape (n, T), "
                           "then LSTM layers of `hidden` [256, 256] units)")
    hidden: Optional[list[Width]] = Field(
        None, description="units per layer: mlp's ReLU layers ([64]), the fully connected "
                          "head of fedavg-cnn and vgg11 ([512]), lstm's layers ([256, 256]); "
                          "omitted: the model's default")
    channels: list[Width] = Field(default_factory=lambda: [8, 16], description="cnn: channels "
                                                                              "per conv layer")
    groups: int = Field(2, ge=1, description="resnet18: groups of each GroupNorm (must divide "
                                             "64, its narrowest layer)")
    embedding: int = Field(8, ge=1, description="lstm: width of the token embedding")
    vocab: Optional[int] = Field(None, ge=2, description="lstm: distinct tokens; omitted: the "
                                                         "number of classes (next-character "
                                                         "prediction)")

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: int) -> int:
        if 64 % v:
            raise ValueError(f"must divide 64 (ResNet-18's narrowest layer has 64 channels): "
                             f"one of 1, 2, 4, 8, 16, 32, 64, got {v}")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> "ModelSpec":
        if self.hidden is None:
            self.hidden = list(HIDDEN.get(self.name, HIDDEN["mlp"]))
        if any(h < 1 for h in self.hidden + self.channels):
            raise ValueError("every entry of hidden and channels must be >= 1")
        if self.name == "lstm" and not self.hidden:
            raise ValueError("lstm needs at least one layer in hidden")
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
    device: LearningDevice = device_field()
    vectorise: bool = Field(
        False, description="train a round's arrived clients together, one batched pass per "
                           "SGD step (torch.func.vmap over their stacked weights; "
                           "Learner.train_many): on the CPU weights and losses bit-identical "
                           "to one client at a time for logreg, mlp and lstm; with "
                           "convolutions rounding differs (~1e-7), and a ReLU or max-pool "
                           "near its kink can amplify it (up to 2e-4 after one ResNet-18 "
                           "step), so results differ from vectorise false. Pays off with "
                           "tens of clients a round of small models (7.6-8.5x at 100 on one "
                           "CPU core), or on a GPU; slower for the bundled 10-client rounds")


__all__ = ["LearningSpec", "DatasetSpec", "PartitionSpec", "ModelSpec", "LocalSpec", "DATASETS"]
