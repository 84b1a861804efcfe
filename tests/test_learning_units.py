"""Unit tests of edgesim.learning against hand computations and the FedAce equations (3.2-3.8).

Every expected value is written out or derived from a closed form in the test, never taken
from the function under test.
"""
import math

import numpy as np
import pytest

from edgesim.learning.compression import (MaskCache, decode_last_bit, encode_last_bit,
                                          local_mask, model_bytes, sparsity_at, update_bytes,
                                          vote)
from edgesim.learning.data import (Dataset, DatasetError, digits, holdout_split,
                                   label_histogram, partition, read_file)
from edgesim.learning.importance import (ImportanceCache, client_importance,
                                         draw_without_replacement, example_order, staleness)
from edgesim.learning.server import ServerOptimizer, weighted_average

f32 = np.float32


# ------------------------------------------------------------------ 1. aggregation
def test_weighted_average_by_hand():
    a, b, c = (np.array(v, dtype=f32) for v in ([1, 0, -2], [0, 2, 4], [1, 1, 1]))
    out = weighted_average([a, b, c], [10, 30, 60])
    # (10*1+60*1)/100, (30*2+60*1)/100, (-20+120+60)/100
    assert out.dtype == f32
    assert np.array_equal(out, np.array([0.7, 1.2, 1.6], dtype=f32))


def test_server_average_and_sgd():
    w = np.array([1, 2, 3], dtype=f32)
    avg = np.array([0, 1, 5], dtype=f32)
    assert np.array_equal(ServerOptimizer("average", 0.5).step(w, avg), avg)
    # g = W - avg = [1, 1, -2]; W - 0.5 g = [0.5, 1.5, 4]
    assert np.array_equal(ServerOptimizer("sgd", 0.5).step(w, avg),
                          np.array([0.5, 1.5, 4.0], dtype=f32))


def test_server_adam_two_steps():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    opt = ServerOptimizer("adam", lr, (b1, b2), eps)
    w0 = np.array([1.0, 2.0, 3.0], dtype=f32)
    avg1 = np.array([0.5, 2.5, 3.0], dtype=f32)
    w1 = opt.step(w0, avg1)
    # Bias correction makes mhat = g, vhat = g^2: the step is lr * g/(|g|+eps) ~ lr sign(g).
    g1 = [0.5, -0.5, 0.0]
    exp1 = [w - lr * g / (abs(g) + eps) for w, g in zip([1.0, 2.0, 3.0], g1)]
    assert np.allclose(w1, exp1, rtol=0, atol=1e-6)
    assert np.allclose(w1, [0.9, 2.1, 3.0], atol=1e-6)
    # Second step: the Adam recursion written out.
    avg2 = np.array([1.0, 2.0, 2.0], dtype=f32)
    w1d = [float(x) for x in w1]
    g2 = [w - a for w, a in zip(w1d, [1.0, 2.0, 2.0])]
    exp2 = []
    for wi, ga, gb in zip(w1d, g1, g2):
        m = b1 * ((1 - b1) * ga) + (1 - b1) * gb
        v = b2 * ((1 - b2) * ga * ga) + (1 - b2) * gb * gb
        mhat, vhat = m / (1 - b1 ** 2), v / (1 - b2 ** 2)
        exp2.append(wi - lr * mhat / (math.sqrt(vhat) + eps))
    assert np.allclose(opt.step(w1, avg2), exp2, rtol=0, atol=1e-6)


# ------------------------------------------------------------------ 2. mask voting (Eq. 3.7)
MASKS = [np.array(m, dtype=bool) for m in ([1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0],
                                            [1, 0, 1, 0, 1, 0], [1, 1, 0, 0, 0, 0])]
# counts per weight: [4, 3, 2, 1, 1, 0]


def test_vote_by_hand():
    assert np.array_equal(vote(MASKS, 0.5), [True, True, True, False, False, False])
    assert np.array_equal(vote(MASKS, 0.75), [True, True, False, False, False, False])
    assert np.array_equal(vote(MASKS, 1.0), [True, False, False, False, False, False])


def test_mask_cache_every_two_rounds():
    cache = MaskCache(every=2, threshold=0.5)
    cache.add(MASKS[:2])
    assert cache.end_round() is None
    cache.add(MASKS[2:])
    # Over all four masks (need 2); round 2's masks alone would also keep position 4.
    assert np.array_equal(cache.end_round(), [True, True, True, False, False, False])
    assert cache.masks == []
    cache.add(MASKS[:1])
    assert cache.end_round() is None  # round 3: not a voting round


# ------------------------------------------------------------------ 3. local mask (Eq. 3.6)
# Two layers: W1 (0:4), b1 (4:5), W2 (5:9), b2 (9:10); biases tiny but never prunable.
W = np.array([0.5, -0.1, 0.3, -0.4, 0.01, 2.0, -3.0, 0.2, 1.0, 0.001], dtype=f32)
PRUNABLE = np.array([1, 1, 1, 1, 0, 1, 1, 1, 1, 0], dtype=bool)
LAYERS = [slice(0, 4), slice(4, 5), slice(5, 9), slice(9, 10)]


def test_local_mask_layer_scope():
    keep = local_mask(W, PRUNABLE, LAYERS, 0.5, "layer")
    # W1 loses -0.1, 0.3; W2 loses 0.2, 1.0.
    assert np.array_equal(keep, [1, 0, 0, 1, 1, 1, 1, 0, 0, 1])


def test_local_mask_model_scope():
    keep = local_mask(W, PRUNABLE, LAYERS, 0.5, "model")
    # Global 4 smallest prunable magnitudes: 0.1, 0.2, 0.3, 0.4.
    assert np.array_equal(keep, [1, 0, 0, 0, 1, 1, 1, 0, 1, 1])


def test_local_mask_zero_sparsity_keeps_all():
    for scope in ("layer", "model"):
        assert local_mask(W, PRUNABLE, LAYERS, 0.0, scope).all()


# ------------------------------------------------------------------ 4. sparsity schedule
def test_sparsity_schedules():
    final, warmup, ramp = 0.8, 3, 2.0
    assert all(sparsity_at(r, final, "constant", warmup, ramp) == final for r in range(10))
    assert [sparsity_at(r, final, "warmup", warmup, ramp) for r in range(5)] == \
        [0.0, 0.0, 0.0, 0.8, 0.8]
    exp = [sparsity_at(r, final, "exponential", warmup, ramp) for r in range(60)]
    assert exp[:warmup] == [0.0] * warmup
    for r in range(warmup, 60):
        assert exp[r] == pytest.approx(final * (1 - math.exp(-(r - warmup + 1) / ramp)),
                                       abs=1e-12)
    assert exp[3] == pytest.approx(0.8 * (1 - math.exp(-0.5)))
    assert all(b >= a for a, b in zip(exp, exp[1:]))
    assert final - exp[-1] < 1e-9
    with pytest.raises(ValueError):
        sparsity_at(5, final, "linear", warmup, ramp)


# ------------------------------------------------------------------ 5. bytes on the wire
def test_bytes_closed_form():
    P = 4810
    nnz = round(0.3 * P)
    assert nnz == 1443
    # 1443*4 + ceil(4810/8) = 5772 + 602
    assert model_bytes(nnz, P, 4) == 6374
    assert model_bytes(P, P, 4) == 19240            # sparse form is bigger: dense
    assert model_bytes(4659, P, 4) == 19238         # 18636 + 602 < 19240
    assert model_bytes(4660, P, 4) == 19240         # 18640 + 602 > 19240
    assert update_bytes(nnz, P, 4, "last-bit", True) == 5772
    assert update_bytes(nnz, P, 4, "bitmap", True) == 5772 + 181  # ceil(1443/8)
    assert update_bytes(nnz, P, 4, "bitmap", False) == 19240
    assert update_bytes(nnz, P, 4, "last-bit", False) == 19240


# ------------------------------------------------------------------ 6. last-bit encoding
def test_last_bit_round_trip():
    rng = np.random.default_rng(6)
    vals = np.concatenate([rng.normal(size=500) * 10.0 ** rng.integers(-8, 8, 500),
                           [0.0, -0.0, 1.0, -2.0, 0.5]]).astype(f32)
    mask = rng.random(len(vals)) < 0.5
    orig = vals.copy()
    enc = encode_last_bit(vals, mask)
    assert enc.dtype == f32
    assert np.array_equal(decode_last_bit(enc), mask)
    diff = np.abs(enc.astype(np.float64) - vals.astype(np.float64))
    assert np.all(diff <= np.abs(np.spacing(vals)).astype(np.float64))
    ob, eb = vals.view(np.uint32), enc.view(np.uint32)
    assert np.all((ob ^ eb) & np.uint32(0xFFFFFFFE) == 0)   # only the lowest bit changes
    assert np.array_equal(vals.view(np.uint32), orig.view(np.uint32))  # input untouched


# ------------------------------------------------------------------ 7. importance (Eq. 3.3-3.5)
def test_staleness_and_client_importance():
    w = np.array([3.0, 4.0])
    assert staleness(np.array([3.0, 5.0]), w, 2.0) == pytest.approx(math.exp(0.4))
    assert staleness(w.copy(), w, 2.0) == 1.0
    assert client_importance(0.8, 30, 200) == pytest.approx(0.12)


def test_importance_cache_weights_and_order():
    cache = ImportanceCache([10, 30, 60], beta=2.0)
    cur = np.array([3.0, 4.0])
    models = {1: np.array([3.0, 5.0]), 2: cur}
    cache.update(0, 2.0, version=1, now=5.0)
    cache.update(1, 1.0, version=2, now=3.0)
    got = cache.weights([0, 1, 2], models, cur)
    i0 = 2.0 * 10 / 100 * math.exp(2.0 * 0.2)   # stale by ratio 0.2
    i1 = 1.0 * 30 / 100 * 1.0                   # measured on the current model
    assert got == pytest.approx([i0, i1, (i0 + i1) / 2])
    assert np.array_equal(ImportanceCache([1, 1], 1.0).weights([0, 1], {}, cur), [1.0, 1.0])
    assert cache.least_recent([0, 1, 2], 3) == [2, 1, 0]
    assert cache.least_recent([1, 0], 1) == [1]


# ------------------------------------------------------------------ 8. sampling without replacement
def test_draw_without_replacement_zero_weights():
    rng = np.random.default_rng(8)
    for _ in range(200):
        d = draw_without_replacement(rng, np.array([1.0, 3.0, 2.0, 5.0, 1.0]), 4)
        assert len(set(d.tolist())) == 4
        two = draw_without_replacement(rng, np.array([0, 0, 1, 1.0]), 2)
        assert set(two.tolist()) == {2, 3}
        three = draw_without_replacement(rng, np.array([0, 0, 1, 1.0]), 3)
        assert set(three[:2].tolist()) == {2, 3} and three[2] in (0, 1)
    with pytest.raises(ValueError):
        draw_without_replacement(rng, np.ones(3), 4)


def test_draw_single_frequencies():
    rng = np.random.default_rng(81)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    N = 20000
    counts = np.bincount([draw_without_replacement(rng, w, 1)[0] for _ in range(N)],
                         minlength=4)
    p = w / w.sum()
    se = np.sqrt(p * (1 - p) / N)
    assert np.all(np.abs(counts / N - p) < 4 * se), (counts / N, p)


def test_draw_pair_successive_sampling():
    rng = np.random.default_rng(82)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    p = w / w.sum()
    # P(3 drawn in two) = p3 + sum_{j != 3} p_j p3 / (1 - p_j)
    P = p[3] + sum(p[j] * p[3] / (1 - p[j]) for j in range(3))
    assert P == pytest.approx(0.4 + 0.1 * 0.4 / 0.9 + 0.2 * 0.4 / 0.8 + 0.3 * 0.4 / 0.7)
    N = 20000
    hits = sum(3 in draw_without_replacement(rng, w, 2) for _ in range(N))
    assert abs(hits / N - P) < 4 * math.sqrt(P * (1 - P) / N)


# ------------------------------------------------------------------ 9. example order (Eq. 3.2)
def test_example_order_uniform():
    rng = np.random.default_rng(9)
    o = example_order(rng, None, 10, 6)
    assert len(o) == 6 and len(set(o.tolist())) == 6 and set(o.tolist()) <= set(range(10))
    assert sorted(example_order(rng, None, 10, 10).tolist()) == list(range(10))


def test_example_order_by_loss():
    rng = np.random.default_rng(91)
    losses = np.array([1.0, 1.0, 1.0, 1.0, 6.0])
    N = 5000
    first = np.array([example_order(rng, losses, 5, 5)[0] for _ in range(N)])
    # The high-loss example comes first with p = 6/10, far above the uniform 1/5.
    share = np.mean(first == 4)
    assert abs(share - 0.6) < 4 * math.sqrt(0.6 * 0.4 / N)
    pos_hi = np.array([np.flatnonzero(example_order(rng, losses, 5, 5) == 4)[0]
                       for _ in range(N)])
    assert pos_hi.mean() + 4 * pos_hi.std() / math.sqrt(N) < 2.0   # 2.0 = uniform mean
    for _ in range(100):
        assert example_order(rng, np.array([0.5, 0.0, 2.0, 1.0]), 4, 4)[-1] == 1


# ------------------------------------------------------------------ 10. data
LABELS = np.repeat(np.arange(10), 100)


def test_dirichlet_partition_covers_and_skews():
    def skew(alpha, seed):
        shards = partition(LABELS, 10, "dirichlet", alpha, 5, np.random.default_rng(seed))
        assert np.array_equal(np.sort(np.concatenate(shards)), np.arange(len(LABELS)))
        assert min(len(s) for s in shards) >= 5
        h = label_histogram(LABELS, shards, 10)
        return h.max(1) / h.sum(1)

    flat = skew(100.0, 1)
    steep = skew(0.1, 1)
    assert flat.max() < 0.2            # near the uniform share 0.1 for every client
    assert steep.mean() > flat.mean() + 0.25


def test_iid_partition_sizes():
    shards = partition(np.arange(1003) % 7, 10, "iid", 1.0, 1, np.random.default_rng(2))
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 1003
    assert np.array_equal(np.sort(np.concatenate(shards)), np.arange(1003))


def test_holdout_split_stratified():
    labels = np.repeat([0, 1, 2, 3], [10, 7, 3, 25])
    train, test = holdout_split(labels, 0.2, np.random.default_rng(3))
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    assert not set(train.tolist()) & set(test.tolist())
    for c, count in enumerate([10, 7, 3, 25]):
        n_test = int(np.sum(labels[test] == c))
        assert n_test >= 1 and np.sum(labels[train] == c) >= 1
        assert abs(n_test - round(0.2 * count)) <= 1


def test_partition_too_small():
    with pytest.raises(DatasetError, match=r"5 training examples cannot give 3 clients 2 each"):
        partition(np.array([0, 1, 0, 1, 0]), 3, "dirichlet", 0.5, 2, np.random.default_rng(0))


def test_read_file(tmp_path):
    good = tmp_path / "d.npz"
    np.savez(good, x=np.zeros((4, 3)), y=np.array([0, 1, 1, 0]))
    d = read_file(good)
    assert d.x.shape == (4, 3) and d.x.dtype == f32 and d.classes == 2 and len(d) == 4
    nox = tmp_path / "noy.npz"
    np.savez(nox, x=np.zeros((4, 3)))
    with pytest.raises(DatasetError, match=r"missing array\(s\) \['y'\]"):
        read_file(nox)
    neg = tmp_path / "neg.npz"
    np.savez(neg, x=np.zeros((3, 2)), y=np.array([0, -1, 1]))
    with pytest.raises(DatasetError, match=">= 0"):
        read_file(neg)
    txt = tmp_path / "d.txt"
    txt.write_text("1 2 3\n")
    with pytest.raises(DatasetError, match=r"\.txt"):
        read_file(txt)


def test_digits():
    d = digits()
    assert d.x.shape == (1797, 8, 8) and len(d) == 1797
    assert d.x.min() >= 0.0 and d.x.max() <= 1.0 and d.x.max() == 1.0
    assert d.classes == 10 and set(np.unique(d.y).tolist()) == set(range(10))


# ------------------------------------------------------------------ 11. torch learner
@pytest.fixture(scope="module")
def learner():
    pytest.importorskip("torch")
    from edgesim.learning.torch_learner import Learner
    from edgesim.scenario.learning_schema import LearningSpec, ModelSpec

    rng = np.random.default_rng(11)
    x = rng.normal(size=(60, 4)).astype(f32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    x[:, 0] += np.where(y == 1, 1.0, -1.0).astype(f32)   # a margin: linearly separable
    spec = LearningSpec(model=ModelSpec(name="logreg"))
    return Learner(spec, Dataset(x, y, 2, "toy"), seed=3)


def test_learner_shape_and_determinism(learner):
    assert learner.params == 10 and sum(learner.sizes) == 10   # 4*2 weights + 2 biases
    assert learner.prunable.sum() == 8
    order = np.random.default_rng(0).permutation(60)
    a, steps_a, loss_a = learner.train(learner.initial, order, 0.1)
    b, steps_b, loss_b = learner.train(learner.initial, order, 0.1)
    assert np.array_equal(a, b) and loss_a == loss_b
    assert not np.array_equal(a, learner.initial)
    assert steps_a == 3                                          # ceil(60/20)
    assert learner.train(learner.initial, order[:45], 0.1)[1] == 3   # ceil(45/20)
    assert learner.train(learner.initial, order[:41], 0.1)[1] == 3
    assert learner.train(learner.initial, order[:40], 0.1)[1] == 2


def test_learner_mask_keeps_zeros(learner):
    mask = np.ones(10, dtype=bool)
    mask[[0, 3, 5, 9]] = False
    out, _, _ = learner.train(learner.initial, np.arange(60), 0.5, mask=mask)
    assert np.all(out[~mask] == 0.0)
    assert np.all(out[mask] != 0.0)


def test_learner_losses_match_evaluate(learner):
    pos = np.arange(0, 60, 2)
    per = learner.losses(learner.initial, pos)
    assert per.shape == (30,) and np.all(per > 0)
    loss, acc = learner.evaluate(learner.initial, pos)
    assert abs(per.mean() - loss) < 1e-6 and 0.0 <= acc <= 1.0


def test_learner_training_lowers_loss(learner):
    all_ = np.arange(60)
    before, _ = learner.evaluate(learner.initial, all_)
    w = learner.initial
    rng = np.random.default_rng(5)
    for _ in range(20):
        w, _, _ = learner.train(w, rng.permutation(60), 0.5)
    after, acc = learner.evaluate(w, all_)
    assert after < 0.5 * before and acc >= 0.9
