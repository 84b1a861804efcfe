"""The data sets read from their standard files (edgesim.learning.datasets), held to their
formats and definitions.

Every reader is run on a tiny file in the real format that the test writes itself (CIFAR's
Python 2 pickles opcode by opcode, LEAF's JSON, the npz layouts); the shared real data beside
the project (``shared:`` = $EDGESIM_SHARED, else ../shared) is read for real when present and
checked against the counts its README states, skipping with a reason when absent. Synthetic
is held to its generative definition, the difficulty set to its requested rates, and a scenario
of each family runs end to end.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

import edgesim
from edgesim.engine.rng import generator
from edgesim.errors import ScenarioError
from edgesim.learning import datasets
from edgesim.learning.data import Dataset, DatasetError, DatasetMissing, heldout, holdout_split
from edgesim.learning.datasets import cifar, leaf, speech, synthetic as syn
from edgesim.learning.datasets.difficulty import class_profile, difficulty
from edgesim.learning.datasets.paths import SHARED_ENV, resolve, shared_root
from edgesim.scenario.learning_schema import DATASETS, PATH_SETS

ROOT = Path(__file__).resolve().parents[1]
FED = ROOT / "scenarios" / "fedace"
LEARNING = shared_root() / "data" / "learning"
FEMNIST = LEARNING / "femnist"
EXTRACT = LEARNING / "cifar10" / "cifar10-extract.npz"
needs_femnist = pytest.mark.skipif(not FEMNIST.is_dir(), reason=f"shared FEMNIST not found at "
                                   f"{FEMNIST} (set ${SHARED_ENV} to the shared folder)")
needs_extract = pytest.mark.skipif(not EXTRACT.is_file(), reason=f"shared CIFAR-10 extract not "
                                   f"found at {EXTRACT} (set ${SHARED_ENV})")


# ------------------------------------------------------------------ writing the real formats
def _str(b: bytes) -> bytes:
    """A Python 2 str in a protocol-2 pickle (SHORT_BINSTRING / BINSTRING)."""
    return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))) + b


def _int(i: int) -> bytes:
    return b"K" + bytes([i]) if 0 <= i < 256 else b"J" + struct.pack("<i", i)


def _py2(obj) -> bytes:
    if isinstance(obj, bytes):
        return _str(obj)
    if isinstance(obj, int):
        return _int(obj)
    if isinstance(obj, list):
        return b"](" + b"".join(_py2(v) for v in obj) + b"e"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_py2(k) + _py2(v) for k, v in obj.items()) + b"u"
    if isinstance(obj, np.ndarray):
        # What cPickle wrote for a uint8 array under numpy 1.x (the official files):
        # _reconstruct(ndarray, (0,), 'b') then state (1, shape, dtype('u1'), False, raw).
        assert obj.dtype == np.uint8 and obj.ndim == 2
        dtype = (b"cnumpy\ndtype\n" + _str(b"u1") + _int(0) + _int(1) + b"\x87R"
                 + b"(" + _int(3) + _str(b"|") + b"NNN" + b"J\xff\xff\xff\xffJ\xff\xff\xff\xff"
                 + _int(0) + b"tb")
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + _int(0) + b"\x85"
                + _str(b"b") + b"\x87R" + b"(" + _int(1) + _int(obj.shape[0])
                + _int(obj.shape[1]) + b"\x86" + dtype + b"\x89" + _str(obj.tobytes())
                + b"tb")
    raise TypeError(type(obj))


def write_py2_pickle(path: Path, obj: dict) -> None:
    """A dict pickled as Python 2's cPickle.dump(obj, f, 2) writes it (CIFAR's files)."""
    path.write_bytes(b"\x80\x02" + _py2(obj) + b".")


def _images(rng, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8)


def write_cifar10(folder: Path, rng, per_batch: int = 3, test: int = 2) -> dict:
    folder.mkdir(parents=True)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = test if name == "test_batch" else per_batch
        data, labels = _images(rng, n), [int(v) for v in rng.integers(0, 10, n)]
        write_py2_pickle(folder / name, {b"batch_label": name.encode(), b"labels": labels,
                                         b"data": data,
                                         b"filenames": [b"img%d.png" % i for i in range(n)]})
        out[name] = (data, labels)
    return out


def write_leaf(folder: Path, split: str, fname: str, users: dict) -> None:
    (folder / split).mkdir(parents=True, exist_ok=True)
    body = {"users": list(users), "num_samples": [len(u["y"]) for u in users.values()],
            "user_data": users}
    (folder / split / fname).write_text(json.dumps(body))


def _chars(rng, n: int, length: int) -> list[str]:
    v = leaf.SHAKESPEARE_VOCAB
    return ["".join(v[i] for i in rng.integers(0, len(v), length)) for _ in range(n)]


# ------------------------------------------------------------------ the names
def test_every_schema_name_has_a_reader():
    assert set(DATASETS) == {"digits", "file", "synthetic", "difficulty"} | set(
        datasets._file_sets())
    assert set(PATH_SETS) == set(datasets._file_sets())


def test_shared_prefix_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(SHARED_ENV, str(tmp_path))
    assert resolve("shared:data/x", lambda t: Path("/nowhere") / t) == tmp_path / "data" / "x"
    assert resolve("rel/x", lambda t: Path("/base") / t) == Path("/base/rel/x")
    monkeypatch.delenv(SHARED_ENV)
    # Without it: ../shared beside the project's root (the folder holding edgesim/).
    assert shared_root() == ROOT.parent / "shared"


# ------------------------------------------------------------------ CIFAR
def test_cifar10_official_pickles_read_as_planes(tmp_path):
    written = write_cifar10(tmp_path / "cifar-10-batches-py", np.random.default_rng(0))
    # The stdlib reads the hand-written file as the official instructions do.
    import pickle
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    assert np.array_equal(raw[b"data"], written["test_batch"][0])
    for where in (tmp_path / "cifar-10-batches-py", tmp_path):   # the folder, or its parent
        d = cifar.cifar10(where)
        assert d.x.shape == (17, 3, 32, 32) and d.x.dtype == np.float32 and d.classes == 10
        rows = np.concatenate([written[k][0] for k in written])
        labels = sum((written[k][1] for k in written), [])
        assert np.array_equal(d.y, labels)
        # Row = 1024 red, 1024 green, 1024 blue, each 32 rows of 32: pixel (c, h, w) is
        # row[1024 c + 32 h + w].
        for i, c, h, w in [(0, 0, 0, 0), (4, 1, 5, 31), (16, 2, 31, 7)]:
            assert d.x[i, c, h, w] == np.float32(rows[i, 1024 * c + 32 * h + w] / 255.0)
        assert d.x.min() >= 0 and d.x.max() <= 1
        assert d.test.tolist() == [False] * 15 + [True] * 2


def test_cifar100_uses_fine_labels(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 4), ("test", 3)):
        write_py2_pickle(folder / name, {
            b"filenames": [b"f"] * n, b"batch_label": name.encode(),
            b"fine_labels": [int(v) for v in rng.integers(50, 100, n)],
            b"coarse_labels": [int(v) for v in rng.integers(0, 20, n)], b"data": _images(rng, n)})
    d = cifar.cifar100(folder)
    assert d.classes == 100 and len(d) == 7 and d.test.sum() == 3
    assert d.y.min() >= 50          # fine, not coarse (0-19)


def test_a_pickle_that_names_other_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "data_batch_1"
    evil.write_bytes(b"\x80\x02cos\nsystem\n" + _str(f"touch {marker}".encode()) + b"\x85R.")
    with pytest.raises(DatasetError, match="os.system.*refused"):
        cifar.read_pickle(evil)
    assert not marker.exists()


def test_cifar10_npz_layout(tmp_path):
    rng = np.random.default_rng(2)
    x_tr = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    x_te = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "c.npz", x_train=x_tr, y_train=np.arange(6), x_test=x_te,
             y_test=np.array([9, 0]))
    d = datasets.read("cifar10", tmp_path / "c.npz")
    assert d.x.shape == (8, 3, 32, 32) and d.test.sum() == 2
    # NHWC -> NCHW: channel c of pixel (h, w).
    assert d.x[1, 2, 3, 4] == np.float32(x_tr[1, 3, 4, 2] / 255.0)
    assert d.x[7, 0, 31, 0] == np.float32(x_te[1, 31, 0, 0] / 255.0)


@needs_extract
def test_shared_cifar10_extract_has_the_readme_counts():
    d = datasets.read("cifar10", EXTRACT)
    assert d.name == "cifar10-extract"
    assert (~d.test).sum() == 4829 and d.test.sum() == 932
    assert np.bincount(d.y[~d.test]).tolist() == [495, 491, 464, 464, 507, 453, 474, 494, 501,
                                                  486]
    assert np.bincount(d.y[d.test]).tolist() == [97, 78, 94, 95, 85, 84, 105, 96, 98, 100]
    # The test labels begin 3, 8, 8, 0, 6, 6, 1, 6, 3, 1 (README) and every image is whole.
    assert d.y[d.test][:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    with np.load(EXTRACT) as z:
        raw = z["x_train"]
    assert np.array_equal(np.round(d.x[:4829] * 255).astype(np.uint8),
                          raw.transpose(0, 3, 1, 2))


# ------------------------------------------------------------------ LEAF
def _femnist_user(rng, n: int) -> dict:
    return {"x": rng.random((n, 784)).round(3).tolist(),
            "y": [int(v) for v in rng.integers(0, 62, n)]}


def test_femnist_folder_with_its_writers(tmp_path):
    rng = np.random.default_rng(3)
    a, b, c = _femnist_user(rng, 5), _femnist_user(rng, 4), _femnist_user(rng, 3)
    ta, tb, only = _femnist_user(rng, 2), _femnist_user(rng, 1), _femnist_user(rng, 2)
    # File names sort 'p1' before 'p2': writers in order w1, w2, w0.
    write_leaf(tmp_path, "train", "p2.json", {"w0": c})
    write_leaf(tmp_path, "train", "p1.json", {"w1": a, "w2": b})
    write_leaf(tmp_path, "test", "p1.json", {"w1": ta, "w2": tb})
    write_leaf(tmp_path, "test", "p2.json", {"w9": only})       # a writer without training
    d = leaf.femnist(tmp_path)
    assert d.x.shape == (17, 1, 28, 28) and d.classes == 62
    assert d.group_names == ("w1", "w2", "w0")
    assert [len(g) for g in d.groups] == [5 + 2, 4 + 1, 3]
    assert d.test.sum() == 5 and (~d.test).sum() == 12
    # Writer w1's examples: its 5 train then its 2 test, pixels row-major 28 x 28.
    g = d.groups[0]
    assert np.array_equal(d.y[g], a["y"] + ta["y"])
    assert d.x[g[1], 0, 3, 7] == np.float32(a["x"][1][3 * 28 + 7])
    assert d.x[g[6], 0, 27, 27] == np.float32(ta["x"][1][783])
    # w9's test examples are held out but belong to no writer.
    assert len(np.concatenate(d.groups)) == 15


@needs_femnist
def test_shared_femnist_has_the_readme_counts():
    d = leaf.femnist(FEMNIST)
    train = ~d.test
    assert len(d.groups) == 32
    assert train.sum() == 4019 and d.test.sum() == 461
    assert len(np.unique(d.y[train])) == 62 == d.classes
    sizes = sorted(int(train[g].sum()) for g in d.groups)
    # The README's "median 144" is the upper of the two middle writers (142 and 144).
    assert sizes[0] == 24 and sizes[-1] == 162 and sizes[16] == 144
    # Every writer's test examples are its own (LEAF -t sample): each has both.
    assert all(d.test[g].any() and train[g].any() for g in d.groups)
    # LEAF's pixels: 1.0 is the white background.
    assert np.median(d.x) == 1.0


def test_shakespeare_maps_leafs_vocabulary(tmp_path):
    vocab = leaf.SHAKESPEARE_VOCAB
    assert len(vocab) == 80 == len(set(vocab))
    assert vocab[:4] == "\n !\"" and vocab[-1] == "}"
    rng = np.random.default_rng(4)
    xs = _chars(rng, 3, 80)
    write_leaf(tmp_path, "train", "a.json", {"ROMEO": {"x": xs, "y": ["a", "}", "\n"]}})
    write_leaf(tmp_path, "test", "a.json", {"ROMEO": {"x": _chars(rng, 1, 80), "y": [" "]}})
    d = leaf.shakespeare(tmp_path)
    assert d.x.shape == (4, 80) and d.x.dtype == np.float32 and d.classes == 80
    assert d.y.tolist() == [vocab.index("a"), 79, 0, 1]
    assert [vocab[int(i)] for i in d.x[2]] == list(xs[2])
    bad = tmp_path / "bad"
    write_leaf(bad, "train", "a.json", {"X": {"x": ["é" * 80], "y": ["a"]}})
    write_leaf(bad, "test", "a.json", {"X": {"x": _chars(rng, 1, 80), "y": ["a"]}})
    with pytest.raises(DatasetError, match="'é' is not in LEAF's 80-character vocabulary"):
        leaf.shakespeare(bad)


@pytest.mark.parametrize("body, says", [
    ("{not json", "not valid JSON"),
    (json.dumps({"users": ["u"], "user_data": {"u": {"x": [[0.5] * 784], "y": [1, 2]}}}),
     "1 x and 2 y"),
    (json.dumps({"users": ["u"], "num_samples": [3],
                 "user_data": {"u": {"x": [[0.5] * 784], "y": [1]}}}), "num_samples says 3"),
    (json.dumps({"users": ["u"], "user_data": {"u": {"x": [[0.5] * 10], "y": [1]}}}),
     "784 pixels"),
    (json.dumps({"users": ["u"], "user_data": {"u": {"x": [[255.0] * 784], "y": [1]}}}),
     r"\[0, 1\]"),
    (json.dumps([1, 2]), "not a LEAF file")])
def test_malformed_leaf_files_say_what_is_wrong(tmp_path, body, says):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.json").write_text(body)
    write_leaf(tmp_path, "test", "a.json", {"u": {"x": [[0.5] * 784], "y": [1]}})
    with pytest.raises(DatasetError, match=says) as exc:
        leaf.femnist(tmp_path)
    assert str(tmp_path / "train" / "a.json") in str(exc.value)


# ------------------------------------------------------------------ Speech Commands
def test_speech_commands_features_with_speakers_and_test(tmp_path):
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "sc.npz", x_train=rng.normal(size=(6, 98, 40)),
             y_train=np.array([0, 1, 2, 0, 1, 2]), x_test=rng.normal(size=(3, 98, 40)),
             y_test=np.array([2, 2, 1]),
             speaker_train=np.array(["b7", "a1", "b7", "c3", "a1", "b7"]),
             speaker_test=np.array(["a1", "zz", "c3"]),
             class_names=np.array(["yes", "no", "up", "down"]))
    d = speech.speech_commands(tmp_path / "sc.npz")
    assert d.x.shape == (9, 98, 40) and d.classes == 4      # class_names fixes C
    assert d.test.tolist() == [False] * 6 + [True] * 3
    assert d.group_names == ("b7", "a1", "c3")
    assert [g.tolist() for g in d.groups] == [[0, 2, 5], [1, 4, 6], [3, 8]]
    np.savez(tmp_path / "plain.npz", x_train=rng.normal(size=(4, 5, 3)),
             y_train=np.array([0, 1, 0, 1]))
    d = speech.speech_commands(tmp_path / "plain.npz")
    assert d.test is None and d.groups is None
    np.savez(tmp_path / "flat.npz", x_train=rng.normal(size=(4, 15)), y_train=np.arange(4))
    with pytest.raises(DatasetError, match=r"\(clips, frames, coefficients\)"):
        speech.speech_commands(tmp_path / "flat.npz")


# ------------------------------------------------------------------ Synthetic
def test_synthetic_x_has_the_diagonal_covariance_and_labels_its_model():
    d = syn.generate(1.0, 1.0, 40, np.random.default_rng(6), counts=np.full(40, 1000))
    resid = np.concatenate([x.astype(np.float64) - d.v[k] for k, x in enumerate(d.x)])
    n = len(resid)
    cov = resid.T @ resid / n                 # the mean is known: v_k
    sigma = syn.covariance_diagonal()
    assert np.allclose(sigma, np.arange(1, 61) ** -1.2)
    # A variance estimate of n normals has standard error sigma^2 sqrt(2 / n); an off-diagonal
    # entry sqrt(s_i s_j / n). Five standard errors everywhere.
    assert np.all(np.abs(np.diag(cov) - sigma) < 5 * sigma * math.sqrt(2 / n))
    off = cov - np.diag(np.diag(cov))
    bound = 5 * np.sqrt(np.outer(sigma, sigma) / n)
    assert np.all(np.abs(off) < bound)
    # y = argmax(W_k^T x + b_k): every example is labelled by its own device's model.
    for k in range(40):
        own = np.argmax(d.x[k].astype(np.float64) @ d.W[k] + d.b[k], axis=1)
        assert np.array_equal(own, d.y[k])


def test_synthetic_priors_are_the_definitions():
    alpha, beta, K = 0.5, 2.0, 3000
    d = syn.generate(alpha, beta, K, np.random.default_rng(7), counts=np.ones(K, int))

    def var_ok(sample, var):
        # chi-square(K-1) / (K-1) has standard deviation sqrt(2 / (K-1)).
        return abs(np.var(sample, ddof=1) / var - 1) < 5 * math.sqrt(2 / (len(sample) - 1))
    assert var_ok(d.u, alpha ** 2) and var_ok(d.B, beta ** 2)
    # W_k, b_k ~ N(u_k, 1) entrywise and v_k ~ N(B_k, 1): unit variance around the prior.
    assert var_ok((d.W - d.u[:, None, None]).ravel()[:20000], 1.0)
    assert var_ok((d.b - d.u[:, None]).ravel(), 1.0)
    assert var_ok((d.v - d.B[:, None]).ravel(), 1.0)
    assert d.W.shape == (K, 60, 10) and d.b.shape == (K, 10)


def test_synthetic_counts_follow_leafs_lognormal():
    K = 20000
    n = syn.sample_counts(K, np.random.default_rng(8))
    assert n.min() >= 5 and n.max() <= 1000
    from statistics import NormalDist
    phi = NormalDist().cdf
    # count = min(floor(LN(3, 2)) + 5, 1000): count <= 25 iff LN < 21; count = 1000 iff
    # LN >= 995.
    for hit, p in ((n <= 25, phi((math.log(21) - 3) / 2)),
                   (n == 1000, 1 - phi((math.log(995) - 3) / 2))):
        assert abs(hit.mean() - p) < 4 * math.sqrt(p * (1 - p) / K)


def test_synthetic_is_one_seed_one_data_set():
    a = datasets.read("synthetic", rng=generator(3, "learning:synthetic"), devices=12)
    b = datasets.read("synthetic", rng=generator(3, "learning:synthetic"), devices=12)
    c = datasets.read("synthetic", rng=generator(4, "learning:synthetic"), devices=12)
    assert a.x.tobytes() == b.x.tobytes() and np.array_equal(a.y, b.y)
    assert len(a.groups) == 12 and a.x.shape[1:] == (60,)
    assert a.x.shape != c.x.shape or not np.array_equal(a.x, c.x)


def test_writers_without_a_test_split_hold_out_their_own_share():
    d = datasets.read("synthetic", rng=np.random.default_rng(9), devices=50)
    train, test = heldout(d, 0.2, np.random.default_rng(1))
    for g in d.groups:
        k = len(np.intersect1d(g, test))
        assert k == min(max(round(0.2 * len(g)), 1), len(g) - 1)


# ------------------------------------------------------------------ difficulty
def _toy(n_per_class: int = 600, classes: int = 10) -> Dataset:
    y = np.repeat(np.arange(classes), n_per_class)
    return Dataset(np.arange(len(y), dtype=np.float32)[:, None].repeat(2, 1), y, classes, "toy")


def test_difficulty_rates_are_the_requested_ones():
    noise, ratio = 0.25, 10.0
    base = _toy()
    d = difficulty(base, noise, ratio, 0.2, np.random.default_rng(10),
                   np.random.default_rng(11))
    train = ~d.test
    # The held-out split is the base's own draw, clean and balanced.
    _tr, test = holdout_split(base.y, 0.2, np.random.default_rng(11))
    assert np.array_equal(d.x[d.test, 0], base.x[test, 0])
    assert not d.flipped[d.test].any()
    # Class profile: n_c = round(n_0 r^(-c/9)), n_0 = 480 (every class has 480 to give).
    counts = np.bincount(d.clean_y[train], minlength=10)
    expect = np.round(480 * ratio ** (-np.arange(10) / 9)).astype(int)
    assert counts.tolist() == expect.tolist()
    assert abs(counts.max() / counts.min() - ratio) < ratio / counts.min()
    # Flips: Binomial(n, noise); five standard deviations.
    n, k = int(train.sum()), int(d.flipped[train].sum())
    assert abs(k - n * noise) < 5 * math.sqrt(n * noise * (1 - noise))
    assert np.array_equal(d.flipped, d.y != d.clean_y)
    # A flipped label is one of the other 9 classes, uniformly: the shift (y - clean) mod 10 is
    # uniform on 1..9 (chi-square, 8 degrees of freedom, 0.1 % critical value 26.12).
    shift = (d.y[d.flipped] - d.clean_y[d.flipped]) % 10
    obs = np.bincount(shift, minlength=10)
    assert obs[0] == 0
    e = k / 9
    assert ((obs[1:] - e) ** 2 / e).sum() < 26.12


def test_difficulty_is_deterministic_and_checks_its_rates():
    a = difficulty(_toy(), 0.1, 3, 0.2, np.random.default_rng(1), np.random.default_rng(2))
    b = difficulty(_toy(), 0.1, 3, 0.2, np.random.default_rng(1), np.random.default_rng(2))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert class_profile(np.array([100, 50, 10]), 1.0).tolist() == [10, 10, 10]
    with pytest.raises(DatasetError, match="without training examples"):
        class_profile(np.array([5, 5, 5]), 1000.0)


# ------------------------------------------------------------------ through a scenario
def _fed(tmp_path, dataset: dict, *extra: str, clients: int = 4, model: dict | None = None,
         partition: str = "iid", rounds: int = 2):
    """fedavg.yaml with its data set, model and client count edited, run for ``rounds``."""
    sets = [f"training.federated.learning.dataset={json.dumps(dataset)}",
            f'training.federated.learning.partition={{"kind": "{partition}"}}',
            f"nodes.tx2.count={clients // 2}", f"nodes.phone.count={clients - clients // 2}",
            f"training.federated.per_round={min(clients, 2)}",
            f"training.federated.rounds={rounds}", *extra]
    if model:
        sets.append(f"training.federated.learning.model={json.dumps(model)}")
    return edgesim.run(edgesim.load(FED / "fedavg.yaml", sets), seed=1)


def _problems(*sets: str) -> str:
    with pytest.raises(ScenarioError) as exc:
        edgesim.simulation(edgesim.load(FED / "fedavg.yaml", list(sets))).check()
    assert "Traceback" not in str(exc.value)
    return str(exc.value)


DS = "training.federated.learning.dataset"


def test_each_family_runs_end_to_end(tmp_path):
    pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    write_cifar10(tmp_path / "cifar-10-batches-py", rng, per_batch=4, test=4)
    r = _fed(tmp_path, {"name": "cifar10", "path": str(tmp_path)},
             model={"name": "cnn", "channels": [4]})
    assert r.summary["federated"]["dataset"]["test_examples"] == 4
    assert r.summary["federated"]["dataset"]["examples"] == 24

    users = {f"w{i}": _femnist_user(rng, 6) for i in range(4)}
    write_leaf(tmp_path / "fem", "train", "a.json", users)
    write_leaf(tmp_path / "fem", "test", "a.json", {u: _femnist_user(rng, 1) for u in users})
    r = _fed(tmp_path, {"name": "femnist", "path": str(tmp_path / "fem")}, partition="natural",
             model={"name": "cnn", "channels": [4]})
    assert r.summary["federated"]["dataset"]["shard_sizes"] == [6, 6, 6, 6]

    write_leaf(tmp_path / "sh", "train", "a.json",
               {f"r{i}": {"x": _chars(rng, 5, 80), "y": list("abcde")} for i in range(4)})
    write_leaf(tmp_path / "sh", "test", "a.json", {"r0": {"x": _chars(rng, 2, 80),
                                                          "y": list("ab")}})
    r = _fed(tmp_path, {"name": "shakespeare", "path": str(tmp_path / "sh")},
             partition="natural")
    assert r.summary["federated"]["dataset"]["classes"] == 80

    np.savez(tmp_path / "sc.npz", x_train=rng.normal(size=(40, 16, 8)),
             y_train=np.arange(40) % 4, speaker_train=np.arange(40) % 4)
    r = _fed(tmp_path, {"name": "speech-commands", "path": str(tmp_path / "sc.npz"),
                        "holdout": 0.3}, partition="natural",
             model={"name": "cnn", "channels": [4]})
    assert r.summary["federated"]["dataset"]["shard_sizes"] == [7, 7, 7, 7]

    r = _fed(tmp_path, {"name": "synthetic", "devices": 6}, clients=6, partition="natural",
             model={"name": "logreg"})
    assert r.summary["federated"]["dataset"]["name"] == "synthetic(1,1)"

    r = _fed(tmp_path, {"name": "difficulty", "base": "digits", "noise": 0.2,
                        "imbalance": 4})
    noisy = r.summary["federated"]["dataset"]["noisy_labels"]
    assert 0 < noisy["share"] < 0.4 and noisy["share_of_visits"] is not None


def test_the_same_seed_gives_the_same_data_through_a_scenario(tmp_path):
    pytest.importorskip("torch")
    spec = {"name": "difficulty", "base": "synthetic", "noise": 0.3, "imbalance": 2}

    def data():
        sim = edgesim.simulation(edgesim.load(FED / "fedavg.yaml", [
            f"{DS}={json.dumps(spec)}", 'training.federated.learning.partition={"kind": "iid"}']))
        sim.check()
        return sim.system.data
    a, b = data(), data()
    assert a.x.tobytes() == b.x.tobytes() and a.y.tobytes() == b.y.tobytes()
    assert np.array_equal(a.flipped, b.flipped) and a.flipped.any()


def test_missing_data_is_one_located_line_naming_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv(SHARED_ENV, str(tmp_path))
    for spec, url in (({"name": "cifar10", "path": "nowhere"}, "cs.toronto.edu/~kriz"),
                      ({"name": "cifar100", "path": "nowhere"}, "cs.toronto.edu/~kriz"),
                      ({"name": "femnist", "path": "shared:femnist"}, "TalwalkarLab/leaf"),
                      ({"name": "shakespeare", "path": "nowhere"}, "TalwalkarLab/leaf"),
                      ({"name": "speech-commands", "path": "x.npz"}, "speech_commands"),
                      ({"name": "difficulty", "base": "cifar10", "path": "no"}, "kriz")):
        msg = _problems(f"{DS}={json.dumps(spec)}", "training.federated.learning.partition="
                        '{"kind": "iid"}')
        assert f"{DS}.path" in msg and "not found at" in msg and url in msg, msg
        assert len(msg.strip().splitlines()) == 1
    msg = _problems(f'{DS}={{"name": "femnist", "path": "shared:femnist"}}')
    assert str(tmp_path / "femnist") in msg and f"${SHARED_ENV}" in msg


def test_malformed_files_are_located_errors(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder, np.random.default_rng(13))
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes()[:500])
    msg = _problems(f'{DS}={{"name": "cifar10", "path": "{tmp_path}"}}')
    assert f"{DS}.path" in msg and "data_batch_3: not a readable CIFAR python file" in msg
    np.savez(tmp_path / "c.npz", x_train=np.zeros((2, 32, 32, 3), np.uint8), y_train=[0, 1])
    msg = _problems(f'{DS}={{"name": "cifar10", "path": "{tmp_path / "c.npz"}"}}')
    assert "missing array(s) ['x_test', 'y_test']" in msg


@pytest.mark.parametrize("spec, where, says", [
    ({"name": "cifar10"}, "", "give its 'path'"),
    ({"name": "digits", "path": "x"}, "", "'path' is for cifar10"),
    ({"name": "file", "file": "a.npz", "path": "x"}, "", "from 'file', not 'path'"),
    ({"name": "digits", "alpha": 0.5}, "", "'alpha' is a key of name: synthetic"),
    ({"name": "synthetic", "noise": 0.1}, "", "'noise' is a key of name: difficulty"),
    ({"name": "digits", "writers": 3}, "", "digits has none"),
    ({"name": "synthetic", "writers": 3}, "", "give 'devices'"),
    ({"name": "femnist", "path": "f", "holdout": 0.3}, "", "own test split"),
    ({"name": "difficulty", "base": "difficulty"}, "", "cannot be 'difficulty'"),
    ({"name": "difficulty", "noise": 2}, ".noise", "")])
def test_wrong_combinations_are_located(spec, where, says):
    msg = _problems(f"{DS}={json.dumps(spec)}")
    assert f"{DS}{where}" in msg and says in msg


def test_natural_partition_says_what_to_do(tmp_path):
    msg = _problems('training.federated.learning.partition={"kind": "natural"}')
    assert "partition.kind" in msg and "digits has no natural partition" in msg
    msg = _problems(f'{DS}={{"name": "synthetic", "devices": 50}}',
                    'training.federated.learning.partition={"kind": "natural"}')
    assert "50 writers and the scenario 40 clients" in msg and "give 50 clients" in msg
    users = {f"w{i}": _femnist_user(np.random.default_rng(i), 3) for i in range(45)}
    write_leaf(tmp_path, "train", "a.json", users)
    write_leaf(tmp_path, "test", "a.json", {"w0": users["w0"]})
    msg = _problems(f'{DS}={{"name": "femnist", "path": "{tmp_path}"}}',
                    'training.federated.learning.partition={"kind": "natural"}')
    assert "45 writers and the scenario 40 clients" in msg and "'writers: 40'" in msg
    msg = _problems(f'{DS}={{"name": "femnist", "path": "{tmp_path}", "writers": 50}}')
    assert f"{DS}.writers" in msg and "has 45 writers; cannot keep 50" in msg
    msg = _problems('training.federated.learning.partition={"kind": "natural", "alpha": 1}')
    assert "'alpha' is the Dirichlet concentration" in msg


def test_first_writers_keep_their_test_examples(tmp_path):
    pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    users = {f"w{i}": _femnist_user(rng, 4) for i in range(6)}
    write_leaf(tmp_path, "train", "a.json", users)
    write_leaf(tmp_path, "test", "a.json", {u: _femnist_user(rng, 1) for u in users})
    full = leaf.femnist(tmp_path)
    some = full.first_writers(4)
    assert some.group_names == ("w0", "w1", "w2", "w3")
    assert len(some) == 4 * 5 and some.test.sum() == 4
    r = _fed(tmp_path, {"name": "femnist", "path": str(tmp_path), "writers": 4},
             partition="natural", model={"name": "logreg"})
    assert r.summary["federated"]["dataset"]["test_examples"] == 4


def test_unknown_names_and_missing_paths_at_the_reader():
    with pytest.raises(DatasetError, match="unknown data set"):
        datasets.read("mnist")
    with pytest.raises(DatasetMissing, match="cs.toronto.edu"):
        datasets.read("cifar100", Path("/no/such/folder"))


def test_paths_survive_extends_and_the_resolved_scenario(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import yaml
    rng = np.random.default_rng(15)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    np.savez(tmp_path / "a" / "sc.npz", x_train=rng.normal(size=(200, 4, 4)),
             y_train=np.arange(200) % 3)
    base = yaml.safe_load((FED / "fedavg.yaml").read_text())
    base["training"]["federated"]["rounds"] = 1
    base["training"]["federated"]["learning"]["dataset"] = {"name": "speech-commands",
                                                            "path": "sc.npz"}
    base["training"]["federated"]["learning"]["partition"] = {"kind": "iid"}
    (tmp_path / "a" / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "b" / "child.yaml").write_text("extends: ../a/base.yaml\nname: child\n")
    sf = edgesim.load(tmp_path / "b" / "child.yaml")
    # The inherited path still means the file beside the base scenario.
    assert sf.spec.training.federated.learning.dataset.path == str(tmp_path / "a" / "sc.npz")
    out = edgesim.run(sf).save(tmp_path / "run", plots=False)
    resolved = yaml.safe_load((Path(out) / "scenario.resolved.yaml").read_text())
    assert resolved["training"]["federated"]["learning"]["dataset"]["path"] == str(
        tmp_path / "a" / "sc.npz")
    # A shared: path is never rewritten: it means the shared folder wherever it is.
    monkeypatch.setenv(SHARED_ENV, str(tmp_path / "a"))
    (tmp_path / "b" / "shared.yaml").write_text(
        "extends: ../a/base.yaml\nname: shared\ntraining: {federated: {learning: {dataset: "
        "{name: speech-commands, path: 'shared:sc.npz'}}}}\n")
    (tmp_path / "b" / "child2.yaml").write_text("extends: shared.yaml\nname: child2\n")
    sf = edgesim.load(tmp_path / "b" / "child2.yaml")
    assert sf.spec.training.federated.learning.dataset.path == "shared:sc.npz"
    out = edgesim.run(sf).save(tmp_path / "run2", plots=False)
    resolved = yaml.safe_load((Path(out) / "scenario.resolved.yaml").read_text())
    assert resolved["training"]["federated"]["learning"]["dataset"]["path"] == "shared:sc.npz"
