"""Learner.train_many (many clients' local SGD in one batched pass) against Learner.train one
client at a time, on the CPU.

Bit-identical for models made of linear layers (logreg, mlp, the LSTM): weights, step counts
and reported losses. Convolutions under vmap run as one grouped convolution whose kernels
round differently. Measured with these tests' clients (up to 3 steps each): the largest
difference is 3.0e-8 absolute, 9.0e-8 of the largest weight for the small CNN (with or
without momentum), 7.5e-8 for the FedAvg CNN, 1.2e-7 for ResNet-18 (three clients on the
digits): a few float32 ulps. The bound asserted, 1e-6 of the largest weight, leaves a
margin of about 10x for other CPUs' kernels while still catching any real difference (one
wrong step, a dropped example or a wrong momentum moves weights by ~1e-3). It holds for
these small models and images only: where a ReLU or max-pool input lies within rounding of
its kink, the two paths take that unit's gradient on different sides (ResNet-18 on 32x32
images differs by up to 2e-4 of the largest weight after one step), which is why the guide
calls the two paths different runs for convolutional models.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgesim.learning.data import Dataset, digits  # noqa: E402
from edgesim.learning.torch_learner import Learner  # noqa: E402
from edgesim.learning.vectorised import _Plan, nll_mean  # noqa: E402
from edgesim.scenario.learning_schema import LearningSpec, LocalSpec, ModelSpec  # noqa: E402

CONV_TOLERANCE = 1e-6       # of the largest weight; see the module docstring
# Lengths of every kind with batch 20: empty, shorter than a batch, whole batches, whole
# batches and a remainder, two clients sharing a remainder at different step counts.
LENGTHS = [37, 0, 5, 20, 60, 45, 25, 13, 40, 3]


@pytest.fixture(scope="module")
def data():
    return digits()


def _learner(data, model: ModelSpec, momentum=0.0, weight_decay=0.0, batch=20):
    spec = LearningSpec(model=model, local=LocalSpec(batch=batch, momentum=momentum,
                                                     weight_decay=weight_decay))
    return Learner(spec, data, seed=4)


def _orders(n_examples: int, lengths=LENGTHS, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.permutation(n_examples)[:n] for n in lengths]


def _compare(learner, orders, lr=0.05, mask=None):
    seq = [learner.train(learner.initial, o, lr, mask) for o in orders]
    vec = learner.train_many(learner.initial, orders, lr, mask)
    assert [v[1] for v in vec] == [s[1] for s in seq] == [-(-len(o) // 20) for o in orders]
    return seq, vec


@pytest.mark.parametrize("model,momentum,weight_decay,masked", [
    (ModelSpec(name="logreg"), 0.0, 0.0, False),
    (ModelSpec(name="mlp"), 0.0, 0.0, True),
    (ModelSpec(name="mlp", hidden=[32, 16]), 0.9, 1e-3, True),
])
def test_linear_models_bit_identical(data, model, momentum, weight_decay, masked):
    learner = _learner(data, model, momentum, weight_decay)
    mask = None
    if masked:
        mask = np.random.default_rng(1).random(learner.params) > 0.3
    seq, vec = _compare(learner, _orders(len(data)), mask=mask)
    for (ws, _, ls), (wv, _, lv) in zip(seq, vec):
        assert np.array_equal(ws, wv)
        assert ls == lv                      # the reported mean loss, to the last bit
    if masked:
        assert np.all(vec[4][0][~mask] == 0)
    assert np.array_equal(vec[1][0], learner.initial) and vec[1][2] == 0.0   # empty order


def test_lstm_bit_identical_with_momentum():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 6, size=(120, 7)).astype(np.float32)
    toy = Dataset(x, x[:, 0].astype(np.int64), 6, "tokens")
    learner = Learner(LearningSpec(model=ModelSpec(name="lstm", hidden=[12, 10], embedding=4),
                                   local=LocalSpec(momentum=0.5, weight_decay=1e-4)), toy, 4)
    seq, vec = _compare(learner, _orders(120, [33, 20, 7, 0, 50]))
    for (ws, _, ls), (wv, _, lv) in zip(seq, vec):
        assert np.array_equal(ws, wv) and ls == lv


@pytest.mark.parametrize("model,momentum,weight_decay", [
    (ModelSpec(name="cnn"), 0.0, 0.0),
    (ModelSpec(name="cnn"), 0.9, 1e-3),
    (ModelSpec(name="fedavg-cnn", hidden=[32]), 0.0, 0.0),
])
def test_convolutions_within_float32_rounding(data, model, momentum, weight_decay):
    learner = _learner(data, model, momentum, weight_decay)
    seq, vec = _compare(learner, _orders(len(data)))
    worst = 0.0
    for (ws, _, ls), (wv, _, lv) in zip(seq, vec):
        scale = float(np.abs(ws).max())
        worst = max(worst, float(np.abs(ws - wv).max()) / scale)
        assert abs(ls - lv) <= CONV_TOLERANCE * max(abs(ls), 1.0)
    assert worst <= CONV_TOLERANCE
    # The difference is rounding, not a different computation: the trained weights moved
    # away from the start by many orders of magnitude more.
    moved = float(np.abs(seq[4][0] - learner.initial).max())
    assert moved > 1e3 * worst * float(np.abs(seq[4][0]).max())


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_a_client_does_not_depend_on_who_trains_beside_it(data, name):
    learner = _learner(data, ModelSpec(name=name))
    orders = _orders(len(data))
    mine = orders[5]                                    # 45 examples: 2 full batches + 5
    alone = learner.train_many(learner.initial, [mine], 0.05)[0]
    for others in ([], orders[:5], orders[6:], orders[::-1]):
        crowd = list(others) + [mine]
        got = learner.train_many(learner.initial, crowd, 0.05)[len(crowd) - 1]
        assert np.array_equal(got[0], alone[0]) and got[2] == alone[2]


def test_plan_by_hand():
    plan = _Plan([0, 5, 20, 45, 60, 25], 20)
    assert plan.full == [0, 0, 1, 2, 3, 1] and plan.steps == [0, 1, 1, 3, 3, 2]
    assert plan.rank == [4, 3, 2, 5, 0, 1]            # by full batches, descending
    assert plan.prefix == [4, 2, 1]                   # clients with a 1st, 2nd, 3rd batch
    # Short batches of 5: client 1's only step (its momentum starts there), and clients 3
    # and 5 after 2 and 1 full batches: one pass for both (stack rows 1 and 3).
    assert plan.tails == [((5, False), [1, 3]), ((5, True), [5])]


@pytest.mark.parametrize("n", [1, 2, 15, 16, 17, 20, 31, 32, 33, 64, 100, 257])
def test_nll_mean_rounds_as_cross_entropy(n):
    rng = np.random.default_rng(n)
    logits = torch.from_numpy(rng.normal(size=(3, n, 7)).astype(np.float32) * 3)
    y = torch.from_numpy(rng.integers(0, 7, size=(3, n)))
    per = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(),
                                            reduction="none").view(3, n).numpy()
    got = nll_mean(per)
    for k in range(3):
        assert got[k] == float(torch.nn.functional.cross_entropy(logits[k], y[k]))
    # and it is the mean: within float32 rounding of numpy's float64 mean
    assert np.allclose(got, per.astype(np.float64).mean(axis=1), rtol=1e-6, atol=0)
