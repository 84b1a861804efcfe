"""The federated-learning papers' models (edgesim.learning.models): parameter counts and FLOPs
against closed forms written out from the layer sizes, located errors for data a model cannot
read, and that each one trains."""
from __future__ import annotations

import numpy as np
import pytest

import edgesim
from edgesim.errors import ScenarioError
from edgesim.learning.data import Dataset

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from edgesim.learning.torch_learner import Learner  # noqa: E402
from edgesim.scenario.learning_schema import LearningSpec, LocalSpec, ModelSpec  # noqa: E402


def learner(model: ModelSpec, shape: tuple, classes: int, n: int = 4, tokens: int = 0,
            local: LocalSpec | None = None) -> Learner:
    rng = np.random.default_rng(0)
    if tokens:
        x = rng.integers(0, tokens, size=(n, *shape)).astype(np.float32)
    else:
        x = rng.random(size=(n, *shape), dtype=np.float32)
    y = np.arange(n) % classes
    spec = LearningSpec(model=model, local=local or LocalSpec())
    return Learner(spec, Dataset(x, y, classes, "toy"), seed=1)


# ------------------------------------------------------------------ FedAvg CNN
def fedavg_cnn_params(chans: int, h: int, w: int, hidden: int, classes: int) -> int:
    conv1 = 5 * 5 * chans * 32 + 32
    conv2 = 5 * 5 * 32 * 64 + 64
    fc = 64 * (h // 4) * (w // 4) * hidden + hidden      # 'same' padding, two 2x2 pools
    return conv1 + conv2 + fc + hidden * classes + classes


def test_fedavg_cnn_parameters_closed_form():
    # McMahan et al. 2017 give 1,663,370 parameters for their MNIST CNN.
    assert fedavg_cnn_params(1, 28, 28, 512, 10) == 1_663_370
    assert learner(ModelSpec(name="fedavg-cnn"), (28, 28), 10).params == 1_663_370
    # 62 classes (FEMNIST) with the paper's 512 units; with 2048 units it is LEAF's FEMNIST
    # CNN, the 6,603,710 often quoted for "the FedAvg CNN" on FEMNIST.
    assert fedavg_cnn_params(1, 28, 28, 512, 62) == 1_690_046
    assert learner(ModelSpec(name="fedavg-cnn"), (28, 28), 62).params == 1_690_046
    assert fedavg_cnn_params(1, 28, 28, 2048, 62) == 6_603_710
    assert learner(ModelSpec(name="fedavg-cnn", hidden=[2048]), (28, 28), 62).params \
        == 6_603_710
    # Colour images: (C, H, W).
    assert learner(ModelSpec(name="fedavg-cnn"), (3, 32, 32), 10).params \
        == fedavg_cnn_params(3, 32, 32, 512, 10)


def test_fedavg_cnn_flops_closed_form():
    L = learner(ModelSpec(name="fedavg-cnn"), (28, 28), 10)
    conv1 = 2 * 25 * 1 * (32 * 28 * 28)
    conv2 = 2 * 25 * 32 * (64 * 14 * 14)
    assert L.flops_per_example == conv1 + conv2 + 2 * 3136 * 512 + 2 * 512 * 10
    assert L.flops_per_example == 24_546_304
    # Prunable: the four weight matrices and kernels, never a bias.
    assert L.prunable.sum() == 25 * 32 + 25 * 32 * 64 + 3136 * 512 + 512 * 10


# ------------------------------------------------------------------ ResNet-18 (GroupNorm)
def resnet18_params(chans: int, classes: int) -> int:
    n = 9 * chans * 64 + 2 * 64                     # stem conv (no bias) + GroupNorm
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        n += 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout      # block 1
        if stride != 1 or cin != cout:
            n += cin * cout + 2 * cout                                  # 1x1 projection
        n += 2 * (9 * cout * cout + 2 * cout)                            # block 2
        cin = cout
    return n + 512 * classes + classes


def test_resnet18_parameters_closed_form():
    # The CIFAR ResNet-18 has 11,173,962 parameters with BatchNorm; GroupNorm has the same
    # two per channel.
    assert resnet18_params(3, 10) == 11_173_962
    L = learner(ModelSpec(name="resnet18"), (3, 32, 32), 10, n=2)
    assert L.params == 11_173_962
    norms = [m for m in L.model.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(norms) == 1 + 8 * 2 + 3 and all(m.num_groups == 2 for m in norms)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in L.model.modules())
    assert not list(L.model.buffers())              # a model is its flat parameter vector
    # The global pool makes the count independent of the image size; groups is a key.
    small = learner(ModelSpec(name="resnet18", groups=8), (8, 8), 62, n=2)
    assert small.params == resnet18_params(1, 62)
    assert {m.num_groups for m in small.model.modules()
            if isinstance(m, torch.nn.GroupNorm)} == {8}


# ------------------------------------------------------------------ VGG-11
def test_vgg11_parameters_closed_form():
    widths = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512),
              (512, 512), (512, 512)]
    convs = sum(9 * a * b + b for a, b in widths)
    assert convs == 9_220_480
    head = 512 * 1 * 1 * 512 + 512 + 512 * 10 + 10   # 32x32 after five pools: 1x1
    L = learner(ModelSpec(name="vgg11"), (3, 32, 32), 10, n=2)
    assert L.params == convs + head == 9_488_266
    big = learner(ModelSpec(name="vgg11", hidden=[256, 128]), (1, 64, 64), 5, n=2)
    assert big.params == (convs - 9 * 3 * 64 + 9 * 1 * 64 + 512 * 2 * 2 * 256 + 256
                          + 256 * 128 + 128 + 128 * 5 + 5)


# ------------------------------------------------------------------ LSTM
def lstm_params(vocab: int, emb: int, hidden: list[int], classes: int) -> int:
    n, width = vocab * emb, emb
    for h in hidden:
        n += 4 * h * (width + h) + 4 * h        # input and recurrent weights, one bias
        width = h
    return n + width * classes + classes


def test_lstm_parameters_and_flops_closed_form():
    # LEAF's Shakespeare model: 80 characters, 8-d embedding, two LSTM layers of 256.
    assert lstm_params(80, 8, [256, 256], 80) == 817_872
    L = learner(ModelSpec(name="lstm"), (80,), 80, tokens=80)
    assert L.params == 817_872
    small = learner(ModelSpec(name="lstm", hidden=[16], embedding=4, vocab=30), (5,), 3,
                    tokens=30)
    assert small.params == lstm_params(30, 4, [16], 3) == 30 * 4 + 4 * 16 * 20 + 64 + 51
    # Per step: 4 gates x 16 units x (4 + 16) multiply-adds, 5 steps; then the output layer.
    assert small.flops_per_example == 2 * 4 * 16 * (4 + 16) * 5 + 2 * 16 * 3


def test_lstm_learns_the_token_before_last():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(200, 6)).astype(np.float32)
    y = x[:, -2].astype(np.int64)     # the label is one step back: the recurrence carries it
    spec = LearningSpec(model=ModelSpec(name="lstm", hidden=[24], embedding=4),
                        local=LocalSpec(batch=20, momentum=0.9))
    L = Learner(spec, Dataset(x, y, 4, "tokens"), seed=1)
    before, _ = L.evaluate(L.initial, np.arange(200))
    w = L.initial
    for epoch in range(25):
        w, steps, _ = L.train(w, rng.permutation(200), 0.1)
        assert steps == 10
    after, acc = L.evaluate(w, np.arange(200))
    assert before > 1.3 and after < 0.2 * before and acc > 0.95      # from ln 4 = 1.386


@pytest.mark.parametrize("model,shape", [
    (ModelSpec(name="fedavg-cnn", hidden=[16]), (8, 8)),
    (ModelSpec(name="resnet18"), (8, 8)),
    (ModelSpec(name="vgg11", hidden=[8]), (32, 32)),
])
def test_image_models_train(model, shape):
    L = learner(model, shape, 3, n=12, local=LocalSpec(batch=5))
    w, steps, loss = L.train(L.initial, np.arange(12), 0.01)
    assert steps == 3 and np.isfinite(loss) and loss > 0
    assert w.shape == (L.params,) and np.all(np.isfinite(w))
    assert not np.array_equal(w, L.initial)


# ------------------------------------------------------------------ located errors
FED = "scenarios/fedace/fedavg.yaml"


def _problem(*sets: str) -> str:
    with pytest.raises(ScenarioError) as exc:
        edgesim.simulation(edgesim.load(FED, list(sets))).check()
    return str(exc.value)


@pytest.mark.parametrize("sets,expected", [
    (["model.name=vgg11"], ["training.federated.learning.model:", "32x32", "(8, 8)", "'cnn'"]),
    (["model.name=lstm"], ["training.federated.learning.model:", "(n, T)", "(8, 8)"]),
    (["model.name=resnet18", "model.groups=3"],
     ["training.federated.learning.model.groups", "must divide 64", "1, 2, 4"]),
    (["model.name=transformer"], ["training.federated.learning.model.name", "fedavg-cnn"]),
])
def test_located_errors(sets, expected):
    msg = _problem(*(f"training.federated.learning.{s}" for s in sets))
    assert all(e in msg for e in expected), msg
    assert "Traceback" not in msg


def test_lstm_tokens_must_be_integers_below_the_vocabulary(tmp_path):
    x = np.tile(np.arange(6, dtype=np.float32), (200, 1))
    y = np.arange(200) % 4
    np.savez(tmp_path / "frac.npz", x=x + 0.5, y=y)
    np.savez(tmp_path / "big.npz", x=x, y=y)         # tokens up to 5, 4 classes
    for name, found in (("frac.npz", "found 0.5"), ("big.npz", "found 4")):
        msg = _problem("training.federated.learning.dataset.name=file",
                       f"training.federated.learning.dataset.file={tmp_path / name}",
                       "training.federated.learning.model.name=lstm",
                       "training.federated.learning.partition.kind=iid")
        assert "training.federated.learning.model" in msg and found in msg
        assert "vocab" in msg
